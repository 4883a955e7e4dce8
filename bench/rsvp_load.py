"""Load check: the answer page at a realistic rate, as invitees feel it.

    .venv/bin/python bench/rsvp_load.py [--rate 50] [--seconds 60] [--workers 2] [--posts 0.2]

400 invitees' links on PostgreSQL, served by gunicorn (2 sync workers). Requests
start at a fixed rate whatever the server does (an open loop, so a slow answer
delays nobody's start and is counted from when it should have started): GETs of
the links and, for a share of them, an answer POSTed with the page's form token.
Prints p50, p99 and the slowest latency, the rate reached, and every error.
Run by hand, never in the test run. Needs PostgreSQL (BENCH_POSTGRES_URL, default
the machine's); it makes a database of its own and drops it at the end.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.helpers import free_port, wait_for  # noqa: E402

POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
INVITEES = 400


def create_database() -> tuple[str, str]:
    name = f"osa_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return sa.engine.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False), name


def drop_database(name: str) -> None:
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def prepare(environment: dict[str, str]) -> list[str]:
    """Migrate, load the bundled event two weeks ahead, add invitees; return their link paths."""
    os.environ.update(environment)
    from flask_migrate import upgrade

    from service import BUNDLED_EVENTS_DIR, create_app
    from service.eventfile import read_event_file
    from service.events import store_event
    from service.extensions import db
    from service.links import make_token
    from service.models import Invitee

    app = create_app()
    with app.app_context():
        upgrade()
        event = store_event(read_event_file(BUNDLED_EVENTS_DIR / "innovationsmotet-2021.toml", starts_in_days=14)).event
        invitees = [
            Invitee(event=event, name=f"Bench Invitee {n}", email=f"bench{n}@example.se",
                    email_key=f"bench{n}@example.se", organisation="Skellefteå kommun", language="sv")
            for n in range(INVITEES)
        ]
        db.session.add_all(invitees)
        db.session.commit()
        paths = [f"/r/{make_token(invitee)}" for invitee in invitees]
        db.engine.dispose()
    return paths


def request(port: int, method: str, path: str, body: str | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def answers(port: int) -> bool:
    try:
        return request(port, "GET", "/healthz")[0] in (200, 503)
    except OSError:
        return False


def answer_body(token: str, seen: str, with_dinner: bool) -> str:
    form = {"csrf_token": token, "seen": seen, "day_day1": "yes", "transport_day1": "own", "day_day2": "yes",
            "meal_lunch-day1": "y"}
    if with_dinner:
        form["meal_dinner-day1"] = "y"
    return urllib.parse.urlencode(form)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="requests started per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn's sync workers")
    parser.add_argument("--posts", type=float, default=0.2, help="the share of requests that POST an answer")
    args = parser.parse_args()

    database_url, name = create_database()
    instance = tempfile.mkdtemp(prefix="osa-bench-")
    environment = {
        "OSA_DATABASE_URL": database_url,
        "OSA_SECRET_KEYS": "bench-key",
        "OSA_LINK_RATE_LIMIT": "100000000 per minute",  # one address sends every request here
        "OSA_INSTANCE_PATH": instance,  # the embedded broker and results live here
    }
    server = None
    try:
        paths = prepare(environment)
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", str(args.workers), "--bind", f"127.0.0.1:{port}",
             "--log-level", "warning", "service.wsgi:app"],
            env={**os.environ, **environment}, cwd=ROOT,
        )
        wait_for(lambda: answers(port), 60, "gunicorn to start")
        # Each invitee opens their link once first, as after the invitation; the form's token and its
        # note of the answer's changes come from it, and every POST sends them as a browser would.
        tokens = {}
        for path in paths:
            status, page = request(port, "GET", path)
            tokens[path] = tuple(re.search(rb'name="%s" type="hidden" value="([^"]*)"' % name, page).group(1).decode()
                                 for name in (b"csrf_token", b"seen"))

        total = int(args.rate * args.seconds)
        every_post = max(1, round(1 / args.posts)) if args.posts > 0 else 0
        latencies: list[tuple[str, float]] = []
        errors: list[str] = []
        lock = threading.Lock()

        def visit(number: int, due: float) -> None:
            path = paths[number % len(paths)]
            posting = every_post and number % every_post == 0
            try:
                if posting:
                    status, _ = request(port, "POST", path, answer_body(*tokens[path], (number // len(paths)) % 2 == 0))
                    ok = status == 303
                else:
                    status, _ = request(port, "GET", path)
                    ok = status == 200
            except OSError as error:
                ok, status = False, type(error).__name__
            finished = time.monotonic()
            with lock:
                latencies.append(("POST" if posting else "GET", (finished - due) * 1000))
                if not ok:
                    errors.append(f"{'POST' if posting else 'GET'} {status}")

        start = time.monotonic() + 0.5
        with ThreadPoolExecutor(max_workers=64) as pool:
            for number in range(total):
                due = start + number / args.rate
                time.sleep(max(0.0, due - time.monotonic()))
                pool.submit(visit, number, due)
        elapsed = time.monotonic() - start
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        drop_database(name)
        shutil.rmtree(instance, ignore_errors=True)

    def summary(label: str, values: list[float]) -> None:
        values = sorted(values)
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        print(f"{label:8} {len(values):7d} {statistics.median(values):8.1f} {p99:8.1f} {values[-1]:8.1f}")

    print(f"\n{total} requests at {args.rate:g}/s for {args.seconds:g} s ({total / elapsed:.1f}/s reached), "
          f"gunicorn --workers {args.workers}, PostgreSQL, {INVITEES} invitees, {os.cpu_count()} cores")
    print(f"{'':8} {'count':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    summary("GET", [ms for kind, ms in latencies if kind == "GET"])
    if every_post:
        summary("POST", [ms for kind, ms in latencies if kind == "POST"])
    summary("all", [ms for _, ms in latencies])
    print(f"errors: {len(errors)}" + (f" ({', '.join(sorted(set(errors)))})" if errors else ""))


if __name__ == "__main__":
    main()
