"""Personal data with an end: what OSA removes after an event, when, and the archive it writes first.

Two steps, each a scheduled job (`jobs.due_times`), counted in days after the
event's last day (the event file's `[retention]`, else RETENTION_*_DAYS), and
later where the secretariat postponed one with a reason:

- *sensitive*: allergies and diet notes, comments, flight numbers and arrival
  times, auto-reply notes, the hotel's allergy lists, and the text of every email
  of the event (confirmations repeat the answer; reports attach it).
- *personal*: names, addresses and organisations as well: each invitee becomes a
  row with an id that counts (their days, meals, diet options, transport,
  nights and role stay), and every email keeps only its kind, state and times.

`erase_invitee` applies both to one person at once (an erasure request the
secretariat confirmed, or their own decision). With RETENTION_ARCHIVE on, each
step first writes an archive package (`write_archive`) and records its
checksum; if that fails, nothing is removed (`ArchiveError`), and the job tries
again at the next beat. Domain functions only flush; the job owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import io
import json
import os
import zipfile
from copy import deepcopy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, render_template
from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select, update

from .answers import current_snapshot, describe_answer, localized
from .dates import format_date, format_datetime
from .db import utcnow
from .extensions import db
from .headcount import describe_change, hotel_numbers, labelled_hotel_numbers
from .models import (
    AdminUser,
    DeliveryReport,
    Event,
    ImportJob,
    Invitee,
    JobRun,
    Outbox,
    OutboxState,
    Response,
    ResponseChange,
    ResponseDay,
    RetentionPostponement,
)
from .mail.outbox import undeliverable_text
from .reports import archive_workbook, headcount_csv

STEPS = ("sensitive", "personal")
#: The keys of an answer's snapshot (see `answers.snapshot`) that are sensitive.
SENSITIVE_ANSWER_KEYS = ("allergies", "comment")
SENSITIVE_DAY_KEYS = ("flight_number", "flight_arrival")


class ArchiveError(Exception):
    """The archive could not be written, so the removal did not run; the message says why."""


def retention_days(event: Event, step: str) -> int:
    own = event.retention_sensitive_days if step == "sensitive" else event.retention_personal_days
    if own is not None:
        return own
    return int(current_app.config["RETENTION_SENSITIVE_DAYS" if step == "sensitive" else "RETENTION_PERSONAL_DAYS"])


def postponement(event: Event, step: str) -> RetentionPostponement | None:
    """The newest postponement of the step, if any (the older ones stay, as the record)."""
    return next((later for later in reversed(event.retention_postponements) if later.step == step), None)


def removal_at(event: Event, step: str) -> dt.datetime:
    """When the step is due: the start of the local day `retention_days` after the last day,
    or of the day the secretariat postponed it to."""
    zone = ZoneInfo(event.timezone)
    day = event.days[-1].date + dt.timedelta(days=1 + retention_days(event, step))
    later = postponement(event, step)
    if later is not None and later.until > day:
        day = later.until
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.timezone.utc)


def remove(event: Event, step: str, at: dt.datetime) -> dict[str, Any]:
    """Run one step for the whole event (archive first when it is on); return what to keep of
    the run: the archive's name and checksum."""
    record = write_archive(event, step, at) if current_app.config["RETENTION_ARCHIVE"] else {}
    invitees = select(Invitee.id).where(Invitee.event_id == event.id)
    _remove_sensitive(event, invitees, whole_event=True)
    if step == "personal":
        _remove_personal(event, invitees, whole_event=True)
    event.retention_problem = ""
    db.session.flush()
    return record


def erase_invitee(invitee: Invitee) -> None:
    """Remove the person's data now, as both steps would: what counts stays, with no one attached.
    The event's reports and hotel mails, which hold every answer, lose their text once sent, and
    are written again without the person while they wait for the relay."""
    from .jobs import write_waiting_reports_again  # the jobs write those emails, and run the removals here

    event = invitee.event
    allergy = invitee.response.allergies if invitee.response else ""
    names = {invitee.name}
    ids = select(Invitee.id).where(Invitee.id == invitee.id)
    _remove_sensitive(event, ids, whole_event=False, allergy=allergy, names=names)
    _remove_personal(event, ids, whole_event=False, names=names)
    db.session.flush()
    write_waiting_reports_again(event)
    db.session.flush()


