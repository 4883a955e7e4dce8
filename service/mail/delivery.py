"""Sending the outbox: claim rows, build each message, hand it to the relay, record what happened.

- `deliver` sends a batch of rows over one SMTP connection: it claims them
  (queued → sending, with a lease sized to what the batch needs at the send
  rate, `lease_for`) so no two workers send one, sends each, and marks it sent
  the moment the relay accepts it. A worker asked to stop, and one that cannot
  reach Redis (which keeps the send rate), gives back the rest of its batch at
  once, so no row waits for its lease to end. Before each message of a round
  (invitations, reminders), an email someone is waiting for (a confirmation, a
  change notice) goes first, and the relay's daily limit is kept
  (`_DailyWindow`). A database connection lost on the way is replaced at once;
  a database that is restarting is waited for while the row's lease lasts.
  Temporary failures (timeouts, lost connections, 4xx) are tried again later
  with growing, jittered delays; a permanent one (5xx) fails the row at once
  with the relay's reason, and makes the invitee undeliverable when it refused
  their address. A 5xx to OSA itself (its sign-in, its sender, a used-up quota)
  waits as a temporary one does.
- `requeue_stale` (run by beat) queues again rows whose task was lost (a broker
  restart, a killed worker) and rows whose retry time has come.
- `build_message` turns a row into the message the relay gets, with the standard
  `email` package: the text part, then the HTML part, attachments with RFC 2231 names.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import math
import random
import re
import smtplib
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable, Container
from email import policy
from email.errors import HeaderDefect
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_mail import Connection
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import DBAPIError, OperationalError

from ..db import utcnow, write_transaction
from ..extensions import db
from ..models import Invitee, Outbox, OutboxState, SendProblem
from ..ops import log_unexpected
from ..text import cleaned
from .bounces import about_the_sender, return_path
from .oauth import NoToken, access_token, xoauth2
from .outbox import dispatch
from .throttle import NoTurn, SendThrottle, seconds_per_message

log = logging.getLogger(__name__)

MAX_RETRY_DELAY = 3600.0
#: The longest pause between two tries to reach a database that is restarting.
RECONNECT_PAUSE_MAX = 2.0
DAY = dt.timedelta(hours=24)
#: How often at most a worker looks at what the others did (mail someone is waiting for, what the
#: relay got in the last 24 hours): at any real relay's rate (a message every 0.25 s or slower) that
#: is before every message. Faster, the daily limit may be passed by what all workers send in that
#: time, which the reserve (SEND_DAILY_RESERVE) takes.
CHECK_SECONDS = 0.25
#: A round's emails (invitations and reminders, `pending_render`) are rendered shortly before their turn,
#: several in one transaction (one commit and one read of the event for them all): at most RENDERED_TOGETHER,
#: and only those the relay takes within RENDER_AHEAD_SECONDS (at 30 a minute, one at a time, as it is sent).
RENDERED_TOGETHER = 10
RENDER_AHEAD_SECONDS = 2.0


#: SMTP's line endings and folding; a header OSA writes raw (`set_raw`) is sent as written, so a
#: long List-Unsubscribe URL stays one line instead of becoming encoded-words.
_POLICY = policy.SMTP.clone(refold_source="none")


def _content_type(value: str) -> tuple[str, str, dict[str, str]]:
    header = policy.default.header_factory("Content-Type", value)
    return header.maintype, header.subtype, dict(header.params)


def smtp_address(address: str) -> str:
    """The address as SMTP and a header carry it: a domain in letters outside ASCII by its IDNA name
    (anna@håbo.se: anna@xn--hbo-ula.se). UnicodeError for letters outside ASCII before the @ (åsa@…),
    which need SMTPUTF8, which OSA does not send."""
    if address.isascii():
        return address
    try:
        ascii_email = validate_email(address, check_deliverability=False).ascii_email
    except EmailNotValidError:
        ascii_email = None
    if ascii_email is None:
        raise UnicodeError(address)
    return ascii_email


def build_message(row: Any) -> EmailMessage:
    """The outbox row as an email message. Raises UnicodeError or `HeaderDefect` for an address that
    cannot be written in a header, and ValueError if a header value holds a line break."""
    message = EmailMessage(policy=_POLICY)
    if "\r" in row.subject or "\n" in row.subject:
        raise ValueError("the subject contains a line break")
    # Folded by `email.header`: the policy's folder (before CPython gh-144156) drops the space
    # where it breaks a line between two encoded words ("årliga möte" arrives as "årligamöte").
    message.set_raw("Subject", Header(row.subject, "utf-8", header_name="Subject").encode())
    message["From"] = row.sender
    message["To"] = Address(row.recipient_name, addr_spec=smtp_address(row.recipient))
    message["Date"] = formatdate(row.created_at.timestamp(), localtime=True)
    message["Message-ID"] = row.message_id
    if row.reply_to:
        message["Reply-To"] = row.reply_to
    if row.auto_submitted:
        message["Auto-Submitted"] = "auto-generated"
        message["X-Auto-Response-Suppress"] = "OOF, AutoReply"  # Exchange: no out-of-office replies
    if row.unsubscribe_url:
        # RFC 8058: a mail program's "unsubscribe" POSTs this, so a link scanner's GET stops nothing.
        # Raw, on one line (under SMTP's 998): folded, a long URL would become encoded-words.
        message.set_raw("List-Unsubscribe", f"<{row.unsubscribe_url}>")
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(row.body_text or "", cte="quoted-printable")
    if row.body_html:
        message.add_alternative(row.body_html, subtype="html", cte="quoted-printable")
    for attachment in row.attachments:
        data = attachment["data"]
        data = base64.b64decode(data) if attachment.get("encoding") == "base64" else data.encode("utf-8")
        maintype, subtype, params = _content_type(attachment["content_type"])
        message.add_attachment(data, maintype, subtype, filename=attachment["filename"], params=params)
    return message


class _Connection(Connection):
    """Flask-Mail's connection, with the timeout OSA's settings give."""

    def configure_host(self):
        config = current_app.config
        timeout = float(config["SMTP_TIMEOUT"])
        # smtplib checks no certificate unless given a context that does: this one checks it and the name.
        tls = config["SMTP_SSL"] or config["SMTP_STARTTLS"]
        context = ssl.create_default_context(cafile=config["SMTP_CA_FILE"] or None) if tls else None
        if config["SMTP_SSL"]:
            host = smtplib.SMTP_SSL(config["SMTP_HOST"], int(config["SMTP_PORT"]), timeout=timeout, context=context)
        else:
            host = smtplib.SMTP(config["SMTP_HOST"], int(config["SMTP_PORT"]), timeout=timeout)
        try:
            if config["SMTP_STARTTLS"]:
                host.starttls(context=context)
            if config["SMTP_TOKEN_COMMAND"]:  # Microsoft 365 and Google Workspace take no password
                sign_in = xoauth2(config["SMTP_USERNAME"], access_token("SMTP_TOKEN_COMMAND"))
                host.ehlo_or_helo_if_needed()
                # On a refused token the relay asks once more (334) and wants an empty answer, then says why.
                host.auth("XOAUTH2", lambda challenge=None: "" if challenge else sign_in)
            elif config["SMTP_USERNAME"] and config["SMTP_PASSWORD"]:
                host.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
        except BaseException:  # a refused sign-in: the connection is not kept, so close it here
            host.close()
            raise
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


def lease_for(count: int) -> float:
    """Seconds a worker may hold `count` rows: what they need at the configured send rate, and never
    less than SEND_LEASE_SECONDS (which covers a relay that answers only at its timeout)."""
    config = current_app.config
    return max(float(config["SEND_LEASE_SECONDS"]), count * seconds_per_message(float(config["SEND_RATE_PER_MINUTE"])))


def _waiting(now: dt.datetime):
    """The id of the oldest due email that someone is waiting for (not bulk), as a query."""
    return (
        select(Outbox.id)
        .where(Outbox.state == OutboxState.QUEUED, Outbox.bulk.is_(False), Outbox.next_attempt_at <= now)
        .order_by(Outbox.id).limit(1)
    )


def _claim_waiting(recorder: _Recorder) -> Outbox | None:
    """The oldest due email that someone is waiting for (not bulk) and no worker holds, taken for
    sending now: a round's next message waits while there is one."""
    if not recorder.run(_waiting(utcnow())):
        return None  # the usual case during a round: one indexed read, no write transaction
    with write_transaction():
        now = utcnow()
        # PostgreSQL: another worker's pick is passed over, not waited for.
        oldest = _waiting(now).with_for_update(skip_locked=True).scalar_subquery()
        row = db.session.scalars(
            update(Outbox)
            .where(Outbox.id == oldest, Outbox.state == OutboxState.QUEUED)
            .values(state=OutboxState.SENDING, lease_until=now + dt.timedelta(seconds=lease_for(1)),
                    attempts=Outbox.attempts + 1)
            .returning(Outbox),
            execution_options={"synchronize_session": False},
        ).first()
        if row is not None:
            db.session.expunge(row)
    return row


