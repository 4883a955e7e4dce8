"""Benchmark: an event with many invitees (a national mailing) on PostgreSQL, step by step.

    .venv/bin/python bench/scale.py [--invitees 50000]

Builds the bundled event with N invitees imported from a CSV file, gives about
70 % of them a random answer (written straight to the tables: that is setup, not
measured), and prints for each step what the secretariat waits and how much the
process's memory grew at its peak (Linux: the peak resident size is reset before
each step through /proc/self/clear_refs):

    the import of the file · writing a round's outbox · the dashboard's numbers ·
    the daily report · the hotel's numbers · the CSV export · the XLSX export

No worker runs and no email is sent (the broker is Celery's in-memory one).
Needs PostgreSQL (BENCH_POSTGRES_URL); it makes a database of its own and drops it.
Run by hand, never in the test run.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import os
import random
import sys
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


def measured(label: str, step):
    """Run `step()`, print its time and its peak memory above where the process stood before it."""
    Path("/proc/self/clear_refs").write_text("5")  # the peak resident size starts again from now
    before = _status("VmRSS")
    started = time.perf_counter()
    result = step()
    seconds = time.perf_counter() - started
    peak = _status("VmHWM") - before
    print(f"  {label:<28} {seconds:8.2f} s   peak +{peak / 2**20:7.1f} MB", flush=True)
    return result


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
    """Answers for about `share` of the invitees, inserted in bulk (setup, not measured)."""
    from sqlalchemy import insert, select

    from service.extensions import db
    from service.models import Invitee, Response, ResponseDay, response_meal

    rng = random.Random(2021)
    ids = list(db.session.scalars(select(Invitee.id).where(Invitee.event_id == event.id)))
    answered = [invitee_id for invitee_id in ids if rng.random() < share]
    now = dt.datetime.now(dt.timezone.utc)
    db.session.execute(insert(Response), [{"invitee_id": i, "allergies": "", "comment": "", "created_at": now,
                                           "updated_at": now} for i in answered])
    responses = dict(db.session.execute(select(Response.invitee_id, Response.id)).all())
    days = {day.key: day.id for day in event.days}
    options = [option.id for option in event.transport_options if option.capacity is None]
    meals = [meal.id for meal in event.meals]
    day_rows, meal_rows = [], []
    for invitee_id in answered:
        response_id = responses[invitee_id]
        coming = rng.random() < 0.85
        for key, day_id in days.items():
            attending = coming and rng.random() < 0.9
            day_rows.append({"response_id": response_id, "day_id": day_id, "attending": attending,
                             "transport_option_id": rng.choice(options) if attending and key == "day1" else None,
                             "flight_number": ""})
        if coming:
            meal_rows += [{"response_id": response_id, "meal_id": meal_id} for meal_id in meals if rng.random() < 0.7]
    db.session.execute(insert(ResponseDay), day_rows)
    db.session.execute(insert(response_meal), meal_rows)
    db.session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invitees", type=int, default=50_000)
    args = parser.parse_args()
    url, name = create_database()
    os.environ.update({"OSA_DATABASE_URL": url, "OSA_BROKER_URL": "memory://", "OSA_RESULT_BACKEND": "cache+memory://",
                       "OSA_SECRET_KEYS": "bench-scale-" + name,
                       "OSA_BASE_URL": "https://osa.example.se"})
    try:
        run(args.invitees)
    finally:
        drop_database(name)


def run(count: int) -> None:
    from flask_migrate import upgrade

    from service import BUNDLED_EVENTS_DIR, create_app
    from service.db import utcnow, write_transaction
    from service.eventfile import read_event_file
    from service.events import store_event
    from service.extensions import db
    from service.headcount import headcount, hotel_numbers
    from service.invitee_import import import_invitees
    from service.mail.compose import invitation_progress, invitees_to_invite, queue_invitations, render_daily_report
    from service.reports import answers_csv, answers_workbook

    app = create_app()
    with app.app_context(), app.test_request_context():
        upgrade()
        with write_transaction():
            event = store_event(read_event_file(BUNDLED_EVENTS_DIR / "innovationsmotet-2021.toml",
                                                starts_in_days=14)).event
        event_id = event.id
        data = invitee_file(count)
        print(f"OSA at {count:,} invitees on PostgreSQL (file {len(data) / 2**20:.1f} MB), "
              f"process at {_status('VmRSS') / 2**20:.0f} MB before the first step:")

        def import_file():
            with write_transaction():
                return import_invitees(db.session.get(type(event), event_id), "inbjudna.csv", data)

        result = measured("import", import_file)
        assert result.created == count, result
        db.session.expire_all()
        event = db.session.get(type(event), event_id)
        random_answers(event)

        def write_round():
            written = queue_invitations(event, invitees_to_invite(event))
            db.session.expire_all()
            return written

        written = measured("writing the round's outbox", write_round)
        assert written == count, written
        event = db.session.get(type(event), event_id)
        measured("dashboard numbers", lambda: (headcount(event, "sv"), invitation_progress(event)))
        now = utcnow()
        measured("daily report", lambda: render_daily_report(event, now, now - dt.timedelta(days=1), 0))
        measured("hotel numbers", lambda: hotel_numbers(event))
        measured("CSV export", lambda: answers_csv(event, "sv"))
        measured("XLSX export", lambda: answers_workbook(event, "sv"))
        db.session.rollback()
        db.engine.dispose()


if __name__ == "__main__":
    main()
