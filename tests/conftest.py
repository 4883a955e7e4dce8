"""Test harness: real databases, Redis, SMTP server and Celery worker.

- Servers: the run uses the PostgreSQL and Redis that answer at the test addresses,
  or starts its own for the run (tests/support/servers.py); the pytest header says which.
  When neither can be had, the run stops at once with one message saying what to do.
- `database_url`: a migrated database. A test runs on a SQLite file; a test marked
  `both_backends` (locking, concurrency, migrations, SQL that differs) runs on that
  and on a fresh PostgreSQL database made for this run (dropped at the end).
- `app`, `client`, `runner`: the Flask app on that database, emptied after each test.
- `event`: the bundled example event (the Skellefteå meeting), loaded from its file.
- `redis_url`: a Redis database number of the run's own, flushed around each test.
- `smtp`: an aiosmtpd server in the test process that records every message.
- `celery_worker`: a real Celery worker thread on Redis running the app's tasks.
- `bounce_mailbox`: a real IMAP server (dovecot) with the bounce mailbox, which the app reads.

Settings for the servers: TEST_POSTGRES_URL, TEST_REDIS_URL (by default the run takes a free
database number on the machine's Redis, so two runs at once do not collide).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import redis as redis_lib
import sqlalchemy as sa
import time_machine
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from service import BUNDLED_EVENTS_DIR, create_app
from service.eventfile import read_event_file
from service.events import store_event
from service.extensions import db
from service.links import make_token
from service.models import Invitee

from .support.helpers import csrf_token, free_port, page_text
from .support.servers import OwnRedis, Servers, ServerUnavailable, find_or_start_servers
from .support.smtp import RecordingSMTPServer

_RUN_CLAIM = "osa:test-run"
#: The run's servers, found or started in pytest_sessionstart.
SERVERS: Servers | None = None


def pytest_sessionstart(session):
    """Find or start PostgreSQL and Redis before anything else, or stop the run with one clear message."""
    global SERVERS
    try:
        SERVERS = find_or_start_servers()
    except ServerUnavailable as error:
        pytest.exit(f"OSA's tests cannot run: {error}.", returncode=3)


def pytest_report_header(config):
    return SERVERS.notes if SERVERS else []


def _claim_redis_database(server: str) -> str:
    """A Redis database number no other test run is using, so runs on one machine cannot collide:
    each run marks the database it takes with a key that expires if the run dies."""
    for number in (11, 12, 13, 15, 10, 9, 8, 7):  # 14 is bench/fanout.py's
        client = redis_lib.Redis.from_url(f"{server}/{number}")
        try:
            if client.set(_RUN_CLAIM, os.getpid(), nx=True, ex=3 * 3600):
                return f"{server}/{number}"
        finally:
            client.close()
    raise RuntimeError("every test Redis database is taken by another run")


@functools.cache
def run_redis_url() -> str:
    """The Redis database this run uses (broker, result store, rate limits, send throttle), claimed at first use."""
    return SERVERS.redis_url or _claim_redis_database(SERVERS.redis_server)


BUNDLED_EVENT = BUNDLED_EVENTS_DIR / "innovationsmotet-2021.toml"
BACKENDS = ("sqlite", "postgresql")


def _create_postgres_database(options: str = "") -> tuple[str, str]:
    """Create an empty database for this run on the run's PostgreSQL (with CREATE DATABASE's `options`,
    such as its locale); return its URL and name."""
    name = f"osa_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(SERVERS.postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}" {options}'))
    finally:
        admin.dispose()
    return sa.engine.make_url(SERVERS.postgres_url).set(database=name).render_as_string(hide_password=False), name


def _drop_postgres_database(name: str) -> None:
    admin = sa.create_engine(SERVERS.postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextlib.contextmanager
def database_restarting(database_url: str):
    """The database as while PostgreSQL restarts: every connection to it cut, and new ones refused."""
    name = sa.engine.make_url(database_url).database
    admin = sa.create_engine(SERVERS.postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            connection.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                               {"name": name})
        yield
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()


class IsolatedClient(FlaskClient):
    """A test client whose every request runs in a fresh context, as on a real server:
    its own app context, `g` and database session, not the test's."""

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


def make_app(database_url: str, **settings):
    """The app as tests run it: the given database, test keys, Redis for Celery."""
    config = {
        "DATABASE_URL": database_url,
        "SECRET_KEYS": ["test-key-new", "test-key-old"],
        "BROKER_URL": run_redis_url(),
        "RESULT_BACKEND": run_redis_url(),
        "BASE_URL": "http://osa.example.se",
        # Tests open many links from one address; the rate limit has its own test.
        "LINK_RATE_LIMIT": "10000 per minute",
        "LOGIN_RATE_LIMIT": "10000 per minute",
        "TESTING": True,
    }
    config.update(settings)
    app = create_app(config)
    app.test_client_class = IsolatedClient
    return app