def _claim(ids: list[int], lease_seconds: float) -> list[Outbox]:
    """Take the rows for sending, in the order given, leaving out those sent, failed, or held
    by another worker. The rows come back detached, so no transaction stays open while the
    relay talks."""
    with write_transaction():
        now = utcnow()
        rows = db.session.scalars(
            update(Outbox)
            .where(
                Outbox.id.in_(ids),
                or_(
                    and_(Outbox.state == OutboxState.QUEUED, Outbox.next_attempt_at <= now),
                    and_(Outbox.state == OutboxState.SENDING, Outbox.lease_until < now),
                ),
            )
            .values(state=OutboxState.SENDING, lease_until=now + dt.timedelta(seconds=lease_seconds),
                    attempts=Outbox.attempts + 1)
            .returning(Outbox),
            execution_options={"synchronize_session": False},
        ).all()
        for row in rows:
            db.session.expunge(row)
    order = {row_id: index for index, row_id in enumerate(ids)}
    return sorted(rows, key=lambda row: order[row.id])


class _Recorder:
    """The batch's own database connection, apart from the session: each row's state is committed on
    it the moment the relay has answered. A connection the database dropped (a restart, a terminated
    backend) is replaced at once and the statement run again, so the batch goes on."""

    def __init__(self):
        self.connection = db.engine.connect()

    def run(self, statement, until: dt.datetime | None = None) -> list:
        """Run and commit `statement`; the ids it returns, if it returns any. With `until`, a database
        that cannot be reached (restarting) is tried again until then, with growing pauses."""
        try:
            return self._run(statement)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
        pause = 0.1
        while True:
            self.connection.close()
            try:
                self.connection = db.engine.connect()
                return self._run(statement)
            except DBAPIError as error:
                unreachable = isinstance(error, OperationalError) or error.connection_invalidated
                if not unreachable or until is None or utcnow() + dt.timedelta(seconds=pause) >= until:
                    raise
                log.warning("the database cannot be reached (%s); trying again in %.1f s",
                            type(error.orig).__name__, pause)
            time.sleep(pause)
            pause = min(2 * pause, RECONNECT_PAUSE_MAX)

    def _run(self, statement) -> list:
        result = self.connection.execute(statement)
        ids = list(result.scalars()) if result.returns_rows else []
        self.connection.commit()
        return ids

    def close(self) -> None:
        self.connection.close()


