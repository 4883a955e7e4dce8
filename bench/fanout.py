"""Benchmark: a round of invitations through OSA's whole pipeline (rendering, signing,
the outbox on PostgreSQL, Celery on Redis, SMTP), against raw `smtplib` sending
the same messages over the same number of connections to the same SMTP sink.

    .venv/bin/python bench/fanout.py [--invitations 10000] [--workers 2]

Prints messages/s for both and the ratio. Run by hand, never in the test run.
Needs PostgreSQL (BENCH_POSTGRES_URL) and Redis (BENCH_REDIS_URL, default db 14).
It makes a database of its own and drops it at the end.
"""

from __future__ import annotations

import argparse
import os
import smtplib
import subprocess
import sys
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.rsvp_http import create_database, drop_database, free_port  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invitations", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
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
        from sqlalchemy import func, select

        from service import BUNDLED_EVENTS_DIR, create_app
        from service.db import db
        from service.eventfile import read_event_file
        from service.events import store_event
        from service.mime import message_bytes
        from service.models import Invitee, Outbox
        from service.notifications import queue_invitations

        app = create_app()
        with app.app_context():
            upgrade()
            event = store_event(read_event_file(BUNDLED_EVENTS_DIR / "innovationsmotet-2021.toml", starts_in_days=14)).event
            db.session.add_all(
                Invitee(event=event, name=f"Bench Invitee {n}", email=f"bench{n}@example.se",
                        email_key=f"bench{n}@example.se", organisation="Skellefteå kommun", language="sv")
                for n in range(args.invitations)
            )
            db.session.commit()
            invitees = list(db.session.scalars(select(Invitee).order_by(Invitee.id)))

            for _ in range(args.workers):
                workers.append(subprocess.Popen(
                    [sys.executable, "-m", "celery", "-A", "tasks.worker", "worker", "--pool", "solo",
                     "--loglevel", "WARNING", "--without-heartbeat", "--without-mingle", "--without-gossip"],
                    cwd=ROOT, env={**os.environ, **environment},
                ))
            time.sleep(5)  # let the workers start before the clock does

            started = time.perf_counter()
            queue_invitations(event, invitees)
            queued = time.perf_counter()
            while True:
                sent = db.session.scalar(select(func.count()).where(Outbox.state == "sent"))
                db.session.rollback()
                if sent >= args.invitations:
                    break
                time.sleep(0.2)
            pipeline_seconds = time.perf_counter() - started

            # The baseline: the very same messages, as bytes, over as many connections.
            messages = [
                (row.sender_address, row.recipient, message_bytes(row))
                for row in db.session.scalars(select(Outbox).order_by(Outbox.id))
            ]
            batch = int(app.config["SEND_BATCH_SIZE"])
            raw_started = time.perf_counter()
            for start in range(0, len(messages), batch):
                with smtplib.SMTP("127.0.0.1", sink_port, timeout=30) as connection:
                    for sender, recipient, data in messages[start:start + batch]:
                        connection.sendmail(sender, [recipient], data)
            raw_seconds = time.perf_counter() - raw_started
            db.engine.dispose()
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(30)
        sink.terminate()
        sink.wait(10)
        drop_database(name)

    pipeline_rate = args.invitations / pipeline_seconds
    raw_rate = args.invitations / raw_seconds
    connections = -(-args.invitations // batch)
    print(f"\n{args.invitations} invitations, {args.workers} worker processes, {connections} SMTP connections, "
          f"{os.cpu_count()} cores")
    print(f"OSA pipeline (render, sign, outbox, Celery, SMTP): {pipeline_seconds:7.1f} s  {pipeline_rate:8.1f} messages/s"
          f"  (writing the outbox took {queued - started:.1f} s)")
    print(f"raw smtplib, same messages and connections:        {raw_seconds:7.1f} s  {raw_rate:8.1f} messages/s")
    print(f"ratio: {pipeline_rate / raw_rate:.2f}")


if __name__ == "__main__":
    main()
