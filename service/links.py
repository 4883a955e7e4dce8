"""Signed personal links: the only module that uses itsdangerous.

A token carries the invitee's id and their link version, signed with a salt
per purpose (an RSVP link cannot be used as a hotel link). The first of the
configured SECRET_KEYS signs and every one of them verifies, so keys can be
rotated. Raising an invitee's `link_version` revokes every link issued before.
Links work until the event has ended (the end of its last day, local time).

The forms on an invitee's pages carry `form_token`, a signature of the link's
purpose, invitee and version, in place of a session's CSRF token.
"""

from __future__ import annotations

import datetime as dt
import hmac
from functools import lru_cache
from types import SimpleNamespace
from typing import NamedTuple
from zoneinfo import ZoneInfo

import psycopg
from flask import current_app
from itsdangerous import BadSignature, Signer, URLSafeTimedSerializer
from psycopg import pq
from sqlalchemy.orm import joinedload

from .db import db, utcnow
from .eventview import event_view
from .models import Event, Invitee

#: One salt per purpose: a token made for one purpose never verifies for another.
SALTS = {
    "rsvp": "osa.link.rsvp",
    "optout": "osa.link.reminder-opt-out",
    "hotel": "osa.link.hotel-numbers",
}
FORM_SALT = "osa.form.link"


class LinkError(Exception):
    """A link that cannot be used. `kind` is "invalid", "expired", "revoked" or "removed"."""

    def __init__(self, kind: str, invitee: Invitee | None = None):
        super().__init__(kind)
        self.kind = kind
        self.invitee = invitee


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    # itsdangerous signs with the last key of the list; OSA's settings put the newest first.
    keys = list(reversed(current_app.config["SECRET_KEYS"]))
    return URLSafeTimedSerializer(keys, salt=SALTS[purpose])


def make_token(invitee: Invitee, purpose: str = "rsvp") -> str:
    return _serializer(purpose).dumps([invitee.id, invitee.link_version])


def _absolute(endpoint: str, token: str) -> str:
    # Built from the URL map, so it works outside requests too (workers, the CLI).
    path = current_app.url_map.bind("").build(endpoint, {"token": token})
    return current_app.config["BASE_URL"].rstrip("/") + path


def rsvp_url(invitee: Invitee) -> str:
    """The invitee's personal answer link, absolute, on the configured BASE_URL."""
    return _absolute("rsvp.answer", make_token(invitee))


def opt_out_url(invitee: Invitee) -> str:
    """The link that stops reminders (and nothing else) for the invitee."""
    return _absolute("rsvp.opt_out", make_token(invitee, "optout"))


def links_expire_at(event: Event | SimpleNamespace) -> dt.datetime:
    """Midnight after the event's last day, in the event's timezone."""
    last_day = max(day.date for day in event.days)
    midnight = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(0), tzinfo=ZoneInfo(event.timezone))
    return midnight.astimezone(dt.timezone.utc)


def resolve_token(token: str, purpose: str = "rsvp") -> Invitee:
    """The invitee a token belongs to, or `LinkError` saying why the link cannot be used."""
    invitee_id, version = _load(token, purpose)
    invitee = db.session.get(Invitee, invitee_id, options=[joinedload(Invitee.event), joinedload(Invitee.role)])
    if invitee is None or invitee.removed_at is not None:
        raise LinkError("removed", invitee)
    if not hmac.compare_digest(str(version).encode(), str(invitee.link_version).encode()):
        raise LinkError("revoked", invitee)
    if utcnow() >= links_expire_at(event_view(invitee.event)):
        raise LinkError("expired", invitee)
    return invitee


class PageStamp(NamedTuple):
    """What an invitee's answer page shows that can change, besides the clock."""

    invitee_id: int
    link_version: int
    language: str
    name: str
    role_id: int | None
    event_version: int
    #: As the database writes it: tells apart an event made again under a reused id (SQLite reuses them).
    event_created_at: str
    #: Raised by every change to the event's answers (`AnswersVersion`).
    answers_version: int


#: The stamp in SQL, {} being the driver's placeholder for the invitee's id.
_STAMP_SQL = (
    "SELECT i.link_version, i.removed_at, i.language, i.name, i.role_id, e.version, e.created_at, a.version"
    " FROM invitee i JOIN event e ON e.id = i.event_id LEFT JOIN answers_version a ON a.event_id = e.id"
    " WHERE i.id = {}"
)
_STAMP_STATEMENT = b"osa_page_stamp"
_NO_SUCH_STATEMENT = b"26000"  # SQLSTATE invalid_sql_statement_name


