"""Benchmark: a round of invitations through OSA's whole pipeline (the outbox on
PostgreSQL, Celery on Redis, the worker rendering and signing each invitation as it
sends it, SMTP), against raw `smtplib` sending the same messages over the same
number of connections to the same SMTP sink.

    .venv/bin/python bench/fanout.py [--invitations 10000] [--workers 2] [--rounds 3]

Each round sends the whole round through OSA and then, at once, the same messages
with raw smtplib, so the two meet the machine in the same state; the ratio printed
is the median round's, with every round's beside it. Run by hand, never in the test run.
Needs PostgreSQL (BENCH_POSTGRES_URL) and Redis (BENCH_REDIS_URL, default db 14).
It makes a database of its own and drops it at the end.
"""

from __future__ import annotations

import argparse
import os
import smtplib
import statistics
import subprocess
import sys
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.rsvp_load import create_database, drop_database  # noqa: E402
from tests.support.helpers import free_port  # noqa: E402

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def start_sink(port: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, str(ROOT / "bench" / "smtp_sink.py"), str(port)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            smtplib.SMTP("127.0.0.1", port, timeout=1).quit()
            return process
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the SMTP sink did not start")


def bundled_event_with_invitees(count: int):
    """In an app context: the bundled event two weeks ahead, and `count` invitees of it."""
    from sqlalchemy import select

    from service import BUNDLED_EVENTS_DIR
    from service.eventfile import read_event_file
    from service.events import store_event
    from service.extensions import db
    from service.models import Invitee

    event = store_event(read_event_file(BUNDLED_EVENTS_DIR / "innovationsmotet-2021.toml", starts_in_days=14)).event
    db.session.add_all(
        Invitee(event=event, name=f"Bench Invitee {n}", email=f"bench{n}@example.se",
                email_key=f"bench{n}@example.se", organisation="Skellefteå kommun", language="sv")
        for n in range(count)
    )
    db.session.commit()
    return event, list(db.session.scalars(select(Invitee).order_by(Invitee.id)))


def start_workers(count: int, environment: dict[str, str]) -> list[subprocess.Popen]:
    """`count` Celery worker processes with OSA's settings in `environment`, given time to start."""
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tasks.worker", "worker", "--pool", "solo",
             "--loglevel", "WARNING", "--without-heartbeat", "--without-mingle", "--without-gossip"],
            cwd=ROOT, env={**os.environ, **environment},
        )
        for _ in range(count)
    ]
    time.sleep(5)  # let the workers start before the clock does
    return workers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invitations", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of both, each pipeline round followed at once by its raw round")
    args = parser.parse_args()

    database_url, name = create_database()
    redis.Redis.from_url(REDIS_URL).flushdb()
    sink_port = free_port()
    environment = {
        "OSA_DATABASE_URL": database_url,
        "OSA_BROKER_URL": REDIS_URL,
        "OSA_RESULT_BACKEND": REDIS_URL,
        "OSA_REDIS_URL": REDIS_URL,
        "OSA_SECRET_KEYS": "bench-key",
        "OSA_SMTP_HOST": "127.0.0.1",
        "OSA_SMTP_PORT": str(sink_port),
        "OSA_SEND_RATE_PER_MINUTE": "0",
        "OSA_SEND_BATCH_SIZE": "50",
    }
    os.environ.update(environment)
    sink = start_sink(sink_port)
    workers: list[subprocess.Popen] = []
    try:
        from flask_migrate import upgrade
        from sqlalchemy import select, text

        from service import create_app
        from service.extensions import db
        from service.mail.compose import queue_invitations
        from service.mail.delivery import build_message
        from service.models import Outbox

        app = create_app()
        with app.app_context():
            upgrade()
            event, invitees = bundled_event_with_invitees(args.invitations)
            workers += start_workers(args.workers, environment)

            batch = int(app.config["SEND_BATCH_SIZE"])
            results = []
            for round_ in range(args.rounds):
                if round_:
                    db.session.execute(text("TRUNCATE outbox CASCADE"))  # the same round again, from an empty outbox (and its reports)
                    db.session.commit()
                pipeline_seconds, writing_seconds = send_round(db, queue_invitations, event, invitees)
                # The baseline, right after: the very same messages, as bytes, over as many connections.
                messages = [
                    (row.sender_address, row.recipient, build_message(row).as_bytes())
                    for row in db.session.scalars(select(Outbox).order_by(Outbox.id))
                ]
                db.session.rollback()
                raw_seconds = send_raw(messages, batch, sink_port)
                results.append((pipeline_seconds, writing_seconds, raw_seconds))
                print(f"round {round_ + 1}: pipeline {args.invitations / pipeline_seconds:6.1f} messages/s, "
                      f"raw {args.invitations / raw_seconds:6.1f} messages/s, "
                      f"ratio {raw_seconds / pipeline_seconds:.2f} (writing {writing_seconds:.1f} s)", flush=True)
            db.engine.dispose()
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(30)
        sink.terminate()
        sink.wait(10)
        drop_database(name)

    connections = -(-args.invitations // batch)
    ratios = sorted(raw / pipeline for pipeline, _, raw in results)
    median = statistics.median(ratios)
    pipeline_seconds, writing_seconds, raw_seconds = min(results, key=lambda r: abs(r[2] / r[0] - median))
    print(f"\n{args.invitations} invitations, {args.workers} worker processes, {connections} SMTP connections, "
          f"{os.cpu_count()} cores, {args.rounds} rounds (each the pipeline, then raw smtplib at once after it)")
    print(f"OSA pipeline (render, sign, outbox, Celery, SMTP): {pipeline_seconds:7.1f} s  "
          f"{args.invitations / pipeline_seconds:8.1f} messages/s  (writing the outbox took {writing_seconds:.1f} s)")
    print(f"raw smtplib, same messages and connections:        {raw_seconds:7.1f} s  "
          f"{args.invitations / raw_seconds:8.1f} messages/s")
    print(f"ratio: {median:.2f} (the median round above; all rounds: {', '.join(f'{r:.2f}' for r in ratios)})")


def send_round(db, queue_invitations, event, invitees) -> tuple[float, float]:
    """Write the round to the outbox and wait until the workers have sent all of it:
    (seconds in all, seconds writing)."""
    from sqlalchemy import func, select

    from service.models import Outbox

    started = time.perf_counter()
    queue_invitations(event, invitees)
    queued = time.perf_counter()
    while True:
        sent = db.session.scalar(select(func.count()).where(Outbox.state == "sent"))
        db.session.rollback()
        if sent >= len(invitees):
            return time.perf_counter() - started, queued - started
        time.sleep(0.2)


def send_raw(messages: list[tuple[str, str, bytes]], batch: int, port: int) -> float:
    """Seconds raw `smtplib` takes to send the messages, `batch` to a connection."""
    started = time.perf_counter()
    for start in range(0, len(messages), batch):
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as connection:
            for sender, recipient, data in messages[start:start + batch]:
                connection.sendmail(sender, [recipient], data)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
