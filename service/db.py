"""The database's shared parts: column types, write transactions, schema checks.

`UTCDateTime` stores instants as naive UTC
(SQLite has no time zones) and always hands back aware UTC datetimes, so the
rest of the code never meets a naive datetime.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import DateTime, Engine, Text, TypeDecorator, any_, bindparam, event, exc
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from .extensions import db


def utcnow() -> dt.datetime:
    """The current instant, aware, in UTC."""
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(TypeDecorator):
    """An instant: aware datetimes in, aware UTC datetimes out, stored as naive UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc)


#: Text compared character by character on every backend: SQLite's default, and PostgreSQL's "C"
#: collation (a database's own, such as en_US, would order a sort key by rules of its own).
CHARACTERWISE_TEXT = Text().with_variant(Text(collation="C"), "postgresql")


def render_item(type_, obj, autogen_context):
    """Alembic autogenerate: write `UTCDateTime` columns as plain `sa.DateTime()` in migrations."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection, connection_record):
    """SQLite: enforce foreign keys, let readers and one writer work side by side (WAL),
    let OSA open transactions itself (see `_begin_sqlite`), and lower-case every letter as
    PostgreSQL does (SQLite's own `lower` leaves Å, Ä and Ö as they are, so a search missed them)."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    dbapi_connection.create_function("lower", 1, lambda text: text.lower() if isinstance(text, str) else text,
                                     deterministic=True)
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


WRITE_LOCK = "osa_write_lock"
_FLUSHED = "osa_flushed"


@event.listens_for(Engine, "begin")
def _begin_sqlite(connection):
    """SQLite: open transactions ourselves; a write transaction takes the lock at BEGIN."""
    if connection.dialect.name == "sqlite":
        immediate = connection.get_execution_options().get(WRITE_LOCK)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class PendingChanges(RuntimeError):
    """`write_transaction` was asked to start while the session held changes nobody committed."""


@event.listens_for(Session, "after_flush")
def _note_flush(session, flush_context) -> None:
    session.info[_FLUSHED] = True


@event.listens_for(Session, "after_transaction_end")
def _forget_flush(session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_FLUSHED, None)


@contextmanager
def write_transaction() -> Iterator[None]:
    """A transaction that may count, then write; committed at the end, rolled back on an error.

    Views, CLI commands and tasks own their transactions with this; the domain
    functions they call only flush. On SQLite the transaction holds the database's
    write lock from BEGIN (BEGIN IMMEDIATE), so what it counts (the last bus seat)
    cannot change before it writes; on PostgreSQL the code that counts takes row
    locks as well. It refuses to start while the session holds changes made
    outside a transaction of this kind, instead of committing them unseen.
    """
    session = db.session()
    if session.new or session.dirty or session.deleted or session.info.get(_FLUSHED):
        raise PendingChanges("changes were made before write_transaction(); make them inside it")
    if session.in_transaction():
        session.rollback()  # a read-only transaction: nothing is lost, and the write one begins afresh
    session.connection(execution_options={WRITE_LOCK: True})
    try:
        yield
        session.commit()
    except BaseException:
        session.rollback()
        raise


def holds_write_lock() -> bool:
    """Whether the session's transaction was begun by `write_transaction` (always true off SQLite)."""
    connection = db.session.connection()
    return connection.dialect.name != "sqlite" or bool(connection.get_execution_options().get(WRITE_LOCK))


def among(column, values: list):
    """`column IN values` for a long list (ids, addresses): on PostgreSQL one array parameter
    (`= ANY`), which it reads at once, instead of a parameter per value; on SQLite the plain IN."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


def insert(entity):
    """An INSERT for the session's database that can say ON CONFLICT (PostgreSQL's or SQLite's)."""
    dialect = db.session.get_bind().dialect.name
    return (postgresql_insert if dialect == "postgresql" else sqlite_insert)(entity)


def schema_problem() -> str | None:
    """Why the database cannot be used yet, in words for the person at the terminal; None when it can.

    It is reachable and at the newest migration, or this says what to do: set it up, upgrade it,
    or reach it (the address shown without its password).
    """
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from flask import current_app
    from flask_babel import gettext

    migrate = current_app.extensions["migrate"]
    heads = set(ScriptDirectory.from_config(migrate.migrate.get_config(migrate.directory)).get_heads())
    try:
        with db.engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    except exc.OperationalError as error:
        address = db.engine.url.render_as_string(hide_password=True)
        return gettext("the database at %(address)s cannot be reached (%(error)s)", address=address, error=type(error.orig).__name__)
    if not current:
        return gettext("the database is not set up: run `osa db upgrade`")
    if current != heads:
        return gettext("the database was made by another version of OSA: run `osa db upgrade`")
    return None
