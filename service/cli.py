"""The `osa` command: Flask's CLI (`osa db upgrade`, `osa run`) plus OSA's own commands.

    osa event load FILE        validate an event file, create or update the event, tell those a change
                               concerns (--dry-run to see first, --no-notify to tell no one)
    osa event show [--lang]    print the event back, times in its timezone
    osa invitees import FILE   import invitees from CSV or XLSX (all or nothing)
    osa invitations send       invite everyone not yet invited, with a progress bar
    osa outbox list | retry    see what was sent, and send failed emails again
    osa bounces poll           read the bounce mailbox now (delivery reports, auto-replies)
    osa bounces classify FILE  what OSA makes of saved messages (.eml), and whom each is about
    osa jobs run [JOB]         run due reminders and day-before emails now (--dry-run to preview)
    osa schedule               when each job is due, in the event's local time
    osa privacy record         a draft record of processing (GDPR art. 30) for the event
    osa admin create-user NAME an account for the secretariat's admin (--generate-password prints one)
    osa demo [--simulate]      run it all on the embedded default: web, worker, beat and a mailbox
"""

from __future__ import annotations

import copy
import gettext as stdlib_gettext
import secrets
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, ScriptInfo
from flask_babel import force_locale, gettext, ngettext
from sqlalchemy import func, select

from .answers import localized
from .dates import format_date, format_datetime, format_stamp
from .db import schema_problem, write_transaction
from .event_changes import affected, line_for, people_per_change, record_changes
from .eventfile import EventFileError, read_event_file
from .events import describe_event, get_event, store_event
from .extensions import N_, db
from .invitee_import import InviteeFileError, check_file, row_estimate, store_checked
from .jobs import due_times, picks, run_due_jobs, schedule
from .mail.compose import (
    count_to_invite,
    first_to_invite,
    invitation_progress,
    queue_moved_up_emails,
    render_invitation,
    start_round,
)
from .mail.bounce_mailbox import BounceMailboxError, poll_bounce_mailbox
from .mail.bounces import KIND_NAMES as REPORT_KIND_NAMES
from .mail.bounces import explain_report
from .mail.delivery import retry_failed
from .mail.outbox import kind_name, row_problem, state_name
from .mail.render import KINDS
from .models import AdminUser, Event, JobState, Outbox, OutboxState
from .retention import processing_record
from .settings import TRANSLATIONS
from .web import MAX_ID, terminal_language, upload_limit


def _event_or_fail(slug: str | None):
    event = get_event(slug)
    if event is None:
        hint = gettext("no event '%(slug)s'", slug=slug) if slug else gettext("no event is loaded")
        raise click.ClickException(gettext("%(hint)s; load one with: osa event load config/events/<file>.toml", hint=hint))
    return event


class _NeedsDatabase:
    """A command that reads or writes OSA's tables: before it runs, the database must be reachable
    and migrated, or the user is told what to do (exit status 1) instead of meeting a raw SQL error."""

    def invoke(self, ctx: click.Context):
        if not current_app:
            ctx.with_resource(ctx.ensure_object(ScriptInfo).load_app().app_context())
        ctx.with_resource(force_locale(terminal_language()))
        problem = schema_problem()
        if problem:
            raise click.ClickException(problem)
        return super().invoke(ctx)


@contextmanager
def _translated_help(*things):
    """The help texts of commands and options in the language in force, while the block runs."""
    originals = [thing.help for thing in things]
    for thing in things:
        thing.help = gettext(thing.help) if thing.help else thing.help
    try:
        yield
    finally:
        for thing, original in zip(things, originals):
            thing.help = original


class _HelpInTerminalLanguage:
    """A command whose `--help`, and its line in its group's list, speak the terminal's language: Click
    reads help texts at import, before any language is known, so they are marked with `N_` and
    translated here."""

    def get_help(self, ctx: click.Context) -> str:
        app = ctx.ensure_object(ScriptInfo).load_app()
        with app.app_context(), force_locale(terminal_language()), _translated_help(self, *self.get_params(ctx)):
            return super().get_help(ctx)

    def get_short_help_str(self, limit: int = 45) -> str:
        with _translated_help(self):
            return super().get_short_help_str(limit)


