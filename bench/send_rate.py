"""Benchmark: does a round keep to the relay's rate, and come close to it? And how long does an
invitee who answers during the round wait for the confirmation? What the secretariat and invitees feel.

    .venv/bin/python bench/send_rate.py [--invitations 240] [--rate 120] [--workers 2] [--answers 10]

N invitations go through OSA's whole pipeline (outbox on PostgreSQL, Celery on Redis, the shared
send rate) to an SMTP server in this process that notes when each message arrives. While the round
runs, invitees who already have their invitation answer through the answer page (Flask, as a browser
would post it). Prints the round's time against N / rate (how close OSA comes to what the relay
allows: 1.00 is the relay's own limit), the most messages any 60 seconds at the server held (never
more than the rate), and how long each confirmation took from the answer to the server.
Run by hand, never in the test run. Needs PostgreSQL (BENCH_POSTGRES_URL) and Redis
(BENCH_REDIS_URL, default db 14); it makes a database of its own and drops it at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from email.parser import BytesHeaderParser
from email.policy import default
from pathlib import Path

import redis
from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fanout import REDIS_URL, bundled_event_with_invitees, start_workers  # noqa: E402
from bench.rsvp_load import create_database, drop_database  # noqa: E402
from tests.support.helpers import csrf_token, free_port  # noqa: E402


class Arrivals:
    """An SMTP handler that notes when each message has arrived (the end of its DATA), and when
    each recipient's confirmation did."""

    def __init__(self):
        self.times: list[float] = []
        self.confirmed: dict[str, float] = {}
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        arrived = time.monotonic()
        subject = BytesHeaderParser(policy=default).parsebytes(envelope.content)["Subject"]
        with self.lock:
            if subject.startswith("Bekräftelse"):
                self.confirmed[envelope.rcpt_tos[0]] = arrived
            else:
                self.times.append(arrived)
        return "250 OK"


def answer_during_round(app, links: dict[str, str], arrivals: Arrivals, count: int, started: float,
                        nominal: float) -> dict[str, float]:
    """`count` invitees whose invitation has arrived answer at even steps from 10 % to 80 % of the
    round's nominal time, each through the answer page; when each answer was saved, by address."""
    client = app.test_client()
    answered: dict[str, float] = {}
    for step in range(count):
        time.sleep(max(0.0, started + nominal * (0.1 + 0.7 * step / max(1, count - 1)) - time.monotonic()))
        with arrivals.lock:
            invited = len(arrivals.times)
        address = next(a for a in list(links)[:invited][::-1] if a not in answered)
        page = client.get(links[address])
        saved = client.post(links[address], data={"csrf_token": csrf_token(page), "day_day1": "yes",
                                                  "transport_day1": "bus", "day_day2": "yes", "meal_lunch-day1": "y"})
        if saved.status_code != 303:
            raise SystemExit(f"an answer during the round got {saved.status_code}")
        answered[address] = time.monotonic()
    return answered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invitations", type=int, default=240)
    parser.add_argument("--rate", type=int, default=120, help="SEND_RATE_PER_MINUTE")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--answers", type=int, default=10, help="invitees who answer during the round")
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
        from service.links import make_token
        from service.mail.compose import queue_invitations

        app = create_app()
        with app.app_context():
            upgrade()
            event, invitees = bundled_event_with_invitees(args.invitations)
            # In the order the round sends them, so those who answer already have their invitation.
            links = {invitee.email: f"/r/{make_token(invitee)}" for invitee in invitees}
            workers += start_workers(args.workers, environment)
            started = time.monotonic()
            queue_invitations(event, invitees)
            # What the relay's rate allows for the round and the confirmations that go in it.
            nominal = (args.invitations + args.answers) * 60.0 / args.rate
            answered: dict[str, float] = {}
            answering = threading.Thread(target=lambda: answered.update(
                answer_during_round(app, links, arrivals, args.answers, started, nominal)))
            answering.start()
            deadline = started + 3 * nominal + 60
            while (len(arrivals.times) < args.invitations or len(arrivals.confirmed) < args.answers) \
                    and time.monotonic() < deadline:
                time.sleep(0.2)
            answering.join()
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
    everything = sorted(times + list(arrivals.confirmed.values()))
    busiest = max(sum(1 for t in everything if start <= t < start + 60.0) for start in everything)
    print(f"\n{args.invitations} invitations at {args.rate} a minute, {args.workers} worker processes, "
          f"{os.cpu_count()} cores")
    print(f"round: {took:.1f} s from the click to the last arrival; (N + answers) / rate = {nominal:.1f} s; "
          f"ratio {took / nominal:.3f}")
    print(f"busiest 60 s at the server: {busiest} messages (the rate allows {args.rate})")
    if answered:
        waits = [arrivals.confirmed[address] - at for address, at in answered.items() if address in arrivals.confirmed]
        print(f"confirmations to {len(answered)} invitees who answered during the round: {len(waits)} arrived, "
              f"waited p50 {statistics.median(waits):.1f} s, max {max(waits):.1f} s "
              f"(the rate allows a message every {60.0 / args.rate:.1f} s)")


if __name__ == "__main__":
    main()
