"""Scheduled jobs: reminders before the RSVP deadline and the day-before logistics.

Each job has due times computed from the event's local dates and the configured
local hour (so a job fires at 09.00 Stockholm time in October and in November
alike, across the change from summer time). Beat calls `run_due_jobs` every
minute. A due time runs at most once: its `JobRun` row is written in the same
transaction as the emails it queues, and a unique index makes a second beat, an
overlapping run or a retried task find it taken. A due time missed while the
workers were down runs once when they return, within `JOB_GRACE_HOURS` and
while it still matters (a reminder before the deadline, logistics before the
day begins); after that it is recorded as missed. The removals of personal data
after the event (`retention`) are never too late: they run whenever the workers can.
`schedule` tells `osa schedule` and the admin's event page when each job is due and
what became of it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import holidays
from flask import current_app
from flask_babel import gettext, ngettext
from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError

from .answers import localized
from .dates import format_datetime
from .db import utcnow, write_transaction
from .extensions import db
from .headcount import hotel_changes, hotel_numbers
from .mail.compose import (
    ROUND_CHUNK,
    render_daily_report,
    render_day_before,
    render_hotel_change,
    render_hotel_final,
    render_retention_problem,
)
from .mail.outbox import fill_in, kind_name, queue_email, queue_emails
from .mail.render import RenderedEmail
from .retention import STEPS, ArchiveError, remove, removal_at
from .models import (
    Event,
    EventDay,
    Invitee,
    JobRun,
    JobState,
    Outbox,
    OutboxState,
    Response,
    ResponseDay,
)


@dataclass(frozen=True)
class Due:
    """One job at one time: what it is called, when it is due, until when it still matters."""

    job: str
    at: dt.datetime
    #: None: never too late (the removals of personal data).
    too_late_at: dt.datetime | None
    #: Returns how many emails it queued, or that and the hotel's numbers it sent.
    run: Callable[[Event, dt.datetime, bool], int | tuple[int, dict | None]]


def _local(day: dt.date, hour: int, timezone: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=ZoneInfo(timezone)).astimezone(dt.timezone.utc)


def day_off_in(country: str) -> Callable[[dt.date], bool]:
    """Whether offices are closed on a day: a Saturday, a Sunday or a holiday of `country` (its public
    holidays and the eves offices keep: Midsummer Eve, Christmas Eve, New Year's Eve); "" for weekends only."""
    closed = {}
    if country:
        kinds = {"public", "de_facto"} & set(holidays.country_holidays(country).supported_categories)
        closed = holidays.country_holidays(country, categories=tuple(kinds))
    return lambda day: day.weekday() >= 5 or day in closed


def working_day(day: dt.date, country: str) -> dt.date:
    """`day`, or the working day before it when offices are closed on it (`day_off_in`)."""
    closed = day_off_in(country)
    while closed(day):
        day -= dt.timedelta(days=1)
    return day


def due_times(event: Event) -> Iterator[Due]:
    """Every scheduled job of the event, in time order."""
    config = current_app.config
    deadline_day = event.rsvp_deadline.astimezone(ZoneInfo(event.timezone)).date()
    times = []
    reminder_days = set()
    for days in sorted(config["REMINDER_DAYS"], reverse=True):
        day = working_day(deadline_day - dt.timedelta(days=days), config["HOLIDAY_COUNTRY"])
        if day not in reminder_days:  # two moved to the same working day: the first goes
            reminder_days.add(day)
            at = _local(day, int(config["REMINDER_HOUR"]), event.timezone)
            times.append(Due(f"reminder-{days}", at, event.rsvp_deadline, _reminders(days)))
    for day in event.days:
        at = _local(day.date - dt.timedelta(days=1), int(config["DAY_BEFORE_HOUR"]), event.timezone)
        times.append(Due(f"day-before-{day.key}", at, day.starts_at, _day_before(day.id)))
    # The daily report, every morning from the day the event was defined to its last day (or only on
    # working days and the event's own: each covers the changes since the last one sent).
    zone = ZoneInfo(event.timezone)
    first = event.created_at.astimezone(zone).date()
    skipped = (lambda date: False) if config["REPORT_ON_DAYS_OFF"] else day_off_in(config["HOLIDAY_COUNTRY"])
    event_dates = {day.date for day in event.days}
    for offset in range((event.days[-1].date - first).days + 1):
        date = first + dt.timedelta(days=offset)
        at = _local(date, int(config["REPORT_HOUR"]), event.timezone)
        if at >= event.created_at and (date in event_dates or not skipped(date)):
            times.append(Due(f"daily-report-{date.isoformat()}", at, at + dt.timedelta(days=1), _daily_report))
    # The hotel's final numbers at the cut-off, then a change notice at most once per interval.
    event_ends = event.ends_at
    times.append(Due("hotel-final", event.final_numbers_at, event_ends, _hotel_final))
    step = dt.timedelta(minutes=float(config["HOTEL_NOTICE_MINUTES"]))
    at = event.final_numbers_at + step
    while at < event_ends:
        times.append(Due("hotel-changes", at, event_ends, _hotel_changes))
        at += step
    # After the event: sensitive details, then all personal data, are removed.
    for removal in STEPS:
        times.append(Due(f"remove-{removal}", removal_at(event, removal), None, _removal(removal)))
    return iter(sorted(times, key=lambda due: due.at))


def picks(only: str, job: str) -> bool:
    """Whether `only` (`osa jobs run ONLY`) picks the job: it starts the job's name, and "reminders"
    picks reminder-7 and reminder-2."""
    return job.startswith(only.removesuffix("s"))


def run_due_jobs(now: dt.datetime | None = None, dry_run: bool = False, only: str | None = None) -> list[tuple[str, str, int]]:
    """Run every job that is due and has not run; return (job, state, emails) for each time it was due: "done",
    "missed" or "blocked", or with `dry_run` "would send" or "would miss"."""
    now = now or utcnow()
    grace = dt.timedelta(hours=float(current_app.config["JOB_GRACE_HOURS"]))
    report = []
    for event in db.session.scalars(select(Event).order_by(Event.id)).all():
        done = set(db.session.execute(select(JobRun.job, JobRun.scheduled_for).where(JobRun.event_id == event.id)).all())
        for due in due_times(event):
            if due.at > now or (only and not picks(only, due.job)) or (due.job, due.at) in done:
                continue
            late = due.too_late_at is not None and (now >= due.too_late_at or now - due.at > grace)
            if dry_run:
                report.append((due.job, "would miss", 0) if late else
                              (due.job, "would send", _emails(due.run(event, due.at, True))))
                db.session.rollback()
                continue
            try:
                with write_transaction():
                    result = 0 if late else due.run(event, due.at, False)
                    emails, numbers = result if isinstance(result, tuple) else (result, None)
                    db.session.add(JobRun(
                        job=due.job, event_id=event.id, scheduled_for=due.at, state=JobState.MISSED if late else JobState.DONE,
                        emails=emails, numbers=numbers,
                    ))
            except IntegrityError:
                continue  # another beat or worker ran it first: its emails stand, ours are gone
            except ArchiveError as error:
                _removal_blocked(event, due, str(error), now)
                report.append((due.job, "blocked", 0))
                continue
            report.append((due.job, JobState.MISSED if late else JobState.DONE, emails))
    return report


@dataclass(frozen=True)
class Planned:
    """One line of the schedule: when, which job (its name for `osa jobs run`, and in words), and what
    became of it or will, in the language in force."""

    at: dt.datetime
    job: str
    name: str
    state: str


#: The kind of email each job sends, by the start of its name.
_EMAIL_KINDS = {"reminder-": "reminder", "daily-report-": "daily_report", "hotel-final": "hotel_final",
                "hotel-changes": "hotel_change"}


def schedule(event: Event, language: str, series: tuple[str, ...] = ("hotel-changes",)) -> list[Planned]:
    """Every scheduled job of the event in time order, with what became of it or will; the jobs of
    each of `series` (jobs due again and again: "hotel-changes", "daily-report") folded into one line
    from their first time."""
    now = utcnow()
    grace = dt.timedelta(hours=float(current_app.config["JOB_GRACE_HOURS"]))
    runs = {(run.job, run.scheduled_for): run for run in db.session.scalars(select(JobRun).where(JobRun.event_id == event.id))}
    days = {f"day-before-{day.key}": day for day in event.days}

    def when(instant: dt.datetime) -> str:
        return format_datetime(instant, event.timezone, language)

    def name(job: str) -> str:
        if job in days:
            return gettext("%(kind)s: %(day)s", kind=kind_name("day_before"),
                           day=localized(days[job], "title", language))
        if job.startswith("remove-"):
            return gettext("Sensitive details are removed") if job == "remove-sensitive" else \
                gettext("All personal data is removed")
        return kind_name(next(kind for start, kind in _EMAIL_KINDS.items() if job.startswith(start)))

    due_list = list(due_times(event))
    folded = {key: [due for due in due_list if due.job.startswith(key)] for key in series}
    rows = []
    for due in due_list:
        key = next((key for key in folded if due.job.startswith(key)), None)
        if key is not None:
            times = folded[key]
            if due is times[0]:
                sent = sum(runs[(t.job, t.at)].emails for t in times if (t.job, t.at) in runs)
                if key == "hotel-changes":
                    minutes = int((times[1].at - times[0].at).total_seconds() // 60) if len(times) > 1 else 0
                    state = ngettext("every %(minutes)d min until %(end)s, %(num)d notice sent",
                                     "every %(minutes)d min until %(end)s, %(num)d notices sent", sent,
                                     minutes=minutes, end=when(times[-1].at))
                elif current_app.config["REPORT_ON_DAYS_OFF"]:
                    state = ngettext("every day until %(end)s, %(num)d report sent",
                                     "every day until %(end)s, %(num)d reports sent", sent, end=when(times[-1].at))
                else:
                    state = ngettext("every working day until %(end)s, %(num)d report sent",
                                     "every working day until %(end)s, %(num)d reports sent", sent,
                                     end=when(times[-1].at))
                rows.append(Planned(due.at, key, name(due.job), state))
            continue
        run = runs.get((due.job, due.at))
        last_chance = min(due.at + grace, due.too_late_at or due.at + grace)
        if run is not None and run.state == JobState.DONE:
            state = ngettext("ran, %(num)d email", "ran, %(num)d emails", run.emails)
        elif run is not None:
            state = gettext("missed: it was too late when the workers ran it")
        elif due.at > now:
            state = gettext("to come")
        elif due.too_late_at is None:
            state = gettext("late: runs when a worker is up")
        elif now < last_chance:
            state = gettext("late: runs when a worker is up, until %(time)s", time=when(last_chance))
        else:
            state = gettext("missed: it passed while no worker ran, and it is too late now")
        rows.append(Planned(due.at, due.job, name(due.job), state))
    return rows


def _reminders(days: int) -> Callable[[Event, dt.datetime, bool], int]:
    def run(event: Event, at: dt.datetime, dry_run: bool) -> int:
        """Remind those invited before this reminder's time who have not answered, not opted out, and
        whose address the relay has not refused. The reminders are written without their text, for the
        worker to render as each is sent (`fill_in_round`), and not sent to whoever answers before then."""
        invited = exists().where(
            Outbox.invitee_id == Invitee.id, Outbox.kind == "invitation", Outbox.created_at <= at
        )
        answered = exists().where(Response.invitee_id == Invitee.id)
        invitees = db.session.scalars(
            select(Invitee).where(
                Invitee.event_id == event.id, Invitee.removed_at.is_(None), Invitee.reminders_opted_out.is_(False),
                Invitee.undeliverable_at.is_(None), invited, ~answered,
            ).order_by(Invitee.id)
        ).all()
        if dry_run:
            return len(invitees)
        for start in range(0, len(invitees), ROUND_CHUNK):  # the rows' parameters a chunk at a time
            queue_emails([{"kind": "reminder", "key": f"reminder-{days}:{invitee.id}", "event": event,
                           "invitee": invitee, "rendered": None} for invitee in invitees[start:start + ROUND_CHUNK]])
        return len(invitees)

    return run


def _day_before(day_id: int) -> Callable[[Event, dt.datetime, bool], int]:
    def run(event: Event, at: dt.datetime, dry_run: bool) -> int:
        """Tomorrow's logistics for everyone coming tomorrow, tailored to their transport and meals."""
        day = db.session.get(EventDay, day_id)
        invitees = db.session.scalars(
            select(Invitee).join(Response).join(ResponseDay)
            .where(ResponseDay.day_id == day.id, ResponseDay.attending.is_(True), Invitee.removed_at.is_(None))
            .order_by(Invitee.id)
        ).all()
        if dry_run:
            return len(invitees)
        for invitee in invitees:
            rendered = render_day_before(event, day, invitee, invitee.response)
            queue_email(kind="day_before", key=f"day-before-{day.key}:{invitee.id}", event=event, invitee=invitee,
                        rendered=rendered)
        return len(invitees)

    return run


def _daily_report(event: Event, at: dt.datetime, dry_run: bool) -> int:
    """The headcount to the secretariat: numbers, changes since the last report, CSV and chart."""
    if dry_run:
        return 1
    rendered, attachments = _daily_report_email(event, at)
    queue_email(kind="daily_report", key=_report_key(event, "daily-report", at), event=event,
                recipient=event.secretariat_email, language=event.default_language, rendered=rendered,
                attachments=attachments)
    return 1


def _report_key(event: Event, job: str, at: dt.datetime) -> str:
    """The outbox key of the email a run of the daily report, the final numbers or a change notice writes."""
    if job.startswith("daily-report"):
        return f"daily-report:{event.id}:{at.astimezone(ZoneInfo(event.timezone)).date().isoformat()}"
    if job == "hotel-final":
        return f"hotel-final:{event.id}"
    return f"hotel-change:{event.id}:{at.isoformat()}"


def _daily_report_email(event: Event, at: dt.datetime) -> tuple[RenderedEmail, list[dict[str, str]]]:
    """The report due at `at`, with what changed since the last one and the jobs missed in between."""
    previous = db.session.scalar(
        select(JobRun.scheduled_for)
        .where(JobRun.event_id == event.id, JobRun.job.like("daily-report-%"), JobRun.state == JobState.DONE,
               JobRun.scheduled_for < at)
        .order_by(JobRun.scheduled_for.desc())
        .limit(1)
    )
    missed = db.session.scalar(
        select(func.count(JobRun.id)).where(
            JobRun.event_id == event.id, JobRun.state == JobState.MISSED, JobRun.scheduled_for < at,
            ~JobRun.job.like("daily-report-%"), JobRun.job != "hotel-changes",
            JobRun.ran_at > previous if previous is not None else JobRun.id.is_not(None),
        )
    )
    return render_daily_report(event, at, previous, missed)


def _emails(result: int | tuple[int, dict | None]) -> int:
    return result[0] if isinstance(result, tuple) else result


def _hotel_final(event: Event, at: dt.datetime, dry_run: bool) -> tuple[int, dict | None]:
    """The final numbers to the hotel: people per day, meals per sitting with diets, allergies, rooms."""
    numbers = hotel_numbers(event)
    if dry_run:
        return 1, None
    rendered, attachments = render_hotel_final(event, numbers)
    queue_email(kind="hotel_final", key=_report_key(event, "hotel-final", at), event=event, recipient=event.hotel_email,
                language=event.default_language, rendered=rendered, attachments=attachments)
    return 1, numbers


def numbers_sent_to_hotel(event: Event, before: dt.datetime | None = None) -> dict | None:
    """The numbers the hotel last received (final numbers or a change notice), None before the cut-off."""
    query = select(JobRun.numbers).where(JobRun.event_id == event.id, JobRun.numbers.is_not(None),
                                         JobRun.job.in_(("hotel-final", "hotel-changes")))
    if before is not None:
        query = query.where(JobRun.scheduled_for < before)
    return db.session.scalar(query.order_by(JobRun.scheduled_for.desc()).limit(1))


def _hotel_changes(event: Event, at: dt.datetime, dry_run: bool) -> tuple[int, dict | None]:
    """What changed since the hotel's last numbers; nothing when the numbers are the same again."""
    last = numbers_sent_to_hotel(event, before=at)
    if last is None:
        return 0, None  # the final numbers have not gone out
    numbers = hotel_numbers(event)
    changes = hotel_changes(event, last, numbers, event.default_language)
    if not changes:
        return 0, None
    if dry_run:
        return 1, None
    queue_email(kind="hotel_change", key=_report_key(event, "hotel-changes", at), event=event,
                recipient=event.hotel_email, language=event.default_language,
                rendered=render_hotel_change(event, changes))
    return 1, numbers


def write_waiting_reports_again(event: Event) -> None:
    """Make the event's reports and hotel emails that have not reached the relay again, in the caller's
    transaction, from the data as it stands now and the numbers their run kept (both without a person
    erased meanwhile). Each keeps its row, key and Message-ID. One a worker is sending at this moment
    goes as the worker built it, but what is kept of it (and sent, if it is tried again) is the new text."""
    runs = db.session.scalars(select(JobRun).where(
        JobRun.event_id == event.id, JobRun.state == JobState.DONE, JobRun.emails > 0,
        JobRun.job.like("daily-report-%") | JobRun.job.in_(("hotel-final", "hotel-changes")),
    )).all()
    keys = {_report_key(event, run.job, run.scheduled_for): run for run in runs}
    waiting = db.session.scalars(select(Outbox).where(
        Outbox.event_id == event.id, Outbox.state.in_((OutboxState.QUEUED, OutboxState.SENDING)),
        Outbox.idempotency_key.in_(list(keys)),
    ).with_for_update()).all()
    for row in waiting:
        run, attachments = keys[row.idempotency_key], []
        if row.kind == "daily_report":
            rendered, attachments = _daily_report_email(event, run.scheduled_for)
        elif row.kind == "hotel_final":
            rendered, attachments = render_hotel_final(event, run.numbers)
        else:
            last = numbers_sent_to_hotel(event, before=run.scheduled_for)
            rendered = render_hotel_change(event, hotel_changes(event, last, run.numbers, event.default_language))
        fill_in(row, kind=row.kind, key=row.idempotency_key, event=event, recipient=row.recipient,
                language=row.language, rendered=rendered, attachments=attachments)


def _removal(step: str) -> Callable[[Event, dt.datetime, bool], tuple[int, dict | None]]:
    def run(event: Event, at: dt.datetime, dry_run: bool) -> tuple[int, dict | None]:
        """Remove the event's sensitive details, or all its personal data (after its archive, when on)."""
        if dry_run:
            return 0, None
        return 0, remove(event, step, at) or None

    return run


def _removal_blocked(event: Event, due: Due, problem: str, now: dt.datetime) -> None:
    """The removal did not run: the admin shows why, and the secretariat hears of it once a day."""
    with write_transaction():
        event = db.session.get(Event, event.id)
        event.retention_problem = problem
        day = now.astimezone(ZoneInfo(event.timezone)).date().isoformat()
        queue_email(kind="retention_problem", key=f"retention-problem:{event.id}:{due.job}:{day}", event=event,
                    recipient=event.secretariat_email, language=event.default_language,
                    rendered=render_retention_problem(event, due.job.removeprefix("remove-"), due.at, problem))