def page_stamp(token: str) -> PageStamp | None:
    """The `PageStamp` of an answer link; None when the link's invitee is gone, removed,
    or has a newer link (`resolve_token` says which). A link whose signature fails
    raises `LinkError("invalid")`. Whether the link has expired is the caller's to
    check, from the event's dates.

    It is asked on every opening of a kept page, so it goes straight to the driver
    (libpq's prepared statement on PostgreSQL) on a connection of the pool, with no
    transaction: SQLAlchemy's and psycopg's handling of a statement would cost
    more than the database's.
    """
    invitee_id, version = _verified(tuple(current_app.config["SECRET_KEYS"]), "rsvp", token)
    engine = db.engine
    connection = engine.raw_connection()
    try:
        if engine.dialect.name == "postgresql":
            row = _stamp_row_postgresql(connection, invitee_id)
        else:  # SQLite's connections are in autocommit mode already (service.db)
            cursor = connection.cursor()
            row = cursor.execute(_STAMP_SQL.format("?"), (invitee_id,)).fetchone()
            cursor.close()
    except Exception:
        connection.invalidate()
        raise
    finally:
        connection.close()
    if row is None or row[1] is not None or row[0] != version:
        return None
    return PageStamp(invitee_id, version, row[2], row[3], row[4], row[5], str(row[6]), row[7] or 0)


def _stamp_row_postgresql(connection, invitee_id: int) -> tuple | None:
    pgconn = connection.driver_connection.pgconn
    for _attempt in range(2):
        if not connection.info.get(_STAMP_STATEMENT):
            _check(pgconn, pgconn.prepare(_STAMP_STATEMENT, _STAMP_SQL.format("$1").encode()))
            connection.info[_STAMP_STATEMENT] = True
        result = pgconn.exec_prepared(_STAMP_STATEMENT, [str(invitee_id).encode()])
        if result.error_field(pq.DiagnosticField.SQLSTATE) != _NO_SUCH_STATEMENT:
            break
        # psycopg ends some rollbacks with DEALLOCATE ALL, which takes this statement too.
        connection.info[_STAMP_STATEMENT] = False
    _check(pgconn, result)
    if result.ntuples == 0:
        return None
    # libpq gives text: the link version, role id, event version and answers version are numbers.
    return tuple(
        None if value is None else int(value) if column in (0, 4, 5, 7) else value.decode()
        for column, value in ((column, result.get_value(0, column)) for column in range(8))
    )


def _check(pgconn, result) -> None:
    if result.status not in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
        raise psycopg.OperationalError(
            (result.error_message or pgconn.error_message).decode(errors="replace") or "the page stamp could not be read"
        )


@lru_cache(maxsize=4096)
def _verified(keys: tuple[str, ...], purpose: str, token: str) -> tuple[int, int]:
    """`_load`, remembered for tokens that verify (a token's payload never changes, and OSA's
    links carry no age limit of their own)."""
    return _load(token, purpose)


def _load(token: str, purpose: str) -> tuple[int, int]:
    """The (id, version) a token carries, or `LinkError("invalid")`."""
    try:
        payload = _serializer(purpose).loads(token)
    except BadSignature:
        raise LinkError("invalid") from None
    if (
        not isinstance(payload, list)
        or len(payload) != 2
        or not all(isinstance(part, int) and not isinstance(part, bool) for part in payload)
    ):
        raise LinkError("invalid")
    return payload[0], payload[1]


def _form_signer() -> Signer:
    return Signer(list(reversed(current_app.config["SECRET_KEYS"])), salt=FORM_SALT)


def form_token(purpose: str, invitee_id: int, link_version: int) -> str:
    """The token an invitee's forms carry: it holds for that link (purpose and version) only."""
    return _form_signer().get_signature(f"{purpose}.{invitee_id}.{link_version}").decode()


def is_form_token(purpose: str, invitee_id: int, link_version: int, value: str | None) -> bool:
    """Whether `value` is `form_token` for the link under any of the keys (compared in constant time)."""
    if not value or not value.isascii():
        return False
    return _form_signer().verify_signature(f"{purpose}.{invitee_id}.{link_version}".encode(), value.encode())


def hotel_url(event: Event) -> str:
    """The hotel's read-only link to the event's numbers, until it is revoked or the event ends."""
    token = _serializer("hotel").dumps([event.id, event.hotel_link_version])
    return _absolute("hotel.numbers", token)


def resolve_hotel_token(token: str) -> Event:
    """The event a hotel link shows, or `LinkError` saying why the link cannot be used."""
    event_id, version = _load(token, "hotel")
    event = db.session.get(Event, event_id)
    if event is None:
        raise LinkError("removed")
    if not hmac.compare_digest(str(version).encode(), str(event.hotel_link_version).encode()):
        raise LinkError("revoked")
    if utcnow() >= links_expire_at(event_view(event)):
        raise LinkError("expired")
    return event


def revoke_hotel_links(event: Event) -> None:
    """Stop every hotel link given out so far; `hotel_url` then makes the only one that works."""
    event.hotel_link_version += 1


def issue_new_link(invitee: Invitee) -> None:
    """Revoke the invitee's links: the next link made for them is the only one that works."""
    invitee.link_version += 1
