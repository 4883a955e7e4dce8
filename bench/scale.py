"""Benchmark: an event with many invitees (a national mailing) on PostgreSQL, step by step.

    .venv/bin/python bench/scale.py [--invitees 50000]

Builds the bundled event with N invitees imported from a CSV file, gives about
70 % of them a random answer over the last two weeks, with its change log entry
(written straight to the tables and ANALYZEd, as autovacuum would: that is setup,
not measured), and prints for each step what the secretariat waits and how far above
the idle process (the app made, the event read) its memory peaked. Each step runs
in a fresh process, as a web or worker process meets it (Linux: the peak resident
size is read from /proc/self/status after a reset through /proc/self/clear_refs):

    the import of the file · writing a round's outbox · the dashboard's numbers and chart ·
    the daily report · the hotel's numbers · the CSV export · the XLSX export · the reminder job

No worker runs and no email is sent (the broker is Celery's in-memory one).
Needs PostgreSQL (BENCH_POSTGRES_URL); it makes a database of its own and drops it.
Run by hand, never in the test run.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import multiprocessing
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.rsvp_load import create_database, drop_database  # noqa: E402


def _status(field: str) -> int:
    """A memory figure of this process from /proc/self/status, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _in_fresh_process(step: str, environment: dict[str, str], argument: str, results) -> None:
    """Run one step in a process of its own, as a web or worker process meets it: the app made and
    the event read first (the idle process), then the step, with its peak memory above idle."""
    os.environ.update(environment)
    from sqlalchemy import select

    from service import create_app
    from service.extensions import db
    from service.models import Event

    app = create_app()
    with app.app_context(), app.test_request_context():
        event = db.session.scalar(select(Event))
        [len(day.items) for day in event.days]  # the event as every step reads it
        run = STEPS[step]
        Path("/proc/self/clear_refs").write_text("5")  # the peak resident size starts again from now
        idle = _status("VmRSS")
        started = time.perf_counter()
        outcome = run(event, argument)
        seconds = time.perf_counter() - started
        results.put((seconds, _status("VmHWM") - idle, idle, outcome))


def measured(label: str, step: str, environment: dict[str, str], argument: str = ""):
    """Print the step's time and peak memory above the idle process; return what it returned."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_in_fresh_process, args=(step, environment, argument, results))
    process.start()
    process.join()  # what it sends back is a few numbers, which the queue's pipe holds
    if process.exitcode != 0:
        raise SystemExit(f"{label}: the step failed (exit code {process.exitcode})")
    seconds, peak, idle, outcome = results.get()
    print(f"  {label:<28} {seconds:8.2f} s   peak {peak / 2**20:+7.1f} MB above the idle process "
          f"({idle / 2**20:.0f} MB)", flush=True)
    return outcome


def _import(event, path: str):
    from service.db import write_transaction
    from service.invitee_import import import_invitees

    with write_transaction():
        return import_invitees(event, "inbjudna.csv", Path(path).read_bytes()).created


def _round(event, _argument):
    from service.mail.compose import write_round

    return write_round(event.id)  # what the send page has a worker do


def _reminders(event, _argument):
    from service.jobs import due_times, run_due_jobs

    at = next(due.at for due in due_times(event) if due.job == "reminder-7")
    return run_due_jobs(now=at, only="reminder-7")[0][2]  # what beat has a worker do at 09.00


def _dashboard(event, _argument):
    from service.db import utcnow
    from service.headcount import headcount
    from service.mail.compose import invitation_progress
    from service.reports import answers_over_time

    # What the open dashboard fetches every 10 s.
    return headcount(event, "sv").attending, invitation_progress(event).total, answers_over_time(event, utcnow())[-1]


def _chart(event, _argument):
    from service.db import utcnow
    from service.reports import answers_chart

    return len(answers_chart(event, utcnow(), "sv"))  # the dashboard's picture, matplotlib's import included


def _report(event, _argument):
    from service.db import utcnow
    from service.mail.compose import render_daily_report

    now = utcnow()
    rendered, attachments = render_daily_report(event, now, now - dt.timedelta(days=1), 0)
    return len(rendered.text), [attachment["filename"] for attachment in attachments]


def _hotel(event, _argument):
    from service.headcount import hotel_numbers

    return hotel_numbers(event)["days"]


def _csv(event, _argument):
    from service.reports import csv_lines

    return sum(len(chunk) for chunk in csv_lines(event, "sv"))  # as the export streams it


def _xlsx(event, _argument):
    from service.reports import answers_workbook

    return len(answers_workbook(event, "sv"))


STEPS = {"import": _import, "round": _round, "reminders": _reminders, "dashboard": _dashboard, "chart": _chart,
         "report": _report, "hotel": _hotel, "csv": _csv, "xlsx": _xlsx}


def invitee_file(count: int) -> bytes:
    """A Swedish Excel export: semicolons, UTF-8 with BOM, Swedish headers."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["Namn", "E-post", "Organisation", "Roll", "Språk"])
    for n in range(count):
        writer.writerow([f"Förnamn Efternamn {n}", f"invitee{n}@example.se", f"Kommun {n % 290}",
                         "kso" if n % 5 == 0 else "official", "en" if n % 10 == 0 else "sv"])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def random_answers(event, share: float = 0.7) -> None:
    """Answers for about `share` of the invitees, given over the last two weeks, each with the change
    log entry the answer page writes; inserted in bulk (setup, not measured). Then ANALYZE, as
    autovacuum would within a minute of such a load, so the planner knows the tables' sizes."""
    from sqlalchemy import insert, select

    from service.extensions import db
    from service.models import Actor, Invitee, Response, ResponseChange, ResponseDay, response_meal

    rng = random.Random(2021)
    ids = list(db.session.scalars(select(Invitee.id).where(Invitee.event_id == event.id)))
    answered = [invitee_id for invitee_id in ids if rng.random() < share]
    now = dt.datetime.now(dt.timezone.utc)
    when = {invitee_id: now - dt.timedelta(minutes=rng.randrange(14 * 24 * 60)) for invitee_id in answered}
    db.session.execute(insert(Response), [{"invitee_id": i, "allergies": "", "comment": "", "created_at": when[i],
                                           "updated_at": when[i]} for i in answered])
    responses = dict(db.session.execute(select(Response.invitee_id, Response.id)).all())
    options = [option for option in event.transport_options if option.capacity is None]
    meals = list(event.meals)
    day_rows, meal_rows, change_rows = [], [], []
    for invitee_id in answered:
        response_id = responses[invitee_id]
        coming = rng.random() < 0.85
        answer = {"days": {}, "meals": [], "diets": [], "allergies": "", "hotel_nights": {}, "comment": ""}
        for day in event.days:
            attending = coming and rng.random() < 0.9
            option = rng.choice(options) if attending and day.key == "day1" else None
            day_rows.append({"response_id": response_id, "day_id": day.id, "attending": attending,
                             "transport_option_id": option.id if option else None, "flight_number": ""})
            answer["days"][day.key] = {"attending": attending, "transport": option.key if option else None,
                                       "waitlisted": False, "flight_number": "", "flight_arrival": None}
        if coming:
            chosen = [meal for meal in meals if rng.random() < 0.7]
            meal_rows += [{"response_id": response_id, "meal_id": meal.id} for meal in chosen]
            answer["meals"] = sorted(meal.key for meal in chosen)
        change_rows.append({"invitee_id": invitee_id, "changed_at": when[invitee_id], "actor": Actor.INVITEE,
                            "actor_name": "", "old": None, "new": answer,
                            "coming": any(day["attending"] for day in answer["days"].values())})
    db.session.execute(insert(ResponseDay), day_rows)
    db.session.execute(insert(response_meal), meal_rows)
    change_rows.sort(key=lambda row: row["changed_at"])
    db.session.execute(insert(ResponseChange), change_rows)
    db.session.commit()
    analyze()