class OsaCommand(_HelpInTerminalLanguage, click.Command):
    pass


class DatabaseCommand(_NeedsDatabase, OsaCommand):
    pass


class DatabaseGroup(_NeedsDatabase, _HelpInTerminalLanguage, click.Group):
    command_class = OsaCommand


event_cli = DatabaseGroup("event", help=N_("Define the event from its TOML file."))
invitees_cli = DatabaseGroup("invitees", help=N_("Import invitees from a CSV or XLSX file (the admin lists them)."))
invitations_cli = DatabaseGroup("invitations", help=N_("Send the invitations."))
outbox_cli = DatabaseGroup("outbox", help=N_("See and retry the emails OSA sends."))
privacy_cli = DatabaseGroup("privacy", help=N_("The event's personal data: the record of processing."))
bounces_cli = DatabaseGroup("bounces", help=N_("Read delivery reports and auto-replies from the bounce mailbox."))
jobs_cli = DatabaseGroup("jobs", help=N_("Run scheduled jobs now, or preview them."))
admin_cli = DatabaseGroup("admin", help=N_("Accounts for the secretariat's admin."))


class _DryRun(Exception):
    """Raised to roll back a load that was only to be shown."""


@event_cli.command("load", help=N_(
    "Validate FILE and create or update its event; tell the attendees what changed for them."))
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--starts-in", "starts_in", type=click.IntRange(0, 3650), metavar="DAYS",
    help=N_("Move the event by whole weeks (same weekdays and times) so it starts at least DAYS days from "
            "today, with its days, RSVP deadline and final numbers outside 21 December – 6 January."),
)
@click.option("--dry-run", is_flag=True, help=N_("Show what would change and whom it would notify; save nothing."))
@click.option("--no-notify", is_flag=True, help=N_("Save the changes without emailing the attendees they concern."))
def load_event_command(file: Path, starts_in: int | None, dry_run: bool, no_notify: bool) -> None:
    try:
        with write_transaction():
            result = store_event(read_event_file(file, starts_in_days=starts_in))
            report = _load_report(result, affected(result.event, result.seen_changes), dry_run, no_notify)
            if dry_run:
                raise _DryRun
            queue_moved_up_emails(result.moved_up)
            record_changes(result.event, result.seen_changes, notify=not no_notify)
    except EventFileError as error:
        raise click.ClickException(str(error)) from None
    except _DryRun:
        click.echo(gettext("Dry run: nothing was saved and no one was emailed."))
    click.echo("\n".join(report))


def _load_report(result, who, dry_run: bool, no_notify: bool) -> list[str]:
    """What `osa event load` says: the event's size, who moved up, each change attendees see and how
    many it concerns, and how many get an email."""
    language = terminal_language()
    state = gettext("created") if result.created else gettext("updated") if result.changed else gettext("unchanged")
    event = result.event
    out = [gettext(
        "Event '%(slug)s' %(state)s: %(days)d days, %(items)d agenda items, %(meals)d meals, "
        "%(transport)d transport options, %(nights)d hotel nights.",
        slug=event.slug, state=state, days=len(event.days), items=sum(len(day.items) for day in event.days),
        meals=len(event.meals), transport=len(event.transport_options), nights=len(event.hotel_nights),
    )]
    if result.moved_up:
        out.append(ngettext("%(num)d invitee moved up from a waiting list into the places added and gets an email.",
                            "%(num)d invitees moved up from a waiting list into the places added; each gets an email.",
                            len({change.invitee_id for change in result.moved_up})))
    seats, rooms = result.over_capacity
    out += [ngettext("%(option)s: %(num)d seat is taken, more than the %(capacity)d the file gives. No one loses "
                     "theirs, and no one new gets one until enough are given up.",
                     "%(option)s: %(num)d seats are taken, more than the %(capacity)d the file gives. No one loses "
                     "theirs, and no one new gets one until enough are given up.",
                     held, option=localized(option, "name", language), capacity=option.capacity)
            for option, held in seats]
    out += [ngettext("The night after %(date)s: %(num)d room is taken, more than the %(capacity)d the file gives. No "
                     "one loses theirs, and no one new gets one until enough are given up.",
                     "The night after %(date)s: %(num)d rooms are taken, more than the %(capacity)d the file gives. "
                     "No one loses theirs, and no one new gets one until enough are given up.",
                     held, date=format_date(night.night_of, language), capacity=night.capacity)
            for night, held in rooms]
    out += [lines[language] for lines in result.left_behind]
    if not result.seen_changes:
        return out
    out.append(gettext("Changes attendees see:"))
    for change, count in zip(result.seen_changes, people_per_change(result.seen_changes, who)):
        people = ngettext("%(num)d person", "%(num)d people", count)
        out.append(f"  {line_for(change, language)}  ({people})")
    if dry_run:
        out.append(ngettext("%(num)d person would get one email with the changes that concern them.",
                            "%(num)d people would get one email each with the changes that concern them.", len(who)))
    elif no_notify:
        out.append(gettext("No one was emailed (--no-notify); the change log says so."))
    else:
        out.append(ngettext("%(num)d person gets one email with the changes that concern them.",
                            "%(num)d people get one email each with the changes that concern them.", len(who)))
    return out


