"""Delivery reports and auto-replies: what a message in the bounce mailbox says, whom it is about,
and what that does to the invitee.

`classify` reads one message: an RFC 3464 delivery status notification is read
field by field (`Action: failed` with a 5.x.x status is hard; `delayed` or 4.x.x
is soft); a reply from an invitee's calendar (Accept or Decline on the entry an
invitation carries) is a calendar reply, a note and no answer; any other report
goes through flufl.bounce's detectors (Mailman's), most reliable first; an
out-of-office is an auto-reply; anything else is other.
`record_report` matches it to the email OSA sent: by the original Message-ID
the report returns (relays that rewrite the envelope sender, as Microsoft 365
does, keep it), by the signed tag in the return address when BOUNCE_ADDRESS is
set (VERP), or by the failed address itself. A hard bounce, or soft ones about
BOUNCE_SOFT_LIMIT different emails within BOUNCE_SOFT_DAYS, makes the invitee
undeliverable: rounds and reminders leave them out until the secretariat
corrects the address. Each message is recorded once, so reading it again
changes nothing. `bounce_mailbox` fetches the messages over IMAP.
"""

from __future__ import annotations

import codecs
import datetime as dt
import email
import email.errors
import email.header
import email.policy
import hashlib
import logging
import re
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import HeaderParser
from email.utils import getaddresses, parseaddr

import icalendar
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import lazy_gettext as _l
from flufl.bounce import all_failures
from markupsafe import Markup
from sqlalchemy import func, select

from ..db import utcnow
from ..extensions import db
from ..links import bounce_tag, outbox_id_from_bounce_tag
from ..models import DeliveryReport, Invitee, Outbox, ReportKind
from ..text import cleaned
from .ics import invitee_of

log = logging.getLogger(__name__)
# flufl.bounce logs a traceback, then raises, when a detector cannot read a message; `classify` says it in one line.
logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)

#: Headers an auto-responder sets (RFC 3834, Exchange, qmail, vacation programs).
_AUTO_REPLY_HEADERS = {
    "auto-submitted": re.compile(r"auto-replied", re.I),
    "precedence": re.compile(r"auto[-_]reply", re.I),
    "x-precedence": re.compile(r"auto[-_]reply", re.I),
    "x-autoreply": re.compile(r"."),
    "x-autorespond": re.compile(r"."),
    "x-ms-exchange-inbox-rules-loop": re.compile(r"."),
}
#: Subjects of out-of-office replies that carry none of those headers.
_AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(autosvar|automatiskt svar|frånvaro|out of (the )?office|automatic reply|auto(matic)?[ -]?reply|auto:)",
    re.I,
)
_MESSAGE_ID = re.compile(rb"<([^<>\s@\x00-\x1f\x7f]{1,200}@[^<>\s@\x00-\x1f\x7f]{1,200})>")
_SMTP_REPLY = re.compile(r"\b[45]\d\d[ -][245]\.\d{1,3}\.\d{1,3}\b.*|\b[45]\.\d{1,3}\.\d{1,3}\b.*|\b5\d\d\b .*")
#: How much of a reason or an auto-reply the admin shows.
NOTE_CHARACTERS = 200
#: What the secretariat calls each kind of message (the words of `osa bounces poll`).
KIND_NAMES = {
    ReportKind.HARD: _l("hard bounce"),
    ReportKind.SOFT: _l("temporary failure"),
    ReportKind.AUTO_REPLY: _l("auto-reply"),
    ReportKind.CALENDAR_REPLY: _l("calendar reply"),
    ReportKind.OTHER: _l("other"),
}

#: What a calendar reply said, by its PARTSTAT.
CALENDAR_ANSWERS = {
    "ACCEPTED": _l("Accepted in their calendar."),
    "TENTATIVE": _l("Tentative in their calendar."),
    "DECLINED": _l("Declined in their calendar."),
}