def _renew(recorder: _Recorder, rows: list[Outbox]) -> list[Outbox]:
    """Hold the rows not sent yet for the lease they need now, so the sweeper never hands them to
    another worker while this one is still on its way to them (a slow relay, other workers' turns).
    Returns the rows still held: any whose lease ran out and that another worker took are left out."""
    until = utcnow() + dt.timedelta(seconds=lease_for(len(rows)))
    held = set(recorder.run(
        update(Outbox)
        .where(Outbox.id.in_([row.id for row in rows]), Outbox.state == OutboxState.SENDING,
               Outbox.lease_until == rows[0].lease_until)
        .values(lease_until=until)
        .returning(Outbox.id)
    ))
    for row in rows:
        row.lease_until = until
    return [row for row in rows if row.id in held]


def _record(recorder: _Recorder, row: Outbox, values: dict[str, Any]) -> None:
    """The row's new state, committed before the next row is sent. A database that is restarting is
    waited for while the row's lease lasts: until then no other worker can take the row, so a message
    the relay took is never sent again because its worker could not say so."""
    recorder.run(update(Outbox).where(Outbox.id == row.id, Outbox.state == OutboxState.SENDING).values(values),
                 until=row.lease_until)


def _mark_undeliverable(recorder: _Recorder, invitee_id: int, values: dict[str, Any]) -> None:
    """The relay refused the invitee's address for good, or OSA cannot write it (the row's `values`
    say which): rounds and reminders leave them out from now."""
    recorder.run(update(Invitee).where(Invitee.id == invitee_id).values(
        undeliverable_at=utcnow(), undeliverable_problem=values["problem"], undeliverable_reason=values["last_error"]))