@event_cli.command("show", help=N_(
    "Print the event: days, agenda, meals, transport, hotel nights."))
@click.option("--event", "slug", help=N_("The event's id (default: the newest event)."))
@click.option("--lang", type=click.Choice(["sv", "en"]), default="sv", show_default=True)
def show_event_command(slug: str | None, lang: str) -> None:
    click.echo(describe_event(_event_or_fail(slug), lang))


@invitees_cli.command("import", help=N_(
    "Import invitees from a CSV or XLSX FILE. Any bad row: nothing is imported."))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--event", "slug", help=N_("The event's id (default: the newest event)."))
def import_invitees_command(file: Path, slug: str | None) -> None:
    event = _event_or_fail(slug)
    if file.stat().st_size > upload_limit():
        raise click.ClickException(gettext(
            "%(file)s is %(size).1f MB; the import takes files up to %(limit)s MB (OSA_MAX_UPLOAD_MB). "
            "Split it into smaller files.", file=file, size=file.stat().st_size / 2**20, limit=current_app.config["MAX_UPLOAD_MB"]))
    data = file.read_bytes()
    try:
        with click.progressbar(length=row_estimate(data) or None, label=gettext("Checking"), show_pos=True,
                               file=sys.stderr, hidden=not sys.stderr.isatty()) as bar:
            shown = 0

            def progress(rows: int) -> None:
                nonlocal shown
                bar.update(rows - shown)
                shown = rows

            checked = check_file(event, file.name, data, progress)
        with checked.spool, write_transaction():
            result = store_checked(event, checked)
    except InviteeFileError as error:
        raise click.ClickException(f"{file}: {error.describe(terminal_language())}") from None
    click.echo(result.describe(file.name))


@invitations_cli.command("send", help=N_(
    "Invite everyone who has no invitation for their current link. Running it again sends nothing twice."))
@click.option("--event", "slug", help=N_("The event's id (default: the newest event)."))
@click.option("--dry-run", is_flag=True, help=N_("Say who would be invited and show the first invitation; send nothing."))
@click.option("--only-new", is_flag=True, help=N_("Only invitees who have never been invited."))
@click.option("--no-wait", is_flag=True, help=N_("Queue the invitations and return without waiting for them to go out."))
def send_invitations_command(slug: str | None, dry_run: bool, only_new: bool, no_wait: bool) -> None:
    event = _event_or_fail(slug)
    count = count_to_invite(event, only_new)
    if dry_run:
        click.echo(ngettext("%(num)d invitation would be sent.", "%(num)d invitations would be sent.", count))
        first = first_to_invite(event, only_new)
        if first is not None:
            rendered = render_invitation(first)
            click.echo("\n" + "\n".join([gettext("To: %(recipient)s", recipient=f"{first.name} <{first.email}>"),
                                          gettext("Subject: %(subject)s", subject=rendered.subject), "", rendered.text]))
        db.session.rollback()
        return
    if count and not start_round(event, only_new):
        raise click.ClickException(gettext(
            "The workers' queue cannot be reached, so the round has not started and nothing was sent. "
            "Try again in a minute."))
    click.echo(ngettext("%(num)d invitation queued.", "%(num)d invitations queued.", count))
    progress = invitation_progress(event)
    if progress.done_at:
        when = format_datetime(progress.done_at, event.timezone, terminal_language(), approximate=True)
        click.echo(gettext("At the pace the mail server allows, the round is done %(when)s.", when=when))
    if no_wait or progress.done:
        click.echo(gettext("Invitations: %(sent)d sent, %(failed)d failed, %(pending)d on their way.",
                           sent=progress.sent, failed=progress.failed, pending=progress.pending))
        return
    with click.progressbar(length=progress.total, label=gettext("Sending"), show_pos=True) as bar:
        shown = progress.sent + progress.failed
        bar.update(shown)
        while not progress.done:
            time.sleep(0.5)
            db.session.rollback()
            progress = invitation_progress(event)
            bar.update(progress.sent + progress.failed - shown)
            shown = progress.sent + progress.failed
    click.echo(gettext("Invitations: %(sent)d sent, %(failed)d failed.", sent=progress.sent, failed=progress.failed))