def migrate_to_head(database_url: str) -> None:
    from flask_migrate import upgrade

    app = make_app(database_url)
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def postgres_url():
    url, name = _create_postgres_database()
    yield url
    _drop_postgres_database(name)


def pytest_generate_tests(metafunc):
    """A database test runs on SQLite; one marked `both_backends` runs on PostgreSQL too."""
    if "database_url" in metafunc.fixturenames:
        both = metafunc.definition.get_closest_marker("both_backends") is not None
        metafunc.parametrize("database_url", BACKENDS if both else BACKENDS[:1], indirect=True, scope="session")


@pytest.fixture(scope="session")
def database_url(request, tmp_path_factory):
    """A migrated database of the backend the test is parametrized with (see pytest_generate_tests)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'osa.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    migrate_to_head(url)
    return url


def _empty_database() -> None:
    tables = [table.name for table in reversed(db.metadata.sorted_tables)]
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(sa.text(f"DELETE FROM {table}"))


@pytest.fixture
def app(database_url):
    app = make_app(database_url)
    with app.app_context():
        yield app
        db.session.remove()
        _empty_database()
        db.engine.dispose()


@pytest.fixture
def other_app(database_url):
    """Make more apps on the test database (other keys, other limits); their engines are closed after."""
    apps = []

    def make(**settings):
        apps.append(make_app(database_url, **settings))
        return apps[-1]

    yield make
    for made in apps:
        with made.app_context():
            db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


#: A terminal set to no language in particular: `osa` answers in English.
ENGLISH_TERMINAL = {"LANGUAGE": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": "C.UTF-8"}
#: A terminal set to Swedish on a server without the Swedish locale installed: Python sets LC_CTYPE to
#: C.UTF-8 (PEP 538), which must not make `osa` speak English.
SWEDISH_TERMINAL = {"LANGUAGE": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": "sv_SE.UTF-8", "LC_CTYPE": "C.UTF-8"}


@pytest.fixture
def runner(app):
    return app.test_cli_runner(env=ENGLISH_TERMINAL)


@pytest.fixture
def event(app):
    """The bundled Skellefteå meeting, loaded from its file as `osa event load` does."""
    result = store_event(read_event_file(BUNDLED_EVENT))
    db.session.commit()
    return result.event


def waiting_on_a_lock(database_url: str) -> int:
    """How many connections to the database wait for another transaction's lock (PostgreSQL)."""
    engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")  # statistics are read afresh
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = :name AND wait_event_type = 'Lock'"),
                {"name": engine.url.database}).scalar()
    finally:
        engine.dispose()


@pytest.fixture
def redis_url():
    """The run's Redis database, empty at the start and the end of the test."""
    url = run_redis_url()
    client = redis_lib.Redis.from_url(url)
    client.flushdb()
    client.set(_RUN_CLAIM, os.getpid(), ex=3 * 3600)
    yield url
    client.flushdb()
    client.set(_RUN_CLAIM, os.getpid(), ex=3 * 3600)
    client.close()


def pytest_sessionfinish(session, exitstatus):
    """Give the run's Redis database back."""
    if SERVERS is None:
        return
    if run_redis_url.cache_info().currsize and not SERVERS.redis_url:
        client = redis_lib.Redis.from_url(run_redis_url())
        try:
            if client.get(_RUN_CLAIM) == str(os.getpid()).encode():
                client.delete(_RUN_CLAIM)
        except redis_lib.ConnectionError:
            pass
        finally:
            client.close()


def pytest_unconfigure(config):
    """Stop the servers the run started, after every fixture is torn down."""
    if SERVERS is not None:
        SERVERS.stop()


@pytest.fixture
def smtp():
    server = RecordingSMTPServer(port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def bounce_mailbox(app):
    """A real IMAP server (dovecot, over TLS) holding the bounce mailbox, and the app set to read it."""
    from .support.imap import start_dovecot

    # Not under pytest's tmp_path: its folders are private to the user, and dovecot's own users must enter.
    folder = Path(tempfile.mkdtemp(prefix="osa-dovecot-"))
    folder.chmod(0o755)
    try:
        server = start_dovecot(folder)
    except RuntimeError as error:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(str(error))
    app.config.update(server.settings())
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def real_reports():
    """The 117 real-world delivery reports of flufl.bounce's source distribution, and what its own
    tests expect of each (downloaded once into .cache/)."""
    from .support.imap import flufl_reports

    try:
        return flufl_reports()
    except RuntimeError as error:
        pytest.skip(str(error))


@pytest.fixture
def celery_worker(app, redis_url):
    from celery.contrib.testing.worker import start_worker

    celery_app = app.extensions["celery"]
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30) as worker:
        yield worker