def _failed(reason: str, problem: SendProblem | str = "") -> dict[str, Any]:
    """A row's values once it will not be sent: OSA's `problem` if it is one, and the relay's reply
    or the detail the problem names."""
    return {"state": OutboxState.FAILED, "lease_until": None, "problem": problem, "last_error": reason}


def _retry_later(row: Outbox, reason: str, problem: SendProblem | str = "") -> dict[str, Any]:
    """The row's new state after a temporary failure (the relay's reply, or OSA's `problem` with
    its detail): queued again after a growing, jittered delay, or failed once it has had its attempts."""
    config = current_app.config
    if row.attempts >= int(config["SEND_MAX_ATTEMPTS"]):
        return _failed(reason, SendProblem.GAVE_UP)
    delay = min(float(config["SEND_RETRY_SECONDS"]) * 2 ** (row.attempts - 1), MAX_RETRY_DELAY)
    delay *= random.uniform(0.8, 1.2)
    return {
        "state": OutboxState.QUEUED, "lease_until": None, "dispatched_at": None, "problem": problem,
        "last_error": reason,
        "next_attempt_at": utcnow() + dt.timedelta(seconds=delay),
    }


def _release(recorder: _Recorder, rows: list[Outbox], until: dt.datetime | None = None,
             render_again: Container[int] = ()) -> None:
    """Claimed rows this batch will not try now: queued again, the attempt not counted,
    for the sweeper to queue at its next run (or once `until` has come). Those among
    `render_again` (rendered ahead of their turn) are rendered again when they are sent."""
    if rows:
        values: dict[str, Any] = {"state": OutboxState.QUEUED, "lease_until": None, "dispatched_at": None,
                                  "attempts": Outbox.attempts - 1}
        if until is not None:
            values["next_attempt_at"] = until
        ids = [row.id for row in rows]
        rendered = [row_id for row_id in ids if row_id in render_again]
        if rendered:
            values["pending_render"] = Outbox.id.in_(rendered) | Outbox.pending_render
        recorder.run(update(Outbox).where(Outbox.id.in_(ids), Outbox.state == OutboxState.SENDING).values(values))


def daily_quota(bulk: bool) -> int:
    """How many messages may reach the relay in 24 hours for this class of mail: SEND_DAILY_LIMIT
    for mail someone is waiting for, less the reserved share for a round's (0: no limit)."""
    config = current_app.config
    limit = int(config["SEND_DAILY_LIMIT"])
    return limit - math.ceil(limit * float(config["SEND_DAILY_RESERVE"])) if bulk else limit


def _sent_in_window(now: dt.datetime):
    """How many messages reached the relay in the 24 hours before `now`, as a query (every worker's)."""
    return select(func.count()).select_from(Outbox).where(Outbox.sent_at > now - DAY)


def round_done_at(pending: int) -> dt.datetime | None:
    """About when `pending` messages of a round will have reached the relay at the current rate and
    daily limit; None with nothing pending or no rate to keep (then it is a matter of seconds)."""
    config = current_app.config
    interval = seconds_per_message(float(config["SEND_RATE_PER_MINUTE"]))
    if pending <= 0 or not interval:
        return None
    now = utcnow()
    if int(config["SEND_DAILY_LIMIT"]) <= 0:
        return now + dt.timedelta(seconds=pending * interval)
    quota = max(1, daily_quota(True))
    sent = db.session.scalar(_sent_in_window(now))
    room = max(0, quota - sent)
    if pending <= room:
        return now + dt.timedelta(seconds=pending * interval)
    # The rest goes a quota a day, each day's opening 24 hours after the window's first send.
    later = pending - room
    days = math.ceil(later / quota)
    opens = (db.session.scalar(select(func.min(Outbox.sent_at)).where(Outbox.sent_at > now - DAY)) or now) + days * DAY
    return opens + dt.timedelta(seconds=(later - (days - 1) * quota) * interval)