@outbox_cli.command("list", help=N_(
    "The newest emails, with their state, attempts and last error."))
@click.option("--state", type=click.Choice([state.value for state in OutboxState]))
@click.option("--kind", type=click.Choice(KINDS))
@click.option("--limit", type=click.IntRange(1, MAX_ID), default=50, show_default=True)
def list_outbox_command(state: str | None, kind: str | None, limit: int) -> None:
    query = select(Outbox).order_by(Outbox.id.desc()).limit(limit)
    if state:
        query = query.where(Outbox.state == state)
    if kind:
        query = query.where(Outbox.kind == kind)
    rows = db.session.scalars(query).all()
    counts = dict(db.session.execute(select(Outbox.state, func.count()).group_by(Outbox.state)).all())
    timezones = dict(db.session.execute(select(Event.id, Event.timezone)).all())
    click.echo("  ".join(f"{state_name(state)}: {counts.get(state, 0)}" for state in OutboxState))
    state_width = max((len(state_name(row.state)) for row in rows), default=0)
    kind_width = max((len(kind_name(row.kind)) for row in rows), default=0)
    for row in rows:
        # In the event's time (UTC for an email whose event is gone).
        when = format_stamp(row.sent_at or row.created_at, timezones.get(row.event_id, "UTC"))
        error = f"  {row_problem(row)}" if row.last_error or row.problem else ""
        state, kind = state_name(row.state).ljust(state_width), kind_name(row.kind).ljust(kind_width)
        click.echo(f"{row.id:>6}  {state}  {row.attempts}  {when}  {kind}  {row.recipient}{error}")


@outbox_cli.command("retry", help=N_(
    "Send failed emails again (these ids, or every failed one)."))
@click.argument("ids", nargs=-1, type=click.IntRange(1, MAX_ID))
def retry_outbox_command(ids: tuple[int, ...]) -> None:
    count = retry_failed(list(ids) or None)
    click.echo(ngettext("%(num)d email is queued again.", "%(num)d emails are queued again.", count))


@privacy_cli.command("record", help=N_(
    "Print a draft of the record of processing (GDPR article 30) from the event's facts."))
@click.option("--event", "slug", help=N_("The event's id (default: the newest event)."))
@click.option("--lang", type=click.Choice(["sv", "en"]), help=N_("The language to write in (default: the event's)."))
def privacy_record_command(slug: str | None, lang: str | None) -> None:
    event = _event_or_fail(slug)
    with force_locale(lang or event.default_language):
        click.echo(processing_record(event, lang or event.default_language))


@bounces_cli.command("poll", help=N_(
    "Read the bounce mailbox once, as beat does every BOUNCE_POLL_SECONDS."))
def poll_bounces_command() -> None:
    if not current_app.config["BOUNCE_IMAP_HOST"]:
        raise click.ClickException(gettext("no bounce mailbox is set up: set OSA_BOUNCE_IMAP_HOST (see README.md)"))
    try:
        counts = poll_bounce_mailbox()
    except BounceMailboxError as error:
        raise click.ClickException(str(error)) from None
    read = sum(counts[k] for k in ("hard", "soft", "auto_reply", "calendar_reply", "other", "known"))
    click.echo(ngettext("Read %(num)d message", "Read %(num)d messages", read) + " " + gettext(
        "(hard bounces: %(hard)d, temporary failures: %(soft)d, auto-replies: %(auto)d, calendar replies: "
        "%(calendar)d, other: %(other)d, read before: %(known)d). Newly undeliverable: %(undeliverable)d.",
        hard=counts["hard"], soft=counts["soft"], auto=counts["auto_reply"], calendar=counts["calendar_reply"],
        other=counts["other"], known=counts["known"], undeliverable=counts["undeliverable"]))