@dataclass
class Finding:
    """What one message says. `recipients` are the addresses it is about, lower-cased; `invitee_ids`,
    whose calendar entries a calendar reply answers."""

    kind: ReportKind
    recipients: list[str] = field(default_factory=list)
    reason: str = ""
    invitee_ids: list[int] = field(default_factory=list)


@dataclass
class Recorded:
    """What reading one message did: its finding, the invitees it concerns (and whom it made
    undeliverable), or `known` when it was read before."""

    finding: Finding | None
    invitees: list[Invitee] = field(default_factory=list)
    undeliverable: list[Invitee] = field(default_factory=list)
    known: bool = False


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def classify(message: Message) -> Finding:
    """Hard bounce, soft bounce, calendar reply, auto-reply or other, with the addresses and the server's
    reason (a calendar reply's: ACCEPTED, TENTATIVE or DECLINED)."""
    finding = _delivery_status(message) or _calendar_reply(message)
    if finding is not None:
        return finding
    try:
        temporary, permanent = all_failures(message)
    except Exception as error:  # a detector meeting a message it was not written for (Yale's: one without From)
        log.warning("a message the bounce detectors could not read (%s) is taken as other", type(error).__name__)
        temporary = permanent = frozenset()
    reason = _reason_in_text(message) if permanent or temporary else ""
    if (permanent or temporary) and not about_the_sender(reason):
        kind = ReportKind.HARD if permanent else ReportKind.SOFT
        addresses = sorted({_text(a).lower() for a in (permanent or temporary)})
        return Finding(kind, addresses, reason)
    if _is_auto_reply(message):
        sender = parseaddr(_header(message, "From"))[1].lower()
        return Finding(ReportKind.AUTO_REPLY, [sender] if sender else [], _first_lines(message))
    return Finding(ReportKind.OTHER)


#: A failure status about the sender, not the recipient: RFC 3463's bad sender address (5.1.7, 5.1.8:
#: Microsoft 365's "bad outbound sender" for a mailbox blocked from sending), Microsoft 365's banned
#: sender or sending IP (5.7.501-503, 5.7.606-649, 5.7.705, 5.7.708, 5.7.750).
_SENDER_STATUS = re.compile(r"\b5\.(1\.[78]|7\.(50[123]|6[0-4]\d|705|708|750))\b")


def about_the_sender(reply: str) -> bool:
    """Whether a relay's reply or a report's status is about the sending mailbox, not the recipient's
    address: it makes no one undeliverable."""
    return bool(_SENDER_STATUS.search(reply))