def _remove_sensitive(event: Event, invitees, whole_event: bool, allergy: str = "", names: set[str] = frozenset()) -> None:
    responses = select(Response.id).where(Response.invitee_id.in_(invitees))
    db.session.execute(update(Response).where(Response.invitee_id.in_(invitees)).values(allergies="", comment=""))
    db.session.execute(update(ResponseDay).where(ResponseDay.response_id.in_(responses))
                       .values(flight_number="", flight_arrival=None))
    for change in db.session.scalars(select(ResponseChange).where(ResponseChange.invitee_id.in_(invitees))):
        change.old = _without_sensitive(change.old)
        change.new = _without_sensitive(change.new)
    db.session.execute(update(DeliveryReport).where(DeliveryReport.invitee_id.in_(invitees)).values(text=""))
    # The email of the event: every message once it has gone (a person's own, or the reports and the
    # hotel's mail that list everyone, when one person is erased).
    rows = update(Outbox).where(Outbox.event_id == event.id, Outbox.state.in_((OutboxState.SENT, OutboxState.FAILED)))
    if not whole_event:
        rows = rows.where(Outbox.invitee_id.in_(invitees) | Outbox.invitee_id.is_(None))
    db.session.execute(rows.values(body_text="", body_html="", attachments=[]))
    for run in db.session.scalars(select(JobRun).where(JobRun.event_id == event.id, JobRun.numbers.is_not(None))):
        if "allergies" in (run.numbers or {}):
            numbers = deepcopy(run.numbers)
            numbers["allergies"] = [] if whole_event else [
                line for line in numbers["allergies"]
                if not (allergy and line.endswith(allergy)) and line.partition(":")[0] not in names]
            run.numbers = numbers


def _remove_personal(event: Event, invitees, whole_event: bool, names: set[str] = frozenset()) -> None:
    now = utcnow()
    for invitee in db.session.scalars(select(Invitee).where(Invitee.id.in_(invitees), Invitee.erased_at.is_(None))):
        invitee.name, invitee.email, invitee.email_key = "", "", f"erased-{invitee.id}"
        invitee.organisation, invitee.undeliverable_problem, invitee.undeliverable_reason = "", "", ""
        invitee.link_version += 1  # their links stop working
        invitee.erased_at = now
    theirs = Outbox.invitee_id.in_(invitees)
    # What was still to go to them never goes: it would carry what is being removed.
    db.session.execute(update(Outbox).where(Outbox.event_id == event.id, theirs, Outbox.state == OutboxState.QUEUED)
                       .values(state=OutboxState.FAILED))
    db.session.execute(update(Outbox).where(Outbox.event_id == event.id, theirs).values(
        recipient="", recipient_name="", subject="", last_error="", unsubscribe_url="", body_text="", body_html="",
        attachments=[]))
    # The hotel's rooming lists as sent, kept to tell it who came or went (`[hotel] names = true`); an
    # erased person's stay stays, without their name, as it does in the list now (no change to tell).
    for run in db.session.scalars(select(JobRun).where(JobRun.event_id == event.id, JobRun.numbers.is_not(None))):
        if (run.numbers or {}).get("rooming"):
            run.numbers = {**run.numbers, "rooming": [] if whole_event else [
                ["", "", *stay[2:]] if stay[0] in names else stay for stay in run.numbers["rooming"]]}
    if whole_event:
        db.session.execute(update(Outbox).where(
            Outbox.event_id == event.id, Outbox.state.in_((OutboxState.SENT, OutboxState.FAILED)),
        ).values(body_text="", body_html="", attachments=[], last_error=""))
        db.session.execute(update(DeliveryReport).where(DeliveryReport.outbox_id.in_(
            select(Outbox.id).where(Outbox.event_id == event.id))).values(text=""))
        # An import's file and its problems quote the rows it was given.
        db.session.execute(delete(ImportJob).where(ImportJob.event_id == event.id))


def _without_sensitive(answer: dict[str, Any] | None) -> dict[str, Any] | None:
    if answer is None:
        return None
    answer = deepcopy(answer)
    for key in SENSITIVE_ANSWER_KEYS:
        if key in answer:
            answer[key] = ""
    for day in answer.get("days", {}).values():
        for key in SENSITIVE_DAY_KEYS:
            if key in day:
                day[key] = "" if key == "flight_number" else None
    return answer


# --- The archive ---------------------------------------------------------------------------


def archive_folder() -> Path:
    return Path(current_app.config["RETENTION_ARCHIVE_DIR"] or Path(current_app.instance_path) / "archive")