@bounces_cli.command("classify", help=N_(
    "Say what each saved message is and whom it is about, changing nothing."))
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def classify_bounces_command(files: tuple[Path, ...]) -> None:
    for file in files:
        raw = file.read_bytes()
        finding, invitees = explain_report(raw)
        names = ", ".join(f"{invitee.name} <{invitee.email}>" for invitee in invitees) or "–"
        click.echo(f"{file.name}\t{REPORT_KIND_NAMES[finding.kind]}\t{','.join(finding.recipients) or '–'}\t{names}\t{finding.reason}")


@jobs_cli.command("run", help=N_(
    "Run the jobs that are due (or only JOB: reminder, day-before) and have not run."))
@click.argument("job", required=False)
@click.option("--dry-run", is_flag=True, help=N_("Say how many emails each due job would send; send nothing."))
def run_jobs_command(job: str | None, dry_run: bool) -> None:
    names = {due.job for event in db.session.scalars(select(Event)) for due in due_times(event)}
    if job and not any(picks(job, name) for name in names):
        raise click.ClickException(gettext(
            "no job '%(job)s': give the start of a name that osa schedule lists, such as reminder, day-before, "
            "daily-report, hotel or remove", job=job))
    report = run_due_jobs(dry_run=dry_run, only=job)
    if not report:
        click.echo(gettext("No job is due."))
    states = {JobState.DONE: gettext("done"), JobState.MISSED: gettext("missed"), "would send": gettext("would send"),
              "would miss": gettext("too late, would be marked missed"),
              "blocked": gettext("not run: see the admin's page Personal data")}
    # A job due every hour (the hotel's change notices) is reported once, with how many times it was due.
    counted: dict[tuple[str, str], list[int]] = {}  # (job, state): [times due, emails]
    for name, state, emails in report:
        entry = counted.setdefault((name, state), [0, 0])
        entry[0] += 1
        entry[1] += emails
    for (name, state), (due, emails) in counted.items():
        line = ngettext("%(job)s: %(state)s, %(num)d email", "%(job)s: %(state)s, %(num)d emails", emails,
                        job=name, state=states[state])
        click.echo(line + (" " + ngettext("(due %(num)d time)", "(due %(num)d times)", due) if due > 1 else ""))


@click.command("schedule", cls=DatabaseCommand, help=N_(
    "Each scheduled job, when it is due in the event's local time, and whether it ran, was missed or is to come."))
@click.option("--event", "slug", help=N_("The event's id (default: the newest event)."))
@click.option("--lang", type=click.Choice(["sv", "en"]), help=N_("The language to write in (default: the event's)."))
def schedule_command(slug: str | None, lang: str | None) -> None:
    event = _event_or_fail(slug)
    language = lang or event.default_language
    with force_locale(language):
        for line in schedule_lines(event, language):
            click.echo(line)


def schedule_lines(event, language: str) -> list[str]:
    """The lines of `osa schedule`: a due time, the job, and what became of it or will."""
    rows = [(format_datetime(row.at, event.timezone, language), row.job, row.state) for row in schedule(event, language)]
    width, job_width = (max((len(row[column]) for row in rows), default=0) for column in (0, 1))
    return [f"{at:<{width}}  {job:<{job_width}}  {state}" for at, job, state in rows]


@admin_cli.command("create-user", help=N_(
    "Create an admin account USERNAME (or, with --reset, give it a new password)."))