class _DailyWindow:
    """What reached the relay in the last 24 hours, against SEND_DAILY_LIMIT: counted in the
    database (every worker's sends), and between counts kept up to date with this batch's own."""

    def __init__(self, recorder: _Recorder):
        self.recorder = recorder
        self.limited = int(current_app.config["SEND_DAILY_LIMIT"]) > 0
        self.sent: int | None = None

    def count(self) -> None:
        if self.limited:
            self.sent = self.recorder.run(_sent_in_window(utcnow()))[0]

    def one_sent(self) -> None:
        if self.sent is not None:
            self.sent += 1

    def room_again_at(self, bulk: bool) -> dt.datetime | None:
        """None while there is room for one more message of this class; else the moment enough
        of the window's messages will have left it."""
        if not self.limited:
            return None
        quota = daily_quota(bulk)
        if self.sent is None or self.sent >= quota:
            self.count()  # full as far as this batch knows: see whether the window has moved
        if self.sent < quota:
            return None
        since = utcnow() - DAY
        leaves_first = self.recorder.run(
            select(Outbox.sent_at).where(Outbox.sent_at > since).order_by(Outbox.sent_at)
            .offset(self.sent - quota).limit(1)
        )
        return (leaves_first[0] if leaves_first else utcnow()) + DAY


def _is_overload(code: int, text: str) -> bool:
    """Microsoft 365 and others say 'too many connections' with 432 or 421 4.3.2."""
    return code == 432 or (code == 421 and "4.3.2" in text)


def _is_quota(text: str) -> bool:
    """A sending quota used up: Gmail's 550 5.4.5, Microsoft 365's SubmissionQuotaExceededException."""
    return "5.4.5" in text or "submissionquotaexceeded" in text.lower()


#: OSA's relay, at RCPT TO, will not pass the mail on: no sign-in ("Relay access denied", Microsoft 365's
#: 5.7.54, 5.7.57, 5.7.64). From a server further on, in a report, the same words are about the recipient.
_NOT_RELAYED = re.compile(r"\b5\.7\.(5[47]|64)\b|\brelay(ing)? (access )?(denied|not permitted)|\bunable to relay",
                          re.I)

#: A relay's 5xx to OSA itself: its connection, greeting, sign-in or sender address.
_REFUSING_OSA = (smtplib.SMTPConnectError, smtplib.SMTPHeloError, smtplib.SMTPAuthenticationError,
                 smtplib.SMTPSenderRefused)


def _reason(code: int, text: bytes | str) -> str:
    """The relay's reply as OSA keeps it (without control characters: PostgreSQL refuses a NUL)."""
    return cleaned(f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}")


def deliver(ids: list[int], stopping: Callable[[], bool] = lambda: False) -> dict[str, int]:
    """Send the rows over one SMTP connection; return how many were sent, retried, failed, refused
    (the address is dead: its invitee is marked undeliverable), skipped (held by another worker)
    and deferred (past the daily limit, or given back because `stopping()` said the worker stops).

    Each row is marked the moment the relay has answered for it, before the next is
    sent. Before each message of a round (invitations, reminders), an email someone is
    waiting for that is due goes first, from any batch (looked for every CHECK_SECONDS at
    most, which at a relay's rate is before every message). The batch's lease (`lease_for`)
    is renewed, for the rows left, when half of it has passed. A message the daily limit has no
    room for waits, with the rest of the batch, until the rolling 24 hours have room again.
    """
    throttle = _throttle()
    lease = lease_for(len(ids))
    rows = deque(_claim(ids, lease))
    renew_at = time.monotonic() + lease / 2
    counts = {"sent": 0, "retry": 0, "failed": 0, "refused": 0, "skipped": len(ids) - len(rows), "deferred": 0}
    next_check = 0.0
    connection = _Connection(current_app.extensions["mail"])
    recorder = _Recorder()
    window = _DailyWindow(recorder)
    #: A round's rows rendered ahead of their turn, with why each is not to be sent (None: it is).
    filled: dict[int, tuple[Outbox, tuple[SendProblem, str] | None]] = {}
    try:
        while rows:
            if stopping():  # queued again, for the sweeper to hand to the next worker
                _release(recorder, list(rows), render_again=filled)
                counts["deferred"] += len(rows)
                break
            if time.monotonic() >= renew_at:
                held = _renew(recorder, list(rows))
                counts["skipped"] += len(rows) - len(held)
                rows, renew_at = deque(held), time.monotonic() + lease_for(len(held)) / 2
                if not rows:
                    break
            # Whoever waits for their own email goes before a round's next message.
            waiting = None
            if time.monotonic() >= next_check:  # what other workers did meanwhile
                waiting = _claim_waiting(recorder) if rows[0].bulk else None
                window.count()
                next_check = 0.0 if waiting else time.monotonic() + CHECK_SECONDS
            row = waiting or rows.popleft()
            room_at = window.room_again_at(row.bulk)
            if room_at is not None:  # the relay's daily limit: this and the rest wait for the window to move
                _release(recorder, [row, *rows], until=room_at, render_again=filled)
                counts["deferred"] += 1 + len(rows)
                break
            if row.pending_render:
                if row.id not in filled:
                    upcoming = [r for r in rows if r.pending_render][:_rendered_together(throttle) - 1]
                    filled.update(_filled_in([row, *upcoming]))
                row, problem = filled.pop(row.id)
                if problem is not None:
                    code, detail = problem
                    _record(recorder, row, _failed(detail, code))
                    counts["failed"] += 1
                    continue
            try:
                outcome, values, stop = _send(row, connection, throttle)
            except NoTurn:  # Redis, which keeps the send rate, is away: this and the rest wait for it
                _release(recorder, [row, *rows], until=utcnow() + dt.timedelta(
                    seconds=float(current_app.config["SEND_RETRY_SECONDS"])), render_again=filled)
                counts["deferred"] += 1 + len(rows)
                break
            _record(recorder, row, values)
            if outcome == "refused" and row.invitee_id is not None:
                _mark_undeliverable(recorder, row.invitee_id, values)
            counts[outcome] += 1
            if outcome == "sent":
                window.one_sent()
            if stop:
                _release(recorder, list(rows), render_again=filled)
                break
    finally:
        recorder.close()
        connection.close()
    return counts