def write_archive(event: Event, step: str, at: dt.datetime) -> dict[str, str]:
    """The event's records as they stand, in one ZIP file: every answer with its history (XLSX), the
    headcount and the hotel's numbers, and a README that says what it holds. Written whole, then
    renamed, so no half-written archive is ever taken for one. `ArchiveError` when it cannot be."""
    language = event.default_language
    day = at.astimezone(ZoneInfo(event.timezone)).date().isoformat()
    name = f"{event.slug}-{step}-{day}.zip"
    numbers = labelled_hotel_numbers(event, hotel_numbers(event), language)
    with force_locale(language):
        readme = gettext(
            "OSA archive of %(event)s, written %(day)s before the removal of %(what)s.\n\n"
            "answers.xlsx: every invitee's answer, and every change to it (who, when, before and after).\n"
            "headcount.csv: the numbers per day, meal, diet, transport, hotel night and role.\n"
            "hotel-numbers.json: the numbers the hotel has.\n",
            event=event.name, day=day,
            what=gettext("sensitive details") if step == "sensitive" else gettext("all personal data"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", readme)
        archive.writestr("answers.xlsx", archive_workbook(event, language))
        archive.writestr("headcount.csv", headcount_csv(event, language))
        archive.writestr("hotel-numbers.json", json.dumps(numbers, ensure_ascii=False, indent=2))
    data = buffer.getvalue()
    folder = archive_folder()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{name}.partial"
        with open(partial, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, folder / name)
    except OSError as error:
        raise ArchiveError(archive_problem(folder, error)) from None
    return {"archive": name, "sha256": hashlib.sha256(data).hexdigest()}


#: The usual reasons a folder cannot be written, in the reader's language (the system says them in English).
_OS_REASONS = {
    errno.EACCES: _l("no permission to write there"),
    errno.EPERM: _l("no permission to write there"),
    errno.ENOSPC: _l("the disk is full"),
    errno.EROFS: _l("the disk is read-only"),
    errno.ENOTDIR: _l("part of the path is a file, not a folder"),
    errno.EEXIST: _l("a file is where the folder should be"),
}


def archive_problem(folder: Path, error: OSError) -> str:
    """Why the archive was not written, for the secretariat's email and the admin."""
    reason = _OS_REASONS.get(error.errno) or error.strerror or type(error).__name__
    return gettext("the archive could not be written to %(folder)s (%(error)s), so nothing was removed",
                   folder=folder, error=reason)


# --- What OSA holds about one person --------------------------------------------------------


def removal_dates(event: Event, language: str) -> dict[str, str]:
    """When each step removes the event's data, as a reader's date."""
    zone = ZoneInfo(event.timezone)
    return {step: format_date(removal_at(event, step).astimezone(zone).date(), language) for step in STEPS}


def personal_data(invitee: Invitee, language: str) -> dict[str, Any]:
    """Everything OSA holds about the invitee, as plain data (their data page and its JSON)."""
    event = invitee.event
    changes = db.session.scalars(select(ResponseChange).where(ResponseChange.invitee_id == invitee.id)
                                 .order_by(ResponseChange.id)).all()
    emails = db.session.scalars(select(Outbox).where(Outbox.invitee_id == invitee.id).order_by(Outbox.id)).all()
    reports = db.session.scalars(select(DeliveryReport).where(DeliveryReport.invitee_id == invitee.id)
                                 .order_by(DeliveryReport.id)).all()

    def when(instant: dt.datetime | None) -> str | None:
        return format_datetime(instant, event.timezone, language) if instant else None

    with force_locale(language):
        undeliverable = undeliverable_text(invitee) or None
    return {
        "event": localized(event, "name", language),
        "responsible": event.organiser,
        "details": {
            "name": invitee.name, "email": invitee.email, "organisation": invitee.organisation,
            "role": invitee.role_key, "language": invitee.language,
            "reminders": not invitee.reminders_opted_out,
            "undeliverable": undeliverable,
            "added": when(invitee.created_at), "erasure_requested": when(invitee.erasure_requested_at),
        },
        "answer": current_snapshot(invitee.id),
        "answer_described": describe_answer(event, invitee.response, language) if invitee.response else None,
        "history": [{"at": when(c.changed_at), "by": c.actor, "old": c.old, "new": c.new,
                     "described": describe_change(event, c.old, c.new, language)} for c in changes],
        "emails": [{"at": when(e.sent_at or e.created_at), "kind": e.kind, "subject": e.subject, "state": e.state}
                   for e in emails],
        "notes": [{"at": when(r.received_at), "kind": r.kind, "text": r.text} for r in reports if r.text],
        "removal": removal_dates(event, language),
    }


def processing_record(event: Event, language: str) -> str:
    """A draft record of processing (GDPR article 30), from the same facts OSA acts on."""
    invitees = db.session.scalar(select(func.count(Invitee.id)).where(
        Invitee.event_id == event.id, Invitee.erased_at.is_(None)))
    roles = ", ".join(localized(role, "name", language) for role in event.roles) or "–"
    users = ", ".join(db.session.scalars(select(AdminUser.username).order_by(AdminUser.username))) or "–"
    return render_template(
        "privacy/record.txt", event=event, event_name=localized(event, "name", language), language=language,
        invitees=invitees, roles=roles, users=users,
        relay=current_app.config["SMTP_HOST"], archive=current_app.config["RETENTION_ARCHIVE"],
        removal=removal_dates(event, language), sensitive_days=retention_days(event, "sensitive"),
        personal_days=retention_days(event, "personal"),
    )
