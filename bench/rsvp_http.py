"""Benchmark: OSA's answer page under gunicorn on PostgreSQL, against a hello-world
Flask app under the same gunicorn settings, both measured in one run with wrk.

    .venv/bin/python bench/rsvp_http.py [--seconds 10] [--connections 16] [--workers 4] [--rounds 3]

Prints requests/s, p50 and p99 latency for GET and POST of the answer page and
for the hello-world app, and the ratios. GET is measured in paired rounds (hello
world, then the answer page at once) and the GET ratio is the median round's. The GETs cycle through 400 invitees'
links; they are measured after a first 10 s in which every worker renders and
keeps every page, then 3 s runs until two in a row agree within 5 %; those are
printed too. Run by hand, never in the test run.
Needs PostgreSQL (BENCH_POSTGRES_URL, default the machine's) and wrk
(`apt-get install wrk`). It makes a database of its own and drops it at the end.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
INVITEES = 400
WARM_UP_SECONDS = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def prepare(database_url: str, environment: dict[str, str]) -> list[str]:
    """Migrate, load the bundled event two weeks ahead, add invitees; return their link paths."""
    os.environ.update(environment)
    from flask_migrate import upgrade

    from service import BUNDLED_EVENTS_DIR, create_app
    from service.db import db
    from service.eventfile import read_event_file
    from service.events import store_event
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


def start_gunicorn(app_spec: str, port: int, workers: int, environment: dict[str, str], chdir: Path) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
        "--chdir", str(chdir), "--log-level", "warning", app_spec,
    ]
    process = subprocess.Popen(command, env={**os.environ, **environment})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"gunicorn for {app_spec} did not start")


def lua_table(rows: list[str]) -> str:
    return "{" + ",".join("[[" + row + "]]" for row in rows) + "}"


def get_script(paths: list[str]) -> str:
    return f"""
local paths = {lua_table(paths)}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1])
end
"""


def post_script(base: str, paths: list[str]) -> str:
    """Each request posts one invitee's answer, alternating two answers so every save changes something."""
    requests = []
    for path in paths:
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        html = opener.open(base + path).read().decode()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
        cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
        requests.append((path, cookie, token))
    entries = ",".join(
        f'{{path=[[{p}]], cookie=[[{c}]], token=[[{t}]]}}' for p, c, t in requests
    )
    return f"""
local people = {{{entries}}}
local n = 0
request = function()
  n = n + 1
  local person = people[(n % #people) + 1]
  local dinner = ""
  if (math.floor(n / #people) % 2) == 0 then dinner = "&meal_dinner-day1=y" end
  local body = "csrf_token=" .. person.token .. "&day_day1=yes&transport_day1=own&day_day2=yes&meal_lunch-day1=y" .. dinner
  return wrk.format("POST", person.path, {{
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = person.cookie,
  }}, body)
end
"""


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def run_wrk(url: str, seconds: int, connections: int, script: str | None = None) -> dict[str, float]:
    command = ["wrk", "--latency", "-t", "2", "-c", str(connections), "-d", f"{seconds}s"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        if script:
            handle.write(script)
            command += ["-s", handle.name]
    output = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    os.unlink(handle.name)

    def latency(percent: str) -> float:
        value, unit = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M).groups()
        return float(value) * UNITS[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": latency("50"),
        "p99": latency("99"),
        "errors": int(errors.group(1)) if errors else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="paired rounds of hello world, then GET at once")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install wrk")

    database_url, name = create_database()
    instance = tempfile.mkdtemp(prefix="osa-bench-")
    environment = {
        "OSA_DATABASE_URL": database_url,
        "OSA_SECRET_KEYS": "bench-key",
        "OSA_LINK_RATE_LIMIT": "100000000 per minute",
        "OSA_INSTANCE_PATH": instance,  # the embedded broker and results live here
    }
    servers: list[subprocess.Popen] = []
    try:
        paths = prepare(database_url, environment)
        osa_port, hello_port = free_port(), free_port()
        servers.append(start_gunicorn("service:create_app()", osa_port, args.workers, environment, ROOT))
        servers.append(start_gunicorn("hello_app:app", hello_port, args.workers, {}, ROOT / "bench"))
        osa = f"http://127.0.0.1:{osa_port}"
        hello = f"http://127.0.0.1:{hello_port}"
        run_wrk(hello + "/", 2, args.connections)  # warm up
        # The first openings: each worker renders each page once, then keeps it (service.rsvp.pages).
        first = run_wrk(osa + paths[0], WARM_UP_SECONDS, args.connections, get_script(paths))
        # Then more openings until two runs in a row agree within 5 % (every page kept by every worker).
        settled = [first["rps"]]
        while len(settled) < 8:
            settled.append(run_wrk(osa + paths[0], 3, args.connections, get_script(paths))["rps"])
            if len(settled) > 2 and abs(settled[-1] - settled[-2]) <= 0.05 * settled[-2]:
                break

        # Paired rounds, hello world then the answer page at once, so that the machine's
        # drift (other tenants, the disk) weighs on both sides of each ratio alike.
        rounds = []
        for _ in range(args.rounds):
            baseline = run_wrk(hello + "/", args.seconds, args.connections)
            rounds.append((baseline, run_wrk(osa + paths[0], args.seconds, args.connections, get_script(paths))))
        # Last: every save changes the answers' version, so the pages are rendered again after it.
        post = run_wrk(osa + paths[0], args.seconds, args.connections, post_script(osa, paths))
    finally:
        for server in servers:
            server.terminate()
            server.wait(10)
        drop_database(name)
        shutil.rmtree(instance, ignore_errors=True)

    print(f"\ngunicorn --workers {args.workers} (sync), wrk -t2 -c{args.connections} -d{args.seconds}s, "
          f"PostgreSQL, {INVITEES} invitees, {os.cpu_count()} cores")
    print(f"{'':24} {'requests/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")

    def line(label: str, result: dict[str, float]) -> None:
        print(f"{label:24} {result['rps']:11.1f} {result['p50']:8.2f} {result['p99']:8.2f} {result['errors']:7d}")

    ratios = []
    for number, (baseline, answer) in enumerate(rounds, 1):
        line(f"round {number}: hello world", baseline)
        line(f"round {number}: answer GET", answer)
        ratios.append(answer["rps"] / baseline["rps"])
        print(f"{'':24} ratio {ratios[-1]:.2f}")
    line("answer page POST", post)
    print(f"(the first {WARM_UP_SECONDS} s of GETs, while the {args.workers} workers rendered the {INVITEES} pages: "
          f"{first['rps']:.1f} requests/s, p50 {first['p50']:.2f} ms, p99 {first['p99']:.2f} ms; "
          f"then 3 s runs until two agreed: {', '.join(f'{rps:.0f}' for rps in settled[1:])} requests/s)")
    print(f"\nratio GET  (answer page / hello world): {statistics.median(ratios):.2f} "
          f"(the median round; all rounds: {', '.join(f'{r:.2f}' for r in ratios)})")
    print(f"ratio POST (answer page / hello world, last round's hello): {post['rps'] / rounds[-1][0]['rps']:.2f}")


if __name__ == "__main__":
    main()