def _rendered_together(throttle: SendThrottle) -> int:
    """How many of a round's rows to render at once, at the pace the throttle keeps."""
    if not throttle.interval:
        return RENDERED_TOGETHER
    return max(1, min(RENDERED_TOGETHER, int(RENDER_AHEAD_SECONDS / throttle.interval)))


def _filled_in(rows: list[Outbox]) -> dict[int, tuple[Outbox, tuple[SendProblem, str] | None]]:
    """A round's rows with their text, rendered now in one transaction and stored (a retry sends the
    same), detached like the claimed rows; or the reason each is not to be sent."""
    from .compose import fill_in_round  # compose asks this module when a round will be done

    with write_transaction():
        stored = db.session.scalars(select(Outbox).where(Outbox.id.in_([row.id for row in rows]))).all()
        problems = fill_in_round(stored)
        db.session.flush()
        for row in stored:
            db.session.expunge(row)
    return {row.id: (row, problems[row.id]) for row in stored}


def _send(row: Outbox, connection: _Connection, throttle: SendThrottle) -> tuple[str, dict[str, Any], bool]:
    """Send one claimed row. Returns the outcome ("sent", "retry", "failed", or "refused": the
    relay will never take this address), the row's new values, and whether the connection is gone
    (the rest of the batch waits for the sweeper)."""
    try:
        data = build_message(row).as_bytes()  # before waiting our turn, so the turn is kept to the millisecond
        recipient = smtp_address(row.recipient)
    except (HeaderDefect, UnicodeError):
        return "refused", _failed(row.recipient, SendProblem.ADDRESS_NOT_ASCII), False
    except ValueError:
        return "failed", _failed("", SendProblem.HEADER_LINE_BREAK), False
    except Exception as error:  # a fault of OSA's own (a bug, a row changed by hand): this email fails alone
        log_unexpected(log, f"writing outbox row {row.id}", error)
        return "failed", _failed(type(error).__name__, SendProblem.NOT_BUILT), False
    try:
        if connection.host is None:
            connection.host = connection.configure_host()
        throttle.wait_turn()
        try:
            connection.host.sendmail(return_path(row), [recipient], data)
        finally:
            throttle.sent()
    except NoToken as error:
        return _all_wait(row, throttle, error.detail, SendProblem.RELAY_REFUSED_OSA)
    except smtplib.SMTPRecipientsRefused as error:
        code, text = next(iter(error.recipients.values()))
        reason = _reason(code, text)
        if code >= 500 and (about_the_sender(reason) or _NOT_RELAYED.search(reason)):
            return _all_wait(row, throttle, reason, SendProblem.RELAY_REFUSED_OSA)
        if code >= 500:
            return "refused", _failed(reason), False
        return "retry", _retry_later(row, reason), False
    except smtplib.SMTPResponseException as error:
        text = _reason(error.smtp_code, error.smtp_error)
        if error.smtp_code >= 500 and _is_quota(text):
            # The mailbox's own sending quota (other mail from it counts too): used up for now, not refused.
            return _all_wait(row, throttle, text, SendProblem.RELAY_QUOTA)
        if error.smtp_code >= 500 and isinstance(error, _REFUSING_OSA):
            return _all_wait(row, throttle, text, SendProblem.RELAY_REFUSED_OSA)
        if error.smtp_code >= 500:  # after DATA: this message (its content, its size), not the address
            return "failed", _failed(text), False
        if _is_overload(error.smtp_code, text):
            throttle.pause_all(float(current_app.config["SEND_RETRY_SECONDS"]))
        # After 421 or 432 the relay closes the connection.
        return "retry", _retry_later(row, text), error.smtp_code in (421, 432)
    except (smtplib.SMTPException, OSError, socket.timeout) as error:
        return "retry", _retry_later(row, f"{type(error).__name__}: {error}", SendProblem.NO_RELAY), True
    return "sent", {"state": OutboxState.SENT, "sent_at": utcnow(), "lease_until": None, "problem": "",
                    "last_error": ""}, False


