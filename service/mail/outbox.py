"""The outbox: every email is a row, written in the transaction of the change that
causes it, and put on the Celery queue after that transaction commits.

`queue_email` writes the row (a second row with the same idempotency key is a
no-op) and, once the caller commits, `dispatch` sends its id to the sending task
(by name: see `delivery` for what the task does). The Message-ID is fixed when
the row is written, so a message sent again after a crash carries the same
Message-ID and mail clients show it once.
"""

from __future__ import annotations

from email.headerregistry import Address
from email.utils import make_msgid
from typing import Any

from flask import current_app
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from tasks import queue_task

from ..db import insert, utcnow
from ..extensions import db
from ..links import opt_out_url
from ..models import BULK_KINDS, Event, Invitee, Outbox, OutboxState, SendProblem
from .render import RenderedEmail

_PENDING = "osa_outbox_pending"


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
    rendered: RenderedEmail | None,
    invitee: Invitee | None = None,
    event: Event | None = None,
    recipient: str = "",
    recipient_name: str = "",
    language: str = "",
    attachments: list[dict[str, str]] | None = None,
    auto_submitted: bool = True,
) -> dict[str, Any]:
    """Every column of a new outbox row, checked for header injection. An email to an invitee goes
    to them, by name, in their language, about their event, unless told otherwise. Without `rendered`
    the row is written without its text, for `fill_in` when it is first sent."""
    if invitee is not None:
        event = event or invitee.event
        recipient, recipient_name = recipient or invitee.email, recipient_name or invitee.name
        language = language or invitee.language
    sender = str(Address(event.sender_name, addr_spec=event.sender_email))
    unsubscribe_url = opt_out_url(invitee) if kind in BULK_KINDS and invitee is not None else ""
    subject = rendered.subject if rendered is not None else ""
    _header_safe(recipient=recipient, recipient_name=recipient_name, subject=subject, sender=sender,
                 reply_to=event.reply_to, key=key, unsubscribe_url=unsubscribe_url)
    now = utcnow()
    return {
        "event_id": event.id,
        "invitee_id": invitee.id if invitee is not None else None,
        "kind": kind,
        "bulk": kind in BULK_KINDS,
        "unsubscribe_url": unsubscribe_url,
        "recipient": recipient,
        "recipient_name": recipient_name,
        "language": language,
        "idempotency_key": key,
        "state": OutboxState.QUEUED,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": "",
        "message_id": make_msgid(idstring="osa", domain=event.sender_email.rsplit("@", 1)[1]),
        "sender": sender,
        "reply_to": event.reply_to,
        "pending_render": rendered is None,
        "subject": subject,
        "body_text": rendered.text if rendered is not None else "",
        "body_html": rendered.html if rendered is not None else "",
        "attachments": attachments or [],
        "auto_submitted": auto_submitted,
        "dispatched_at": now,
        "created_at": now,
    }


#: The columns of a row that its email's content decides (what `fill_in` writes).
_CONTENT = ("recipient", "recipient_name", "language", "subject", "body_text", "body_html", "attachments",
            "unsubscribe_url", "pending_render")


def fill_in(row: Outbox, **email: Any) -> None:
    """Give a row written without its text (`pending_render`) the email's content, in the caller's
    transaction; it keeps its key, Message-ID and state."""
    values = _row_values(**email)
    for name in _CONTENT:
        setattr(row, name, values[name])


def queue_email(**email: Any) -> int | None:
    """Write one email to the outbox in the current transaction; its row id, or None if its key
    was written before.

    Takes `kind`, `key`, `rendered`, and either the `invitee` it goes to or the `event`, `recipient`
    and `language`; optionally `attachments` and `auto_submitted`. The row's id goes on the Celery
    queue after the caller commits (never before, so a worker cannot look for a row
    that is not there yet, or send a rolled-back one).
    """
    ids = _insert([email])
    return ids[0] if ids else None


def queue_emails(emails: list[dict[str, Any]]) -> int:
    """Write many emails at once (a round of invitations); return how many were new."""
    return len(_insert(emails)) if emails else 0


def _insert(emails: list[dict[str, Any]]) -> list[int]:
    """The rows' ids; a key written before is skipped by the database itself (INSERT … ON CONFLICT
    DO NOTHING), also when another transaction wrote it a moment ago."""
    db.session.flush()
    rows = [_row_values(**email) for email in emails]
    statement = insert(Outbox).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(Outbox.id)
    # One statement with many parameter sets: SQLAlchemy sends it as a few multi-row INSERTs.
    ids = list(db.session.connection().execute(statement, rows).scalars())
    db.session.info.setdefault(_PENDING, []).extend(ids)
    return ids


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
    size = max(1, int(current_app.config["SEND_BATCH_SIZE"]))
    for start in range(0, len(ids), size):
        queue_task("osa.mail.send_outbox", ids[start:start + size])  # if not, `requeue_stale` finds the rows