def _delivery_status(message: Message) -> Finding | None:
    """An RFC 3464 report read field by field, or None for a message that is not one (or whose fields
    name no failed recipient)."""
    if message.get_content_type() != "multipart/report":
        return None
    if str(message.get_param("report-type", "")).lower() != "delivery-status":
        return None
    blocks = next((_status_blocks(part) for part in message.walk()
                   if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status")), None)
    if not blocks:
        return None
    hard, soft, about_sender = {}, {}, ""
    for block in blocks[1:] if len(blocks) > 1 else blocks:  # the first block is about the message
        action = (_header(block, "Action").lower().split() or [""])[0]  # "failed (Bad destination…)"
        status = _header(block, "Status").strip()
        recipient = _address_field(block, "Original-Recipient") or _address_field(block, "Final-Recipient")
        if not recipient:
            continue
        diagnostic = _header(block, "Diagnostic-Code").partition(";")
        reason = " ".join((diagnostic[2] or diagnostic[0]).split()) or f"{status} ({action})"
        failed = action.startswith("fail")  # "failure" too, from servers that misspell it
        if about_the_sender(f"{status} {reason}"):
            about_sender = reason  # the sending mailbox was refused, not this address
            continue
        if failed and status.startswith("5"):
            hard[recipient] = reason
        elif action == "delayed" or (failed and status.startswith("4")):
            soft[recipient] = reason
    if not hard and not soft and about_sender:
        return Finding(ReportKind.OTHER, [], _clip(about_sender))
    if not hard and not soft:
        return None  # a report that says nothing readable: the detectors may read its text
    chosen, kind = (hard, ReportKind.HARD) if hard else (soft, ReportKind.SOFT)
    return Finding(kind, sorted(chosen), _clip(next(iter(chosen.values()))))


def _calendar_reply(message: Message) -> Finding | None:
    """An iTIP REPLY (RFC 5546) that a calendar sends when its owner accepts, declines or marks as tentative
    the entry an invitation carried, or None."""
    for part in message.walk():
        if part.get_content_type() not in ("text/calendar", "application/ics"):
            continue
        try:
            calendar = icalendar.Calendar.from_ical(part.get_payload(decode=True) or b"")
        except ValueError:
            continue
        entries = calendar.walk("VEVENT")
        if str(calendar.get("METHOD", "")).upper() != "REPLY" or not entries:
            continue
        invitees = {invitee_of(str(entry.get("UID", ""))) for entry in entries} - {None}
        if not invitees:
            continue  # a reply about a meeting OSA did not set up
        attendees = [a for entry in entries for a in _as_list(entry.get("ATTENDEE"))]
        addresses = sorted({str(a).removeprefix("mailto:").removeprefix("MAILTO:").lower() for a in attendees})
        answer = str(attendees[0].params.get("PARTSTAT", "")).upper() if attendees else ""
        return Finding(ReportKind.CALENDAR_REPLY, addresses, _clip(answer), sorted(i.id for i in invitees))
    return None


def _as_list(value) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def _status_blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return payload
    # Some servers send the status as text: blocks of header fields separated by blank lines.
    text = payload if isinstance(payload, str) else ""
    return [HeaderParser().parsestr(block.strip() + "\n") for block in re.split(r"\r?\n\s*\r?\n", text) if block.strip()]


def _address_field(block: Message, name: str) -> str:
    """The address in a field such as `Final-Recipient: rfc822; anna@example.se`."""
    kind, _, address = _header(block, name).partition(";")
    address = (address or kind).strip().strip("<>").strip()
    return address.lower() if "@" in address else ""


def _header(message: Message, name: str) -> str:
    value = message.get(name)
    return "" if value is None else " ".join(_text(str(value)).split())


def _text(value: bytes | str) -> str:
    """A header's text, without the control characters a report may hold (PostgreSQL refuses a NUL)."""
    return cleaned(value.decode("utf-8", "replace") if isinstance(value, bytes) else value)


def _is_auto_reply(message: Message) -> bool:
    for name, pattern in _AUTO_REPLY_HEADERS.items():
        value = message.get(name)
        if value is not None and pattern.search(str(value)):
            return True
    return bool(_AUTO_REPLY_SUBJECT.search(_decoded_header(message, "Subject")))


def _decoded_header(message: Message, name: str) -> str:
    value = message.get(name)
    if value is None:
        return ""
    try:
        return str(email.header.make_header(email.header.decode_header(str(value))))
    except (ValueError, LookupError, email.errors.MessageError):  # a charset that is no name (or holds a NUL)
        return str(value)


def _body_text(message: Message) -> str:
    """The first text part the sender wrote (HTML without its tags when there is no plain text)."""
    html = None
    for part in message.walk():
        if part.get_content_maintype() == "message":
            break  # the returned original is not the sender's text
        if part.get_content_type() in ("text/plain", "text/html") and not part.get_filename():
            text = (part.get_payload(decode=True) or b"").decode(_charset(part), "replace")
            if part.get_content_type() == "text/plain":
                return text
            html = html or Markup(text).striptags()
    return html or ""


def _charset(part: Message) -> str:
    """The part's charset if Python knows it (real reports name odd ones), else UTF-8."""
    charset = part.get_content_charset() or "utf-8"
    try:
        codecs.lookup(charset)
    except (LookupError, ValueError):  # ValueError: a name with a NUL in it
        return "utf-8"
    return charset


def _first_lines(message: Message) -> str:
    """An auto-reply's first lines of its own (not quoted), for the invitee's note."""
    lines = [line.strip() for line in _body_text(message).splitlines()]
    lines = [line for line in lines if line and not line.startswith(">")]
    return _clip(" ".join(lines[:3]))


def _reason_in_text(message: Message) -> str:
    """The SMTP reply a non-standard report quotes ("550 5.1.1 User unknown"), else its subject."""
    for line in _body_text(message).splitlines():
        if _SMTP_REPLY.search(line):
            return _clip(line)
    return _clip(_decoded_header(message, "Subject"))


def _clip(text: str) -> str:
    text = " ".join(cleaned(text).split())
    return text if len(text) <= NOTE_CHARACTERS else text[: NOTE_CHARACTERS - 1] + "…"


# Matching a report to the email OSA sent


def return_path(row: Outbox) -> str:
    """The envelope sender for `row`: BOUNCE_ADDRESS with the row's signed tag (VERP), so that a
    report that returns nothing of the message still names it; else the From address."""
    bounce_address = current_app.config["BOUNCE_ADDRESS"]
    if not bounce_address:
        return row.sender_address
    local, _, domain = bounce_address.rpartition("@")
    return str(Address(addr_spec=f"{local}+{bounce_tag(row.id)}@{domain}"))


def _tagged_row(message: Message) -> Outbox | None:
    """The outbox row named by a VERP tag in the addresses the report was delivered to."""
    bounce_address = current_app.config["BOUNCE_ADDRESS"]
    if not bounce_address:
        return None
    local, _, domain = bounce_address.lower().rpartition("@")
    pattern = re.compile(rf"^{re.escape(local)}\+([0-9a-z-]+)@{re.escape(domain)}$")
    fields = [str(v) for name in ("To", "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To")
              for v in message.get_all(name, [])]
    for _, address in getaddresses(fields):
        found = pattern.match(address.lower())
        row_id = outbox_id_from_bounce_tag(found.group(1)) if found else None
        if row_id is not None:
            return db.session.get(Outbox, row_id)
    return None


@dataclass
class _Match:
    row: Outbox
    matched_by: str


def _matches(raw: bytes, message: Message, finding: Finding) -> list[_Match]:
    """The invitees' emails the report is about, found the surest way there is."""
    if finding.kind == ReportKind.CALENDAR_REPLY:  # its entries name the invitees, whatever address replied
        rows = [db.session.scalars(select(Outbox).where(Outbox.invitee_id == invitee_id)
                                   .order_by(Outbox.id.desc()).limit(1)).first() for invitee_id in finding.invitee_ids]
        return [_Match(row, "calendar") for row in rows if row is not None]
    own_id = parseaddr(_header(message, "Message-ID"))[1]
    candidates = {f"<{m.decode('ascii', 'replace')}>" for m in _MESSAGE_ID.findall(raw)} - {f"<{own_id}>"}
    rows = db.session.scalars(select(Outbox).where(Outbox.message_id.in_(sorted(candidates)[:200]))).all() \
        if candidates else []
    if rows:
        return [_Match(row, "message-id") for row in rows]
    tagged = _tagged_row(message)
    if tagged is not None:
        return [_Match(tagged, "return-path")]
    found = []
    for address in finding.recipients:
        row = db.session.scalars(select(Outbox).where(func.lower(Outbox.recipient) == _as_stored(address))
                                 .order_by(Outbox.id.desc()).limit(1)).first()
        if row is not None:
            found.append(_Match(row, "address"))
    return found


def _as_stored(address: str) -> str:
    """A reported address as OSA keeps it: a domain's IDNA name (xn--…) in its own letters again."""
    if "xn--" not in address:
        return address
    try:
        return validate_email(address, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return address


def report_key(raw: bytes, message: Message) -> str:
    """One key per report, the same however often it is read: a digest of its Message-ID (of the
    whole message when it has none)."""
    own_id = _header(message, "Message-ID")
    return hashlib.sha256(own_id.encode() if own_id else raw).hexdigest()


def explain_report(raw: bytes) -> tuple[Finding, list[Invitee]]:
    """What a message is and the invitees it would concern, changing nothing."""
    message = parse(raw)
    finding = classify(message)
    matches = _matches(raw, message, finding) if finding.kind != ReportKind.OTHER else []
    ids = sorted({match.row.invitee_id for match in matches if match.row.invitee_id})
    return finding, [db.session.get(Invitee, invitee_id) for invitee_id in ids]


def record_report(raw: bytes) -> Recorded:
    """Read one message of the bounce mailbox and apply it; flushes, the caller commits."""
    message = parse(raw)
    key = report_key(raw, message)
    if db.session.scalar(select(DeliveryReport.id).where(DeliveryReport.report_key.startswith(key)).limit(1)):
        return Recorded(None, known=True)
    finding = classify(message)
    matches = _matches(raw, message, finding) if finding.kind != ReportKind.OTHER else []
    recorded = Recorded(finding)
    now = utcnow()
    for number, match in enumerate(matches):
        invitee = db.session.get(Invitee, match.row.invitee_id) if match.row.invitee_id else None
        db.session.add(DeliveryReport(
            report_key=key if number == 0 else f"{key}#{number}", kind=finding.kind, outbox_id=match.row.id,
            invitee_id=invitee.id if invitee else None, matched_by=match.matched_by, text=finding.reason,
            received_at=now,
        ))
        # A late report about an address since corrected says nothing of the new one.
        if invitee is None or invitee.email_key != match.row.recipient.lower():
            continue
        recorded.invitees.append(invitee)
        db.session.flush()
        if invitee.undeliverable_at is None and _is_dead(invitee, finding, now):
            invitee.undeliverable_at = now
            invitee.undeliverable_problem, invitee.undeliverable_reason = "", finding.reason
            recorded.undeliverable.append(invitee)
    if not matches:
        db.session.add(DeliveryReport(report_key=key, kind=finding.kind, text=finding.reason, received_at=now))
    db.session.flush()
    return recorded


def _is_dead(invitee: Invitee, finding: Finding, now: dt.datetime) -> bool:
    if finding.kind == ReportKind.HARD:
        return True
    if finding.kind != ReportKind.SOFT:
        return False
    return soft_bounces(invitee, now) >= int(current_app.config["BOUNCE_SOFT_LIMIT"])


def soft_bounces(invitee: Invitee, now: dt.datetime | None = None) -> int:
    """How many of the invitee's emails met a temporary failure within the last BOUNCE_SOFT_DAYS: the
    emails, not the reports, since a relay that retries one email may write each time it waits (a delay
    notice, perhaps another, then a failure)."""
    since = (now or utcnow()) - dt.timedelta(days=float(current_app.config["BOUNCE_SOFT_DAYS"]))
    return db.session.scalar(select(func.count(DeliveryReport.outbox_id.distinct())).where(
        DeliveryReport.invitee_id == invitee.id, DeliveryReport.kind == ReportKind.SOFT,
        DeliveryReport.received_at > since,
    ))


def notes(invitee: Invitee) -> list[DeliveryReport]:
    """The invitee's out-of-office notes and calendar replies, newest first."""
    return list(db.session.scalars(select(DeliveryReport).where(
        DeliveryReport.invitee_id == invitee.id,
        DeliveryReport.kind.in_((ReportKind.AUTO_REPLY, ReportKind.CALENDAR_REPLY)),
    ).order_by(DeliveryReport.id.desc())))


def note_text(report: DeliveryReport, answered: bool) -> str:
    """What the invitee's page says of an auto-reply (its first lines) or a calendar reply, whether or not
    the invitee has `answered` in OSA (accepting the confirmation's entry is how many add it to a calendar)."""
    if report.kind != ReportKind.CALENDAR_REPLY:
        return report.text
    said = CALENDAR_ANSWERS.get(report.text, _l("Replied from their calendar."))
    if answered:
        return f"{said} " + _l("What counts is their answer in OSA, which only the page of their link changes.")
    return f"{said} " + _l("A reply from a calendar is no answer to OSA: only the page of their link records one.")