@click.argument("username")
@click.option("--name", default="", help=N_("The person's full name."))
@click.option("--language", type=click.Choice(["sv", "en"]), default="sv", show_default=True)
@click.option("--generate-password", is_flag=True, help=N_("Make a strong password and print it (else you are asked for one)."))
@click.option("--reset", is_flag=True, help=N_("Set a new password for a user who exists."))
def create_user_command(username: str, name: str, language: str, generate_password: bool, reset: bool) -> None:
    username = username.strip()
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        raise click.ClickException(gettext("a user name is 1 to 64 characters without spaces"))
    user = db.session.scalar(select(AdminUser).where(AdminUser.username == username))
    if user is not None and not reset:
        raise click.ClickException(gettext("the user '%(name)s' exists; use --reset to give it a new password", name=username))
    if user is None and reset:
        raise click.ClickException(gettext("there is no user '%(name)s' to reset", name=username))
    if generate_password:
        password = secrets.token_urlsafe(12)
    else:
        password = click.prompt(gettext("Password"), hide_input=True, confirmation_prompt=True)
        if len(password) < 10:
            raise click.ClickException(gettext("use a password of at least 10 characters"))
    with write_transaction():
        if user is None:
            user = AdminUser(username=username, name=name, language=language)
            db.session.add(user)
        user.set_password(password)
    click.echo(gettext("Admin user '%(name)s' updated.", name=username) if reset
               else gettext("Admin user '%(name)s' created.", name=username))
    if generate_password:
        click.echo(gettext("Password: %(password)s", password=password))


def register(app: Flask) -> None:
    """Add OSA's commands to the app's CLI."""
    from .demo import demo_command

    for command in (event_cli, invitees_cli, invitations_cli, outbox_cli, bounces_cli, privacy_cli, jobs_cli, admin_cli, schedule_command,
                    demo_command):
        app.cli.add_command(command)


def _create_app() -> Flask:
    from . import create_app
    from .settings import SettingsError

    try:
        return create_app()
    except SettingsError as error:  # a setting that cannot work: the message says which, a traceback would not
        raise click.ClickException(error.in_language(terminal_language())) from None


#: OSA's words for the commands Flask and its extensions add, in `osa --help`: their own are English only.
_ADDED_COMMANDS = {
    "db": N_("Create or migrate the database (Flask-Migrate)."),
    "limiter": N_("See or clear the rate limits (Flask-Limiter)."),
    "routes": N_("List the web addresses OSA answers."),
    "run": N_("Run the web app alone, for development."),
    "shell": N_("A Python shell with OSA's app loaded."),
}
#: OSA's words for the options Flask gives `osa`.
_FLASK_OPTIONS = {
    "debug": N_("Flask's debug mode, for osa run."),
    "version": N_("Show the versions of Python, Flask and Werkzeug."),
}


class _OsaGroup(_HelpInTerminalLanguage, FlaskGroup):
    """Flask's command group, which loads OSA before it lists OSA's commands."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # Not Flask's --app (osa loads OSA whatever it names) nor --env-file (it needs python-dotenv;
        # OSA reads its settings from the environment, which Docker Compose and Procfile runners fill from .env).
        self.params = [copy.copy(param) for param in self.params if param.name not in ("app", "env_file")]
        for param in self.params:
            param.help = _FLASK_OPTIONS.get(param.name, param.help)

    def main(self, *args, **kwargs):
        # Click's own words ("Usage:", "Error: Missing argument …") go through the standard library's
        # gettext, which reads the terminal's language as `terminal_language` does: OSA's "click"
        # catalogue has them in Swedish.
        stdlib_gettext.bindtextdomain("click", TRANSLATIONS)
        stdlib_gettext.textdomain("click")
        return super().main(*args, **kwargs)

    def list_commands(self, ctx: click.Context) -> list[str]:
        # A setting that cannot work ends `osa` and `osa --help` with its message, as it ends every
        # command; Flask's group would print a traceback, then a list without OSA's commands.
        ctx.ensure_object(ScriptInfo).load_app()
        return super().list_commands(ctx)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        added = [(command, command.short_help, text) for name, text in _ADDED_COMMANDS.items()
                 if (command := self.get_command(ctx, name))]
        for command, _, text in added:
            command.short_help = gettext(text)
        try:
            super().format_commands(ctx, formatter)
        finally:  # their own --help stays theirs
            for command, short_help, _ in added:
                command.short_help = short_help


main = _OsaGroup(
    name="osa",
    create_app=_create_app,
    add_default_commands=True,
    help=N_("OSA: invitations, RSVP and headcounts for meetings."),
)