@pytest.fixture
def fixtures_dir() -> Path:
    return Path(__file__).parent / "fixtures"


def pytest_terminal_summary(terminalreporter):
    """Say how many database tests ran on each backend, so a run shows both were used."""
    counts: Counter[tuple[str, str]] = Counter()
    for outcome in ("passed", "failed", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") != "call" and outcome != "error":
                continue
            for backend in BACKENDS:
                if f"[{backend}" in report.nodeid or f"-{backend}]" in report.nodeid or f"-{backend}-" in report.nodeid:
                    counts[(backend, outcome)] += 1
    if counts:
        parts = []
        for backend in BACKENDS:
            done = ", ".join(f"{counts[(backend, o)]} {o}" for o in ("passed", "failed", "error") if counts[(backend, o)])
            parts.append(f"{backend}: {done or 'none'}")
        terminalreporter.write_sep("-", "database tests by backend: " + "; ".join(parts))


# --- The RSVP side: the clock, invitees, links, a live server and a browser ----------------

#: A morning two weeks before the seed's RSVP deadline (15 November 2021).
BEFORE_DEADLINE = dt.datetime(2021, 11, 1, 9, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def before_deadline():
    """The clock set to 1 November 2021, while invitees may still answer; it keeps ticking."""
    with time_machine.travel(BEFORE_DEADLINE, tick=True) as traveller:
        yield traveller


def add_invitee(event, name="Anna Andersson", email="anna.andersson@example.se", role="kso", language="sv"):
    role_row = next((r for r in event.roles if r.key == role), None)
    invitee = Invitee(
        event=event, name=name, email=email, email_key=email.lower(), organisation="Skellefteå kommun",
        role=role_row, language=language,
    )
    db.session.add(invitee)
    db.session.commit()
    return invitee


@pytest.fixture
def invitee(event):
    return add_invitee(event)


ADMIN_PASSWORD = "kaffe-och-bulle-2021"


def add_admin(username: str = "sekretariatet", password: str = ADMIN_PASSWORD):
    from service.models import AdminUser

    user = AdminUser(username=username, name="Sekretariatet", language="sv")
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


@pytest.fixture
def admin_client(app, client):
    """A test client signed in to the admin as the secretariat."""
    add_admin()
    return sign_in(client)


def sign_in(client):
    """Sign the client in as the secretariat (again, after the clock has moved past its session)."""
    page = client.get("/admin/login")
    if page.status_code == 302:
        return client  # still signed in
    response = client.post("/admin/login", data={
        "csrf_token": csrf_token(page), "username": "sekretariatet", "password": ADMIN_PASSWORD,
    })
    assert response.status_code == 302 and response.location == "/admin/"
    return client


def import_finished(admin_client, response, timeout: float = 60.0) -> str:
    """After an upload to the import page: the text of the job's page once the worker is done."""
    assert response.status_code == 302, response.status_code
    deadline = time.monotonic() + timeout
    while True:
        page = admin_client.get(response.location)
        if "data-finished" in page.get_data(as_text=True):
            return page_text(page)
        if time.monotonic() > deadline:
            raise AssertionError(f"the import did not finish: {page_text(page)}")
        time.sleep(0.2)


def link_path(invitee) -> str:
    return f"/r/{make_token(invitee)}"


class LiveServer:
    """The app served over real HTTP by werkzeug in a thread of the test process."""

    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(10)


@pytest.fixture
def live_server(app):
    with LiveServer(app) as server:
        yield server


#: Debian's chromium by default; TEST_CHROMIUM names another Chromium build.
CHROMIUM = os.environ.get("TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]


@pytest.hookimpl(trylast=True)  # after `-m "not slow"` has left out what it leaves out
def pytest_collection_modifyitems(session, config, items):
    """Browser tests need chromium: say so once, before anything runs, rather than once per test."""
    if not os.path.exists(CHROMIUM) and any("browser" in getattr(item, "fixturenames", ()) for item in items):
        pytest.exit(
            f"OSA's browser tests need Chromium at {CHROMIUM}: install Debian's chromium "
            "(apt-get install chromium), set TEST_CHROMIUM to another Chromium, or run `make test-fast`, "
            "which leaves the browser tests out.", returncode=3,
        )


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def phone(browser):
    """A page in a 375 px wide phone-sized window."""
    context = browser.new_context(viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    yield page
    context.close()


# --- Email: the app sends to the test's SMTP server, throttled through the test's Redis -----


def use_relay(app, host: str, port: int, redis_url: str, **settings) -> None:
    """Point the app at an SMTP server, with quick retries and no rate limit (and any `settings`)."""
    app.config.update({"SMTP_HOST": host, "SMTP_PORT": port, "SMTP_TIMEOUT": 10.0, "REDIS_URL": redis_url,
                       "SEND_RATE_PER_MINUTE": 0, "SEND_RETRY_SECONDS": 0.2, "SEND_BATCH_SIZE": 50, **settings})
    app.extensions.pop("osa_throttle", None)  # the throttle is made again, for the new rate


@pytest.fixture
def mailer(app, smtp, redis_url):
    """Point the app at the recording SMTP server, with quick retries and no rate limit."""
    use_relay(app, smtp.host, smtp.port, redis_url)
    return smtp


def wait_for_outbox(predicate, timeout: float = 60.0, sweep: bool = True):
    """Run the sweeper (as beat would) until `predicate(states)` holds; return the states by row id."""
    from service.mail.delivery import requeue_stale
    from service.models import Outbox

    deadline = time.monotonic() + timeout
    while True:
        db.session.rollback()
        states = dict(db.session.execute(sa.select(Outbox.id, Outbox.state)).all())
        if predicate(states):
            return states
        if time.monotonic() > deadline:
            raise AssertionError(f"outbox did not settle: {Counter(states.values())}")
        if sweep:
            requeue_stale()
        time.sleep(0.2)


def all_sent(count: int):
    return lambda states: len(states) == count and all(state == "sent" for state in states.values())


# --- Workers and Redis the test owns: processes it can kill and servers it can restart ------


@pytest.fixture
def pg_app(postgres_url):
    """The app on the run's PostgreSQL database only (tests that kill processes use it)."""
    migrate_to_head(postgres_url)
    app = make_app(postgres_url, SWEEP_SECONDS=0.5, SEND_LEASE_SECONDS=2, SEND_RETRY_SECONDS=0.2)
    with app.app_context():
        _empty_database()
        yield app
        db.session.remove()
        _empty_database()
        db.engine.dispose()


def worker_environment(app, **extra) -> dict[str, str]:
    """OSA_* variables that make a worker process use the test app's database, broker and SMTP."""
    config = app.config
    env = {
        "OSA_DATABASE_URL": config["DATABASE_URL"],
        "OSA_BROKER_URL": config["BROKER_URL"],
        "OSA_RESULT_BACKEND": config["RESULT_BACKEND"],
        "OSA_REDIS_URL": config["REDIS_URL"],
        "OSA_SECRET_KEYS": ",".join(config["SECRET_KEYS"]),
        "OSA_BASE_URL": config["BASE_URL"],
        "OSA_SMTP_HOST": config["SMTP_HOST"],
        "OSA_SMTP_PORT": str(config["SMTP_PORT"]),
        "OSA_SEND_RATE_PER_MINUTE": str(config["SEND_RATE_PER_MINUTE"]),
        "OSA_SEND_LEASE_SECONDS": str(config["SEND_LEASE_SECONDS"]),
        "OSA_SEND_RETRY_SECONDS": str(config["SEND_RETRY_SECONDS"]),
        "OSA_SWEEP_SECONDS": str(config["SWEEP_SECONDS"]),
    }
    env.update(extra)
    return {**{k: v for k, v in os.environ.items() if not k.startswith("OSA_")}, **env}


def start_worker_process(app, pool: str = "solo", log: Path | None = None) -> subprocess.Popen:
    """A worker process; `pool="prefork"` runs its tasks in a child process, as production's workers do.
    Its warnings and errors go to the file `log`, if given."""
    with open(log or os.devnull, "wb") as output:  # the child keeps its own copy of the file
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tasks.worker", "worker", "--pool", pool, "--concurrency", "1",
             "--loglevel", "WARNING", "--without-heartbeat", "--without-mingle", "--without-gossip"],
            env=worker_environment(app), cwd=Path(__file__).resolve().parent.parent,
            stdout=subprocess.DEVNULL, stderr=output,
        )


@contextlib.contextmanager
def running_worker(app):
    """A worker process for the block; stopped (warmly) after it."""
    with running_workers(app, 1) as workers:
        yield workers[0]


@contextlib.contextmanager
def running_workers(app, count: int):
    """`count` worker processes for the block; stopped (warmly) after it."""
    with stopped_after([start_worker_process(app) for _ in range(count)]) as workers:
        yield workers


@contextlib.contextmanager
def stopped_after(processes: list[subprocess.Popen]):
    """The processes for the block; each asked to stop (SIGTERM) after it, and waited for."""
    try:
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(20)


@pytest.fixture
def own_redis():
    server = OwnRedis()
    server.start()
    yield server
    server.stop()