def analyze() -> None:
    """ANALYZE the bench's database, as autovacuum does shortly after a bulk load."""
    from sqlalchemy import text

    from service.extensions import db

    db.session.execute(text("ANALYZE"))
    db.session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invitees", type=int, default=50_000)
    args = parser.parse_args()
    url, name = create_database()
    environment = {"OSA_DATABASE_URL": url, "OSA_BROKER_URL": "memory://", "OSA_RESULT_BACKEND": "cache+memory://",
                   "OSA_SECRET_KEYS": "bench-scale-" + name, "OSA_BASE_URL": "https://osa.example.se",
                   "OSA_LOG_LEVEL": "WARNING"}
    try:
        run(args.invitees, environment)
    finally:
        drop_database(name)


def run(count: int, environment: dict[str, str]) -> None:
    os.environ.update(environment)
    from flask_migrate import upgrade

    from service import BUNDLED_EVENTS_DIR, create_app
    from service.db import write_transaction
    from service.eventfile import read_event_file
    from service.events import store_event
    from service.extensions import db

    app = create_app()
    with app.app_context():
        upgrade()
        with write_transaction():
            store_event(read_event_file(BUNDLED_EVENTS_DIR / "innovationsmotet-2021.toml", starts_in_days=14))
        db.engine.dispose()
    with tempfile.NamedTemporaryFile(suffix=".csv") as file:
        file.write(invitee_file(count))
        file.flush()
        print(f"OSA at {count:,} invitees on PostgreSQL (file {Path(file.name).stat().st_size / 2**20:.1f} MB); "
              "each step in a process of its own:")
        created = measured("import", "import", environment, file.name)
        assert created == count, created
    with app.app_context():
        from sqlalchemy import select

        from service.models import Event

        random_answers(db.session.scalar(select(Event)))
        db.engine.dispose()
    written = measured("writing the round's outbox", "round", environment)
    assert written == count, written
    with app.app_context():
        analyze()
        db.engine.dispose()
    measured("dashboard numbers", "dashboard", environment)
    measured("dashboard chart", "chart", environment)
    characters, attached = measured("daily report", "report", environment)
    print(f"    ({characters:,} characters; attached: {', '.join(attached) or 'nothing, it links to the export'})")
    measured("hotel numbers", "hotel", environment)
    measured("CSV export (streamed)", "csv", environment)
    measured("XLSX export", "xlsx", environment)
    reminded = measured("the reminder job", "reminders", environment)
    print(f"    ({reminded:,} reminders written, for those without an answer)")


if __name__ == "__main__":
    main()
