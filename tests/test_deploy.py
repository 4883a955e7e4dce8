"""How OSA runs: the compose file, the Procfile stack against real PostgreSQL, Redis and SMTP,
the one-command demo on the embedded default, its mailbox, and /healthz."""

from __future__ import annotations

import email
import email.policy
import email.utils
import http.cookiejar
import importlib
import importlib.util
import os
import pty
import re
import select
import shlex
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
import pytest
import yaml
from werkzeug.http import parse_options_header

from service.extensions import db
from service.mail.mailbox import MailCatcher
from service.settings import default_settings

from .conftest import BUNDLED_EVENT, make_app, worker_environment
from .support.helpers import csrf_token, free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def check_entry_point(command: list[str]) -> None:
    """The command runs one of OSA's real entry points, as installed in this environment."""
    program = command[0]
    assert (BIN / program).exists(), f"{program} is not installed by pyproject.toml"
    if program == "gunicorn":
        module_name, _, name = command[-1].partition(":")
        assert name == "app" and importlib.util.find_spec(module_name) is not None, command
    elif program == "celery":
        assert command[1] == "-A" and importlib.util.find_spec(command[2]) is not None, command
        assert command[3] in ("worker", "beat"), command
    elif program == "osa":
        help_text = subprocess.run([str(BIN / "osa"), command[1], "--help"], capture_output=True, text=True,
                                   cwd=ROOT, timeout=60)
        assert help_text.returncode == 0, help_text.stderr
        if len(command) > 2:
            assert re.search(rf"^\s+{command[2]}\b", help_text.stdout, re.M), command
    else:
        raise AssertionError(f"unknown program {program}")


def procfile() -> dict[str, list[str]]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {name: shlex.split(rest) for name, _, rest in (line.partition(": ") for line in lines if line.strip())}


def expand(command: list[str], env: dict[str, str]) -> list[str]:
    """${NAME:-default} as a shell would expand it."""
    return [re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m.group(1), m.group(2)), part) for part in command]


# --- The compose file and the Procfile ------------------------------------------------------


def test_the_compose_file_runs_the_real_entry_points_with_known_settings():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"web", "worker", "beat", "db", "redis", "mailpit", "migrate"} <= set(services)
    settings = default_settings()
    for name in ("migrate", "web", "worker", "beat"):
        service = services[name]
        check_entry_point(service["command"])
        for key in service["environment"]:
            assert key.startswith("OSA_") and key[4:] in settings, (name, key)
        assert service["build"] == "."
    assert services["web"]["command"][0] == "gunicorn" and "8000:8000" in services["web"]["ports"]
    assert services["worker"]["command"][3] == "worker" and services["beat"]["command"][3] == "beat"
    assert "deploy" not in services["beat"], "there must be exactly one beat"
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["web"]["environment"]["OSA_SMTP_HOST"] == "mailpit"
    assert services["db"]["image"].startswith("postgres:") and services["redis"]["image"].startswith("redis:")
    dockerfile = (ROOT / "Dockerfile").read_text()
    for folder in ("service", "tasks", "config", "email_templates"):
        assert f"COPY {folder} {folder}" in dockerfile


def test_the_procfile_runs_web_worker_beat_and_migrations():
    lines = procfile()
    assert set(lines) == {"release", "web", "worker", "beat"}
    for command in lines.values():
        check_entry_point(expand(command, {}))


def test_env_example_documents_every_setting():
    text = (ROOT / ".env.example").read_text()
    named = set(re.findall(r"^# OSA_(\w+)=", text, re.M))
    assert named == set(default_settings())


# --- /healthz -------------------------------------------------------------------------------


