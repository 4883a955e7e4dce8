"""`osa demo`: OSA running whole on the embedded default, with nothing to install.

It migrates the SQLite database, loads the bundled event moved so its first day
is two weeks ahead, adds 40 fictional invitees (example.se), creates an admin
account, and starts the web app (gunicorn), a Celery worker and beat (on the
embedded broker, kombu's filesystem transport in the instance folder) and a built-in SMTP catcher whose mail is shown at /mailbox/.
Then it sends the invitations and prints where to look. Ctrl-C stops it all.
Run again, it reuses what exists: the same invitees, account and mailbox.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from flask import Flask, current_app
from flask_babel import force_locale, gettext, ngettext
from flask_migrate import upgrade
from sqlalchemy import select

from .answers import Answer, DayAnswer, check_answer, save_answer
from .cli import OsaCommand
from .db import write_transaction
from .eventfile import read_event_file
from .events import store_event
from .extensions import N_, db
from .invitee_import import import_invitees
from .mail.compose import invitees_to_invite, queue_answer_emails, queue_invitations
from .mail.mailbox import MailCatcher
from .models import AdminUser, Event, Invitee, Response
from .web import terminal_language

ROOT = Path(__file__).resolve().parent.parent
BUNDLED_EVENT = ROOT / "config" / "events" / "innovationsmotet-2021.toml"
DEMO_USER = "admin"
INVITEES = 40

FIRST_NAMES = ("Anna", "Erik", "Maria", "Lars", "Karin", "Johan", "Eva", "Anders", "Sara", "Per", "Lena",
               "Mikael", "Ingrid", "Nils", "Kerstin", "Olof", "Åsa", "Göran", "Birgitta", "Stefan")
LAST_NAMES = ("Lindqvist", "Berg", "Öhman", "Sundberg", "Nyström", "Holm", "Ek", "Forsberg", "Åberg", "Lund")
#: Member municipalities of the kind that come to this meeting.
ORGANISATIONS = ("Skellefteå kommun", "Luleå kommun", "Sandvikens kommun", "Olofströms kommun",
                 "Finspångs kommun", "Oskarshamns kommun", "Ludvika kommun", "Köpings kommun")


def fictional_invitees(count: int = INVITEES) -> str:
    """A CSV of `count` made-up invitees with example.se addresses; the same every time."""
    rows = ["namn;e-post;organisation;roll;språk"]
    for n in range(count):
        first = FIRST_NAMES[n % len(FIRST_NAMES)]
        last = LAST_NAMES[(n * 7 + n // len(FIRST_NAMES)) % len(LAST_NAMES)]
        address = f"{first}.{last}.{n + 1}".lower().translate(str.maketrans("åäö", "aao"))
        role = "kso" if n % 4 == 0 else "official"
        language = "en" if n % 10 == 9 else "sv"
        rows.append(f"{first} {last};{address}@example.se;{ORGANISATIONS[n % len(ORGANISATIONS)]};{role};{language}")
    return "\n".join(rows) + "\n"


def prepare(instance: Path) -> tuple[Event, str]:
    """Migrate, load the event, add the invitees and the admin account; return the event and the password."""
    upgrade(x_arg=["quiet=true"])
    with write_transaction():
        event = store_event(read_event_file(BUNDLED_EVENT, starts_in_days=14)).event
        import_invitees(event, "demo.csv", fictional_invitees().encode("utf-8"))
    password_file = instance / "demo-admin-password.txt"
    user = db.session.scalar(select(AdminUser).where(AdminUser.username == DEMO_USER))
    # The file may hold the password of another database's account (a demo run with OSA_DATABASE_URL).
    if user is None or not password_file.exists() or not user.check_password(password_file.read_text().strip()):
        password = secrets.token_urlsafe(12)
        with write_transaction():
            if user is None:
                user = AdminUser(username=DEMO_USER, name="Demo", language="sv")
                db.session.add(user)
            user.set_password(password)
        password_file.write_text(password + "\n")
        password_file.chmod(0o600)
    return event, password_file.read_text().strip()


def simulate_answers(event: Event, share: float = 0.6, seed: int = 2021) -> int:
    """Make `share` of the invitees who have not answered answer, as they might; return how many did."""
    chooser = random.Random(seed)
    answered = select(Response.invitee_id)
    invitees = db.session.scalars(
        select(Invitee).where(Invitee.event_id == event.id, Invitee.removed_at.is_(None), Invitee.id.not_in(answered))
        .order_by(Invitee.id)
    ).all()
    count = 0
    for invitee in invitees:
        if chooser.random() >= share:
            continue
        answer = _likely_answer(event, chooser)
        if check_answer(event, answer):
            continue  # a combination the page would refuse; a real invitee would fix it
        with write_transaction():
            queue_answer_emails(invitee, save_answer(invitee, answer))
        count += 1
    return count


def _likely_answer(event: Event, chooser: random.Random) -> Answer:
    if chooser.random() < 0.15:
        return Answer.decline(event)
    days, meals = {}, set()
    zone = ZoneInfo(event.timezone)
    for day in event.days:
        coming = chooser.random() < 0.85
        options = [o for o in event.transport_options if o.day_id == day.id]
        option = chooser.choice(options) if coming and options else None
        flight = option is not None and option.asks_flight
        days[day.key] = DayAnswer(
            attending=coming, transport=option.key if option else None,
            flight_number=f"SK {2010 + chooser.randrange(8)}" if flight else "",
            # Landing a little before the pickup, as the page asks.
            flight_arrival=(option.departs_at - dt.timedelta(minutes=25)).astimezone(zone).time() if flight else None,
        )
        if coming:
            meals |= {m.key for m in event.meals if m.day_id == day.id and chooser.random() < 0.9}
    attending = any(d.attending for d in days.values())
    diets = {chooser.choice(event.diet_options).key} if attending and event.diet_options and chooser.random() < 0.3 else set()
    nights = {n.key for n in event.hotel_nights if attending and chooser.random() < 0.5}
    return Answer(days=days, meals=meals, diets=diets, hotel_nights=nights,
                  allergies="Nötter" if attending and chooser.random() < 0.1 else "")


def _child_environment(app: Flask, mailbox: Path, smtp_port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "OSA_INSTANCE_PATH": app.instance_path,
        "OSA_MAILBOX_DIR": str(mailbox),
        "OSA_SMTP_HOST": "127.0.0.1",
        "OSA_SMTP_PORT": str(smtp_port),
        "OSA_BASE_URL": app.config["BASE_URL"],
    })
    # The catcher takes mail as fast as it comes; a relay's limit would only make the demo slow.
    env.setdefault("OSA_SEND_RATE_PER_MINUTE", "0")
    return env


def _wait_until_up(url: str, processes: list[subprocess.Popen], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if any(p.poll() is not None for p in processes):
            raise click.ClickException(gettext("a part of the demo stopped while starting; see its messages above "
                                               "(a port in use? try --port and --smtp-port)"))
        if time.monotonic() > deadline:
            raise click.ClickException(gettext("the web app did not answer at %(url)s within %(seconds)d s",
                                               url=url, seconds=timeout))
        time.sleep(0.3)


#: What stops the demo: Ctrl-C, a `kill`, and the terminal closing.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _interrupt(signum, frame):
    # Only the first signal stops the demo: a second Ctrl-C must not cut the stopping short.
    for stop in _STOP_SIGNALS:
        signal.signal(stop, signal.SIG_IGN)
    raise KeyboardInterrupt


def _say(line: str) -> None:
    """A line on the terminal, which may be gone: its closing may be what stops the demo."""
    try:
        click.echo(line)
    except OSError:
        pass


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@click.command("demo", cls=OsaCommand, help=N_(
    "Run OSA on the embedded default: web app, worker, beat and a mailbox. Ctrl-C stops it."))
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True, help=N_("The web app's port."))
@click.option("--smtp-port", type=click.IntRange(1, 65535), default=1025, show_default=True,
              help=N_("The built-in SMTP catcher's port."))
@click.option("--simulate", is_flag=True,
              help=N_("Make about three in five of the fictional invitees answer, so the numbers move."))
def demo_command(port: int, smtp_port: int, simulate: bool) -> None:
    with force_locale(terminal_language()):
        _run_demo(port, smtp_port, simulate)


def _run_demo(port: int, smtp_port: int, simulate: bool) -> None:
    app = current_app._get_current_object()
    instance = Path(app.instance_path)
    base_url = f"http://127.0.0.1:{port}"
    if not os.environ.get("OSA_BASE_URL"):
        app.config["BASE_URL"] = base_url
    mailbox = instance / "mailbox"
    event, password = prepare(instance)
    click.echo(gettext("Event '%(slug)s': %(first)s – %(last)s, %(count)d fictional invitees.", slug=event.slug,
                       first=event.days[0].date.isoformat(), last=event.days[-1].date.isoformat(), count=INVITEES))

    # A `kill` or a terminal closing stops the demo as cleanly as Ctrl-C does, even when started with
    # Ctrl-C ignored (a background job); not a closing terminal under `nohup`, which is to keep it running.
    for stop in _STOP_SIGNALS:
        if stop != signal.SIGHUP or signal.getsignal(stop) != signal.SIG_IGN:
            signal.signal(stop, _interrupt)
    catcher = MailCatcher(mailbox, port=smtp_port)
    try:
        catcher.start()
    except OSError as error:
        raise click.ClickException(gettext("cannot listen for mail on port %(port)d (%(error)s); try --smtp-port",
                                           port=smtp_port, error=error)) from None
    env = _child_environment(app, mailbox, smtp_port)
    run = [sys.executable, "-m"]
    # In a process group of their own, the parts hear only the demo: a terminal's Ctrl-C (the second one
    # too, which would make the worker drop what it sends) and its closing reach the demo, which stops
    # each part once, with SIGTERM.
    start = {"env": env, "cwd": ROOT, "process_group": 0}
    processes = [
        subprocess.Popen(run + ["gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--log-level", "warning",
                                "service.wsgi:app"], **start),
        # --quiet: no banners; what goes wrong is still logged (on stderr). Its stdout has only Celery's
        # English about stopping ("worker: Warm shutdown").
        subprocess.Popen(run + ["celery", "-A", "tasks.worker", "--quiet", "worker", "--pool", "solo",
                                "--loglevel", "WARNING", "--without-heartbeat", "--without-mingle", "--without-gossip"],
                         stdout=subprocess.DEVNULL, **start),
        subprocess.Popen(run + ["celery", "-A", "tasks.worker", "--quiet", "beat", "--loglevel", "WARNING",
                                "--schedule", str(instance / "celerybeat-schedule")], **start),
    ]
    code = 0
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/healthz", processes)
        # Invitations render links with this process's settings: point them at the catcher too.
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_port)
        sent = queue_invitations(event, invitees_to_invite(event))
        answered = simulate_answers(event) if simulate else 0
        more = ngettext(", %(num)d simulated answer", ", %(num)d simulated answers", answered) if simulate else ""
        click.echo("\n" + "\n  ".join([
            gettext("OSA is running."),
            gettext("Admin:    %(url)s/admin/   (user: %(user)s, password: %(password)s)", url=base_url,
                    user=DEMO_USER, password=password),
            gettext("Mailbox:  %(url)s/mailbox/", url=base_url),
            ngettext("%(num)d invitation on its way%(more)s. Press Ctrl-C to stop.",
                     "%(num)d invitations on their way%(more)s. Press Ctrl-C to stop.", sent, more=more),
        ]) + "\n")
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        click.echo(gettext("A part of the demo stopped; stopping the rest."), err=True)
        code = 1
    except KeyboardInterrupt:
        _say("\n" + gettext("Stopping…"))
    finally:
        _stop(processes)
        catcher.stop()
        db.session.remove()
    if code:
        sys.exit(code)
    _say(gettext("Stopped."))
