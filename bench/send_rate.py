"""Benchmark: does a round keep to the relay's rate, and come close to it? What the secretariat feels.

    .venv/bin/python bench/send_rate.py [--invitations 240] [--rate 120] [--workers 2]

N invitations go through OSA's whole pipeline (outbox on PostgreSQL, Celery on Redis, the shared
send rate) to an SMTP server in this process that notes when each message arrives. Prints the
round's time against N / rate (how close OSA comes to what the relay allows: 1.00 is the relay's
own limit) and the most messages any 60 seconds at the server held (never more than the rate).
Run by hand, never in the test run. Needs PostgreSQL (BENCH_POSTGRES_URL) and Redis
(BENCH_REDIS_URL, default db 14); it makes a database of its own and drops it at the end.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import redis
from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fanout import REDIS_URL, bundled_event_with_invitees, start_workers  # noqa: E402
from bench.rsvp_load import create_database, drop_database  # noqa: E402
from tests.support.helpers import free_port  # noqa: E402


class Arrivals:
    """An SMTP handler that notes when each message has arrived (the end of its DATA)."""

    def __init__(self):
        self.times: list[float] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.times.append(time.monotonic())
        return "250 OK"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invitations", type=int, default=240)
    parser.add_argument("--rate", type=int, default=120, help="SEND_RATE_PER_MINUTE")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    database_url, name = create_database()
    redis.Redis.from_url(REDIS_URL).flushdb()
    arrivals = Arrivals()
    port = free_port()
    sink = Controller(arrivals, hostname="127.0.0.1", port=port)
    sink.start()
    environment = {
        "OSA_DATABASE_URL": database_url, "OSA_BROKER_URL": REDIS_URL, "OSA_RESULT_BACKEND": REDIS_URL,
        "OSA_REDIS_URL": REDIS_URL, "OSA_SECRET_KEYS": "bench-key", "OSA_SMTP_HOST": "127.0.0.1",
        "OSA_SMTP_PORT": str(port), "OSA_SEND_RATE_PER_MINUTE": str(args.rate), "OSA_SEND_BATCH_SIZE": "50",
    }
    os.environ.update(environment)
    workers: list[subprocess.Popen] = []
    try:
        from flask_migrate import upgrade

        from service import create_app
        from service.extensions import db
        from service.mail.compose import queue_invitations

        app = create_app()
        with app.app_context():
            upgrade()
            event, invitees = bundled_event_with_invitees(args.invitations)
            workers += start_workers(args.workers, environment)
            started = time.monotonic()
            queue_invitations(event, invitees)
            nominal = args.invitations * 60.0 / args.rate
            while len(arrivals.times) < args.invitations and time.monotonic() - started < 3 * nominal + 60:
                time.sleep(0.2)
            db.engine.dispose()
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(60)
        sink.stop()
        drop_database(name)

    times = sorted(arrivals.times)
    if len(times) < args.invitations:
        raise SystemExit(f"only {len(times)} of {args.invitations} arrived")
    took = times[-1] - started
    busiest = max(sum(1 for t in times if start <= t < start + 60.0) for start in times)
    print(f"\n{args.invitations} invitations at {args.rate} a minute, {args.workers} worker processes, "
          f"{os.cpu_count()} cores")
    print(f"round: {took:.1f} s from the click to the last arrival; N / rate = {nominal:.1f} s; "
          f"ratio {took / nominal:.3f}")
    print(f"busiest 60 s at the server: {busiest} messages (the rate allows {args.rate})")


if __name__ == "__main__":
    main()