def test_healthz_fails_without_the_database_and_says_degraded_without_the_broker(app, client, other_app, tmp_path):
    healthy = client.get("/healthz")
    assert healthy.status_code == 200
    assert healthy.get_json() == {"status": "ok", "database": "ok", "broker": "ok"}

    # Pages work without the broker (emails wait in the outbox): a load balancer must keep sending people.
    degraded = other_app(BROKER_URL="redis://127.0.0.1:1/0").test_client().get("/healthz")
    assert degraded.status_code == 200
    assert degraded.get_json() == {"status": "degraded", "database": "ok", "broker": "unreachable"}

    no_database = make_app(f"sqlite:///{tmp_path / 'gone' / 'osa.sqlite3'}")
    failing = no_database.test_client().get("/healthz")
    assert failing.status_code == 503
    assert failing.get_json() == {"status": "failing", "database": "unreachable", "broker": "ok"}


# --- The mailbox ----------------------------------------------------------------------------


def test_the_mailbox_shows_what_the_catcher_caught(tmp_path, other_app, app):
    import smtplib
    from email.message import EmailMessage

    port = free_port()
    catcher = MailCatcher(tmp_path / "mailbox", port=port)
    catcher.start()
    try:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "osa@example.se", "anna@example.se", "Inbjudan: mötet"
        message["Date"] = email.utils.formatdate()
        message.set_content("Svara här: http://127.0.0.1:5000/r/abc\n")
        message.add_alternative('<html><head></head><body><a href="http://127.0.0.1:5000/r/abc">Svara</a></body></html>',
                                subtype="html")
        message.add_attachment("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", subtype="calendar", filename="mote.ics")
        message.add_attachment("Namn;Svar\r\n", subtype="csv", filename="svar – över tid.csv")
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.send_message(message)
    finally:
        catcher.stop()

    client = other_app(MAILBOX_DIR=str(tmp_path / "mailbox")).test_client()
    inbox = client.get("/mailbox/").get_data(as_text=True)
    name = re.search(r'href="/mailbox/([^"]+)"', inbox).group(1)
    assert "Inbjudan: mötet" in inbox and "1 message" in inbox
    page = client.get(f"/mailbox/{name}").get_data(as_text=True)
    assert '<a href="http://127.0.0.1:5000/r/abc" target="_blank" rel="noreferrer">' in page
    assert "mote.ics" in page
    frame = client.get(f"/mailbox/{name}/html")
    assert '<base target="_blank">' in frame.get_data(as_text=True)
    calendar, table = (client.get(path) for path in re.findall(r'href="(/mailbox/[^"]+/part/\d+)"', page))
    assert calendar.data.startswith(b"BEGIN:VCALENDAR") and table.data == b"Namn;Svar\r\n"
    # The name a browser saves it under (RFC 6266: filename*, beside an ASCII filename for old readers), in
    # a header that a WSGI server can send (PEP 3333: Latin-1 only; this one is ASCII).
    disposition = table.headers["Content-Disposition"]
    assert parse_options_header(disposition) == ("attachment", {"filename": "svar – över tid.csv"})
    assert disposition.isascii()
    assert client.get("/mailbox/..%2F..%2Fetc%2Fpasswd").status_code == 404
    assert app.test_client().get("/mailbox/").status_code == 404  # no mailbox outside the demo


