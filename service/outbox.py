"""The outbox: every email is a row, written in the transaction of the change that
causes it, and sent by a Celery task after that transaction commits.

- `queue_email` writes the row (a second row with the same idempotency key is a
  no-op) and, once the caller commits, puts its id on the Celery queue.
- `deliver` sends a batch of rows over one SMTP connection: it claims them
  (queued → sending, with a lease) so no two workers send one, sends each, and
  marks it sent the moment the relay accepts it. Temporary failures (timeouts, lost
  connections, 4xx) are tried again later with growing, jittered delays; a
  permanent one (5xx) fails the row at once with the relay's reason.
- `requeue_stale` (run by beat) queues again rows whose task was lost (a broker
  restart, a killed worker) and rows whose retry time has come.

The Message-ID is fixed when the row is written, so a message sent again after a
crash carries the same Message-ID and mail clients show it once.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import smtplib
import socket
import time
from collections import deque
from contextlib import contextmanager
from email.utils import formataddr, make_msgid
from functools import lru_cache
from typing import Any

from flask import current_app
from flask_mail import BadHeaderError, Connection
from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .db import begin_write, db, insert, utcnow
from .emails import RenderedEmail
from .mime import message_bytes
from .models import Event, Invitee, Outbox
from .throttle import SendThrottle

log = logging.getLogger(__name__)

_PENDING = "osa_outbox_pending"
MAX_RETRY_DELAY = 3600.0


class HeaderInjection(ValueError):
    """A value meant for an email header contains a line break."""


def _header_safe(**values: str) -> None:
    for name, value in values.items():
        if "\r" in value or "\n" in value:
            raise HeaderInjection(f"{name} contains a line break; refusing to build an email header from it")


def _row_values(
    *,
    kind: str,
    key: str,
    event: Event,
    recipient: str,
    language: str,
    rendered: RenderedEmail,
    invitee: Invitee | None = None,
    attachments: list[dict[str, str]] | None = None,
    auto_submitted: bool = True,
) -> dict[str, Any]:
    """Every column of a new outbox row, checked for header injection."""
    sender = formataddr((event.sender_name, event.sender_email))
    _header_safe(recipient=recipient, subject=rendered.subject, sender=sender, reply_to=event.reply_to, key=key)
    now = utcnow()
    return {
        "event_id": event.id,
        "invitee_id": invitee.id if invitee is not None else None,
        "kind": kind,
        "recipient": recipient,
        "language": language,
        "idempotency_key": key,
        "state": "queued",
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": "",
        "message_id": make_msgid(idstring="osa", domain=event.sender_email.rsplit("@", 1)[1]),
        "sender": sender,
        "reply_to": event.reply_to,
        "subject": rendered.subject,
        "body_text": rendered.text,
        "body_html": rendered.html,
        "attachments": attachments or [],
        "auto_submitted": auto_submitted,
        "dispatched_at": now,
        "created_at": now,
    }


def queue_email(**email: Any) -> Outbox | None:
    """Write one email to the outbox in the current transaction; None if its key was written before.

    Takes `kind`, `key`, `event`, `recipient`, `language`, `rendered`, and optionally
    `invitee`, `attachments` and `auto_submitted`. The row's id goes on the Celery
    queue after the caller commits (never before, so a worker cannot look for a row
    that is not there yet, or send a rolled-back one).
    """
    values = _row_values(**email)
    if db.session.scalar(select(Outbox.id).where(Outbox.idempotency_key == values["idempotency_key"])) is not None:
        return None
    row = Outbox(**values)
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        # Another transaction wrote the same key first: the email is already on its way.
        return None
    db.session.info.setdefault(_PENDING, []).append(row.id)
    return row


def queue_emails(emails: list[dict[str, Any]]) -> int:
    """Write many emails in one statement (a round of invitations); return how many were new.

    The same as `queue_email` for each, but a key written before is skipped by the
    database itself (INSERT … ON CONFLICT DO NOTHING), with no savepoint per row.
    """
    if not emails:
        return 0
    rows = [_row_values(**email) for email in emails]
    statement = insert(Outbox).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(Outbox.id)
    # One statement with many parameter sets: SQLAlchemy sends it as a few multi-row INSERTs.
    ids = list(db.session.connection().execute(statement, rows).scalars())
    db.session.info.setdefault(_PENDING, []).extend(ids)
    return len(ids)


@sa_event.listens_for(Session, "after_commit")
def _dispatch_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint, not the commit that makes the rows real
    ids = session.info.pop(_PENDING, None)
    if ids:
        dispatch(ids)


@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_after_rollback(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_PENDING, None)


def dispatch(ids: list[int]) -> None:
    """Put rows on the Celery queue in batches that each share one SMTP connection.

    A broker that cannot be reached loses nothing: the sweeper finds the rows later.
    """
    from tasks.mail import send_outbox

    size = max(1, int(current_app.config["SEND_BATCH_SIZE"]))
    for start in range(0, len(ids), size):
        try:
            send_outbox.delay(ids[start:start + size])
        except Exception as error:  # the broker is down; `requeue_stale` will find these rows
            log.warning("could not queue %d outbox rows (%s); the sweeper will retry",
                        len(ids[start:start + size]), type(error).__name__)


# --- Sending ------------------------------------------------------------------------------


class _Connection(Connection):
    """Flask-Mail's connection, with the timeout OSA's settings give."""

    def configure_host(self):
        config = current_app.config
        timeout = float(config["SMTP_TIMEOUT"])
        if config["SMTP_SSL"]:
            host = smtplib.SMTP_SSL(config["SMTP_HOST"], int(config["SMTP_PORT"]), timeout=timeout)
        else:
            host = smtplib.SMTP(config["SMTP_HOST"], int(config["SMTP_PORT"]), timeout=timeout)
        if config["SMTP_STARTTLS"]:
            host.starttls()
        if config["SMTP_USERNAME"] and config["SMTP_PASSWORD"]:
            host.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
        return host

    def close(self) -> None:
        if self.host is not None:
            try:
                self.host.quit()
            except (smtplib.SMTPException, OSError):
                self.host.close()
            self.host = None



def _throttle() -> SendThrottle:
    throttle = current_app.extensions.get("osa_throttle")
    if throttle is None:
        config = current_app.config
        throttle = SendThrottle(float(config["SEND_RATE_PER_MINUTE"]), config["REDIS_URL"])
        current_app.extensions["osa_throttle"] = throttle
    return throttle


def _claim(ids: list[int], lease_seconds: float) -> list[Outbox]:
    """Take the rows for sending, in the order given, leaving out those sent, failed, or held
    by another worker. The rows come back detached, so no transaction stays open while the
    relay talks."""
    begin_write()
    now = utcnow()
    rows = db.session.scalars(
        update(Outbox)
        .where(
            Outbox.id.in_(ids),
            or_(
                and_(Outbox.state == "queued", Outbox.next_attempt_at <= now),
                and_(Outbox.state == "sending", Outbox.lease_until < now),
            ),
        )
        .values(state="sending", lease_until=now + dt.timedelta(seconds=lease_seconds), attempts=Outbox.attempts + 1)
        .returning(Outbox),
        execution_options={"synchronize_session": False},
    ).all()
    for row in rows:
        db.session.expunge(row)
    db.session.commit()
    order = {row_id: index for index, row_id in enumerate(ids)}
    return sorted(rows, key=lambda row: order[row.id])


def _renew(connection, rows: list[Outbox], lease_seconds: float) -> list[Outbox]:
    """Hold the rows not sent yet for another lease, so the sweeper never hands them to another
    worker while this one is still on its way to them (a slow relay, a low send rate).
    Returns the rows still held: any whose lease ran out and that another worker took are left out."""
    until = utcnow() + dt.timedelta(seconds=lease_seconds)
    held = set(connection.execute(
        update(Outbox)
        .where(Outbox.id.in_([row.id for row in rows]), Outbox.state == "sending",
               Outbox.lease_until == rows[0].lease_until)
        .values(lease_until=until)
        .returning(Outbox.id)
    ).scalars())
    connection.commit()
    for row in rows:
        row.lease_until = until
    return [row for row in rows if row.id in held]


@contextmanager
def _recording():
    """A connection on which each row's new state is committed the moment it is written.

    On PostgreSQL the commits do not wait for the disk (`synchronous_commit` off,
    for this connection while the batch lasts): only a crash of the database
    server itself can undo one, and what it undoes is a row's state, so the row
    is sent again (with the same Message-ID), never lost. Waiting for the disk
    once per message would otherwise bound how fast a round goes.
    """
    postgresql = db.engine.dialect.name == "postgresql"
    with db.engine.connect() as connection:
        if postgresql:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.exec_driver_sql("SET synchronous_commit TO OFF")
        try:
            yield connection
        finally:
            if postgresql:
                connection.exec_driver_sql("RESET synchronous_commit")


@lru_cache(maxsize=16)
def _recording_statement(columns: tuple[str, ...]):
    # Built once per set of columns: building the statement costs more than running it.
    return (
        update(Outbox)
        .where(Outbox.id == bindparam("row_id"), Outbox.state == "sending")
        .values({column: bindparam(f"new_{column}") for column in columns})
    )


def _record(connection, row_id: int, values: dict[str, Any]) -> None:
    statement = _recording_statement(tuple(sorted(values)))
    connection.execute(statement, {"row_id": row_id, **{f"new_{column}": value for column, value in values.items()}})
    connection.commit()


def _failed(reason: str) -> dict[str, Any]:
    return {"state": "failed", "lease_until": None, "last_error": reason}


def _retry_later(row: Outbox, reason: str) -> dict[str, Any]:
    """The row's new state after a temporary failure: queued again after a growing, jittered
    delay, or failed once it has had its attempts."""
    config = current_app.config
    if row.attempts >= int(config["SEND_MAX_ATTEMPTS"]):
        return _failed(f"gave up after {row.attempts} attempts: {reason}")
    delay = min(float(config["SEND_RETRY_SECONDS"]) * 2 ** (row.attempts - 1), MAX_RETRY_DELAY)
    delay *= random.uniform(0.8, 1.2)
    return {
        "state": "queued", "lease_until": None, "dispatched_at": None, "last_error": reason,
        "next_attempt_at": utcnow() + dt.timedelta(seconds=delay),
    }


def _release(connection, rows: list[Outbox]) -> None:
    """Claimed rows this batch will not try now: queued again, the attempt not counted,
    for the sweeper to queue at its next run."""
    if rows:
        connection.execute(
            update(Outbox)
            .where(Outbox.id.in_([row.id for row in rows]), Outbox.state == "sending")
            .values(state="queued", lease_until=None, dispatched_at=None, attempts=Outbox.attempts - 1)
        )
        connection.commit()


def _is_overload(code: int, text: str) -> bool:
    """Microsoft 365 and others say 'too many connections' with 432 or 421 4.3.2."""
    return code == 432 or (code == 421 and "4.3.2" in text)


def _reason(code: int, text: bytes | str) -> str:
    return f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"


def deliver(ids: list[int]) -> dict[str, int]:
    """Send the rows over one SMTP connection; return how many were sent, retried, failed, skipped.

    Each row is marked the moment the relay has answered for it, before the next is
    sent. The batch's lease is renewed when half of it has passed.
    """
    throttle = _throttle()
    lease = float(current_app.config["SEND_LEASE_SECONDS"])
    rows = deque(_claim(ids, lease))
    renew_at = time.monotonic() + lease / 2
    counts = {"sent": 0, "retry": 0, "failed": 0, "skipped": len(ids) - len(rows)}
    connection = _Connection(current_app.extensions["mail"])
    try:
        with _recording() as recording:
            while rows:
                if time.monotonic() >= renew_at:
                    held = _renew(recording, list(rows), lease)
                    counts["skipped"] += len(rows) - len(held)
                    rows, renew_at = deque(held), time.monotonic() + lease / 2
                    if not rows:
                        break
                row = rows.popleft()
                outcome, values, stop = _send(row, connection, throttle)
                _record(recording, row.id, values)
                counts[outcome] += 1
                if stop:
                    _release(recording, list(rows))
                    break
    finally:
        connection.close()
    return counts


def _send(row: Outbox, connection: _Connection, throttle: SendThrottle) -> tuple[str, dict[str, Any], bool]:
    """Send one claimed row. Returns the outcome ("sent", "retry" or "failed"), the row's new
    values, and whether the connection is gone (the rest of the batch waits for the sweeper)."""
    try:
        data = message_bytes(row)  # before waiting our turn, so the turn is kept to the millisecond
    except BadHeaderError:
        return "failed", _failed("a header contains a line break"), False
    except UnicodeError:
        # An address with letters outside ASCII before the @ (åsa@…) needs SMTPUTF8, which OSA does not send.
        return "failed", _failed(f"the address {row.recipient!r} cannot be written in an email header"), False
    try:
        if connection.host is None:
            connection.host = connection.configure_host()
        throttle.wait_turn()
        try:
            connection.host.sendmail(row.sender_address, [row.recipient], data)
        finally:
            throttle.sent()
    except smtplib.SMTPRecipientsRefused as error:
        code, text = next(iter(error.recipients.values()))
        if code >= 500:
            return "failed", _failed(_reason(code, text)), False
        return "retry", _retry_later(row, _reason(code, text)), False
    except smtplib.SMTPResponseException as error:
        text = _reason(error.smtp_code, error.smtp_error)
        if error.smtp_code >= 500:
            return "failed", _failed(text), False
        if _is_overload(error.smtp_code, text):
            throttle.pause_all(float(current_app.config["SEND_RETRY_SECONDS"]))
        # After 421 or 432 the relay closes the connection.
        return "retry", _retry_later(row, text), error.smtp_code in (421, 432)
    except (smtplib.SMTPException, OSError, socket.timeout) as error:
        return "retry", _retry_later(row, f"{type(error).__name__}: {error}"), True  # no connection to the relay
    return "sent", {"state": "sent", "sent_at": utcnow(), "lease_until": None, "last_error": ""}, False


def requeue_stale() -> int:
    """Queue again rows that are due but have no task: lost from the broker, held by a
    dead worker past their lease, or waiting for a retry whose time has come."""
    begin_write()
    now = utcnow()
    # A row dispatched within four sweeps may still have its task in the queue.
    grace = now - dt.timedelta(seconds=4 * float(current_app.config["SWEEP_SECONDS"]))
    stale = or_(
        and_(
            Outbox.state == "queued",
            Outbox.next_attempt_at <= now,
            or_(Outbox.dispatched_at.is_(None), Outbox.dispatched_at < grace),
        ),
        and_(Outbox.state == "sending", Outbox.lease_until < now),
    )
    ids = list(db.session.scalars(select(Outbox.id).where(stale).order_by(Outbox.id).limit(5000)))
    if not ids:
        db.session.commit()
        return 0
    db.session.execute(update(Outbox).where(Outbox.id.in_(ids)).values(dispatched_at=now))
    db.session.commit()
    dispatch(ids)
    return len(ids)


def retry_failed(ids: list[int] | None = None) -> int:
    """Give failed rows (all, or these) a fresh set of attempts, now."""
    begin_write()
    query = update(Outbox).where(Outbox.state == "failed")
    if ids:
        query = query.where(Outbox.id.in_(ids))
    count = db.session.execute(
        query.values(state="queued", attempts=0, next_attempt_at=utcnow(), dispatched_at=None, last_error="")
    ).rowcount
    db.session.commit()
    if count:
        requeue_stale()
    return count