#: What the secretariat calls each state of an email, and each kind (`render.KINDS`).
STATE_NAMES = {
    OutboxState.QUEUED: _l("queued"),
    OutboxState.SENDING: _l("sending"),
    OutboxState.SENT: _l("sent"),
    OutboxState.FAILED: _l("failed"),
}
KIND_NAMES = {
    "invitation": _l("Invitation"),
    "confirmation": _l("Confirmation of an answer"),
    "decline": _l("Confirmation of 'I can't come'"),
    "moved_up": _l("Moved up from the waiting list"),
    "reminder": _l("Reminder"),
    "day_before": _l("Logistics the day before"),
    "event_change": _l("Change to the programme"),
    "daily_report": _l("Daily report to the secretariat"),
    "hotel_final": _l("Final numbers to the hotel"),
    "hotel_change": _l("Change notice to the hotel"),
    "retention_problem": _l("Personal data not removed"),
}


def state_name(state: str) -> str:
    """An email's state in the reader's language ('i kö')."""
    return str(STATE_NAMES.get(state, state))


def kind_name(kind: str) -> str:
    """A kind of email in the reader's language ('Bekräftelse av ett svar')."""
    return str(KIND_NAMES.get(kind, kind))


def problem_text(problem: str, detail: str, attempts: int = 0, kind: str = "invitation") -> str:
    """Why a row (of `kind`) was not sent, in the reader's language: OSA's own reason (`Outbox.problem`)
    through the catalogue with its detail, or else the relay's reply (`detail`) as the relay wrote it."""
    if problem == SendProblem.REMOVED and kind == "reminder":
        return gettext("not sent: the invitee was removed before the reminder went out")
    if problem == SendProblem.REMOVED:
        return gettext("not sent: the invitee was removed before their invitation went out")
    if problem == SendProblem.UNDELIVERABLE:
        return gettext("not sent: the address was found undeliverable (%(reason)s)", reason=detail)
    if problem == SendProblem.LINK_REPLACED:
        return gettext("not sent: a new link replaced this one before the invitation went out")
    if problem == SendProblem.ANSWERED:
        return gettext("not sent: the invitee answered before the reminder went out")
    if problem == SendProblem.OPTED_OUT:
        return gettext("not sent: the invitee asked for no reminders before the reminder went out")
    if problem == SendProblem.HEADER_LINE_BREAK:
        return gettext("not sent: a header of the email would contain a line break")
    if problem == SendProblem.NOT_BUILT:
        return gettext("not sent: OSA failed while writing this email (%(error)s); whoever runs OSA finds why in "
                       "its log, and can send it again once that is put right", error=detail)
    if problem == SendProblem.ADDRESS_NOT_ASCII:
        return gettext("the address '%(address)s' cannot be written in an email header", address=detail)
    if problem == SendProblem.GAVE_UP:
        return gettext("gave up after %(count)d attempts: %(reason)s", count=attempts, reason=detail)
    if problem == SendProblem.NO_RELAY:
        return gettext("the mail server could not be reached: %(reason)s", reason=detail)
    if problem == SendProblem.RELAY_QUOTA:
        return gettext("the mail server says the sending mailbox's quota is used up for now (%(reason)s); the "
                       "email is tried again", reason=detail)
    if problem == SendProblem.RELAY_REFUSED_OSA:
        return gettext("OSA could not sign in to the mail server or send as the sender (%(reason)s): check "
                       "OSA_SMTP_USERNAME and OSA_SMTP_PASSWORD or OSA_SMTP_TOKEN_COMMAND, and the event's sender "
                       "address; the email is tried again", reason=detail)
    return detail


def row_problem(row: Outbox) -> str:
    """`problem_text` of a row, for pages and the command line ("" when nothing went wrong)."""
    return problem_text(row.problem, row.last_error, row.attempts, row.kind)


def undeliverable_text(invitee: Invitee) -> str:
    """Why mail does not reach an invitee, in the reader's language: the relay's answer, or OSA's own reason."""
    return problem_text(invitee.undeliverable_problem, invitee.undeliverable_reason)