# --- The same stack without Docker ----------------------------------------------------------


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.mark.slow
def test_the_procfile_stack_runs_an_invitation_answer_and_confirmation(pg_app, redis_url, smtp, tmp_path):
    port = free_port()
    pg_app.config.update(SMTP_HOST=smtp.host, SMTP_PORT=smtp.port, REDIS_URL=redis_url, SEND_RATE_PER_MINUTE=0)
    env = worker_environment(pg_app, OSA_BASE_URL=f"http://127.0.0.1:{port}", OSA_INSTANCE_PATH=str(tmp_path),
                             OSA_SWEEP_SECONDS="1")
    env.update(PORT=str(port), WEB_CONCURRENCY="2", BEAT_SCHEDULE=str(tmp_path / "beat-schedule"),
               PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")  # as in an activated virtualenv
    lines = procfile()

    def osa(*args: str) -> str:
        done = subprocess.run(expand(lines["release"], env)[:1] + list(args), env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    subprocess.run(expand(lines["release"], env), env=env, cwd=ROOT, check=True, capture_output=True, timeout=120)
    osa("event", "load", str(BUNDLED_EVENT), "--starts-in", "14")
    (tmp_path / "invitees.csv").write_text("namn;e-post;roll\nAnna Andersson;anna@example.se;kso\n", encoding="utf-8")
    osa("invitees", "import", str(tmp_path / "invitees.csv"))

    processes = [subprocess.Popen(expand(lines[name], env), env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
                 for name in ("web", "worker", "beat")]
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: http_ok(base + "/healthz"), 60, "the web app")
        assert "1 invitation queued" in osa("invitations", "send", "--no-wait")
        # Beat runs the scheduled jobs on the real clock (the secretariat's morning report may come too).
        invitation = wait_for(lambda: [m for m in smtp.messages if m.message["Subject"].startswith("Inbjudan")], 60,
                              "the invitation")[0].message
        text_part = invitation.get_body(preferencelist=("plain",)).get_content()
        link = re.search(re.escape(base) + r"/r/\S+", text_part).group(0)

        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        page = browser.open(link, timeout=10).read().decode()
        assert "Hej Anna Andersson!" in page
        token = re.search(r'name="csrf_token"[^>]* value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode({"csrf_token": token, "day_day1": "yes", "transport_day1": "bus",
                                       "meal_dinner-day1": "y", "day_day2": "no"}).encode()
        thanks = browser.open(urllib.request.Request(link, data=form, method="POST"), timeout=10)
        assert "/thanks" in thanks.url and "Tack, Anna Andersson!" in thanks.read().decode()

        confirmation = wait_for(lambda: [m for m in smtp.messages if "Bekräftelse" in m.message["Subject"]], 60,
                                "the confirmation")[0].message
        assert confirmation["To"] == "Anna Andersson <anna@example.se>"
        assert "Middag på hotellet" in confirmation.get_body(preferencelist=("plain",)).get_content()
        assert [p.poll() for p in processes] == [None, None, None]
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(30)


# --- The demo -------------------------------------------------------------------------------


def start_demo(tmp_path, port: int, smtp_port: int, **streams) -> subprocess.Popen:
    """`osa demo` as a terminal runs it: the leader of a session of its own (as a shell's job is of
    its process group), so that a test can send what a terminal sends and find what is left of it.
    Its output is read from a pipe unless `streams` say otherwise."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OSA_")}
    env["OSA_INSTANCE_PATH"] = str(tmp_path / "instance")
    streams = streams or {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
    return subprocess.Popen([str(BIN / "osa"), "demo", "--port", str(port), "--smtp-port", str(smtp_port)],
                            env=env, cwd=ROOT, start_new_session=True, **streams)


def left_of(session: int) -> list[str]:
    """The command lines of the processes still running in the session (what a demo started and did
    not stop), each stopped now so that a failing test leaves nothing behind."""
    left = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if os.getsid(process.pid) == session and process.status() != psutil.STATUS_ZOMBIE:
                left.append(" ".join(process.info["cmdline"] or []))
                process.kill()
        except (ProcessLookupError, psutil.Error):
            pass  # gone meanwhile
    return left


@pytest.mark.slow
def test_the_demo_serves_the_admin_and_a_mailbox_of_40_invitations_and_stops_on_ctrl_c(tmp_path):
    """Started under `nohup` (which ignores the hangup of a closing terminal), the demo keeps running
    through a hangup; Ctrl-C stops it."""
    port, smtp_port = free_port(), free_port()
    demo = start_demo(tmp_path, port, smtp_port, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                      preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    lines: list[str] = []

    def read_output() -> None:  # as it comes, so the test can wait for a line while the demo runs
        for line in demo.stdout:
            lines.append(line)

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: http_ok(base + "/admin/login") and http_ok(base + "/mailbox/"), 90, "the demo's pages")
        os.killpg(demo.pid, signal.SIGHUP)  # the terminal it was started from closes

        def invitations() -> int:
            with urllib.request.urlopen(base + "/mailbox/", timeout=5) as response:
                page = response.read().decode()
            return page.count("<strong>Inbjudan: ") + page.count("<strong>Invitation: ")

        wait_for(lambda: invitations() == 40, 60, "40 invitations in the mailbox")
        assert demo.poll() is None and "Stopping…" not in "".join(lines)  # the hangup did not stop it
        kept = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                for p in (tmp_path / "instance" / "mailbox").glob("*.eml")]
        # Beat runs the scheduled jobs on the real clock (the secretariat's morning report may come too).
        recipients = {m["To"].addresses[0].addr_spec for m in kept if m["Subject"].startswith(("Inbjudan", "Invitation"))}
        assert len(recipients) == 40 and all(r.endswith("@example.se") for r in recipients)
        assert (tmp_path / "instance" / "celery-queue" / "control").is_dir()  # kombu's, kept in the instance
    finally:
        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        wait_for(lambda: "Stopping…" in "".join(lines), 30, "the demo to start stopping")
        try:
            os.killpg(demo.pid, signal.SIGINT)  # and an impatient second Ctrl-C
        except ProcessLookupError:  # already stopped
            pass
        demo.wait(60)
        reader.join(10)
        demo.stdout.close()
    output = "".join(lines)
    assert demo.returncode == 0, output
    assert "Admin:    " + base + "/admin/   (user: admin, password: " in output
    assert "Mailbox:  " + base + "/mailbox/" in output
    assert output.rstrip().endswith("Stopped.")
    # The terminal shows the demo's own lines: not each migration step, nor Celery's banners, nor its
    # English on stopping ("worker: Hitting Ctrl+C again will terminate all running tasks!").
    assert "Running upgrade" not in output and "[config]" not in output and "beat v" not in output
    assert "worker:" not in output and "shutdown" not in output, output
    assert not http_ok(base + "/healthz")
    assert left_of(demo.pid) == []  # nothing of the demo is left running


@pytest.mark.slow
def test_the_demo_stops_whole_when_its_terminal_closes(tmp_path):
    """A terminal that closes sends its session SIGHUP, and what is written to it fails: the demo
    stops the web app, the worker and beat as Ctrl-C does, so the next `make demo` finds its port free."""
    port, smtp_port = free_port(), free_port()
    terminal, demo_side = pty.openpty()
    demo = start_demo(tmp_path, port, smtp_port, stdin=demo_side, stdout=demo_side, stderr=demo_side)
    os.close(demo_side)
    shown = bytearray()

    def running() -> bool:
        while select.select([terminal], [], [], 0)[0]:  # read what the demo shows, so it never waits to write
            try:
                shown.extend(os.read(terminal, 4096))
            except OSError:  # the demo has stopped: nothing more to read
                break
        return b"Ctrl-C" in shown and http_ok(f"http://127.0.0.1:{port}/healthz")

    try:
        wait_for(running, 90, "the demo to run")
    finally:
        os.close(terminal)
        os.killpg(demo.pid, signal.SIGHUP)
        demo.wait(60)
    assert left_of(demo.pid) == []
    assert demo.returncode == 0, shown.decode()
    assert not http_ok(f"http://127.0.0.1:{port}/healthz")


def test_the_demos_password_signs_in_after_a_run_on_another_database(tmp_path):
    """The instance folder keeps one password file: a demo run on another database (OSA_DATABASE_URL)
    writes its account's password there, and the next run on the first database must print one that
    signs in to that database's account."""
    from service.demo import DEMO_USER, prepare

    instance = tmp_path / "instance"
    instance.mkdir()
    for database in ("first", "second", "first"):
        app = make_app(f"sqlite:///{tmp_path / database}.sqlite3", INSTANCE_PATH=str(instance))
        with app.app_context():
            _, password = prepare(instance)
            client = app.test_client()
            page = client.get("/admin/login")
            response = client.post("/admin/login", data={"csrf_token": csrf_token(page), "username": DEMO_USER,
                                                         "password": password})
            db.engine.dispose()
        assert response.status_code == 302 and response.location == "/admin/", database