def _all_wait(row: Outbox, throttle: SendThrottle, reason: str,
              problem: SendProblem) -> tuple[str, dict[str, Any], bool]:
    """Not this recipient but OSA itself (its sign-in, its sender, its quota): every message would meet
    the same, so every worker pauses, the row is tried again later, and no one is made undeliverable."""
    throttle.pause_all(float(current_app.config["SEND_RETRY_SECONDS"]))
    return "retry", _retry_later(row, reason, problem), True


#: Problems of the relay, not of one email: while a queued email carries one, sending waits for it.
RELAY_PROBLEMS = (SendProblem.NO_RELAY, SendProblem.RELAY_REFUSED_OSA, SendProblem.RELAY_QUOTA)


#: How long nothing of an event may go before its mail counts as standing still (at 30 a minute, a
#: message goes every 2 seconds).
STILL_AFTER = dt.timedelta(minutes=2)


def waiting_on_relay(event_id: int) -> Outbox | None:
    """While the event's mail stands still (nothing sent for STILL_AFTER), its queued email that last
    met a problem of the relay (unreachable, refusing OSA, a quota used up): what the secretariat
    should know. None when mail goes, or waits for nothing but its turn."""
    waiting = db.session.scalar(
        select(Outbox).where(Outbox.event_id == event_id, Outbox.state == OutboxState.QUEUED,
                             Outbox.problem.in_(RELAY_PROBLEMS))
        .order_by(Outbox.next_attempt_at.desc()).limit(1))
    if waiting is None:
        return None
    last_sent = db.session.scalar(select(func.max(Outbox.sent_at)).where(Outbox.event_id == event_id))
    return waiting if last_sent is None or last_sent <= utcnow() - STILL_AFTER else None


def requeue_stale() -> int:
    """Queue again rows that are due but have no task: lost from the broker, held by a
    dead worker past their lease, or waiting for a retry whose time has come."""
    with write_transaction():
        now = utcnow()
        # A row dispatched within four sweeps may still have its task in the queue.
        grace = now - dt.timedelta(seconds=4 * float(current_app.config["SWEEP_SECONDS"]))
        stale = or_(
            and_(
                Outbox.state == OutboxState.QUEUED,
                Outbox.next_attempt_at <= now,
                or_(Outbox.dispatched_at.is_(None), Outbox.dispatched_at < grace),
            ),
            and_(Outbox.state == OutboxState.SENDING, Outbox.lease_until < now),
        )
        ids = list(db.session.scalars(select(Outbox.id).where(stale).order_by(Outbox.id).limit(5000)))
        if ids:
            db.session.execute(update(Outbox).where(Outbox.id.in_(ids)).values(dispatched_at=now))
    if ids:
        dispatch(ids)
    return len(ids)


def retry_failed(ids: list[int] | None = None) -> int:
    """Give failed rows (all, or these) a fresh set of attempts, now."""
    query = update(Outbox).where(Outbox.state == OutboxState.FAILED)
    if ids:
        query = query.where(Outbox.id.in_(ids))
    with write_transaction():
        count = db.session.execute(
            query.values(state=OutboxState.QUEUED, attempts=0, next_attempt_at=utcnow(), dispatched_at=None, problem="",
                         last_error="")
        ).rowcount
    if count:
        requeue_stale()
    return count
