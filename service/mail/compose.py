"""Which email goes to whom when something happens, with what in it, written to the outbox.

The `queue_*` functions render an email and queue it in the caller's transaction
with an idempotency key that names what caused it. A round of invitations commits a
chunk at a time (a round cut short resumes), and it and a round of reminders write their
rows without their text: `fill_in_round` renders each when a worker first sends it, or
says why it is not to be sent after all. The keys:

- `invitation:<invitee>:<link version>`: the invitation (a new link means a new invitation);
- `confirmation:<history id>`: an answer was saved (a decline gets the short `decline` kind);
- `moved-up:<history id>`: a seat or a room became free and is now the invitee's;
- `event-change:<change log id>:<invitee>`: a load of the event file changed what they see.

The `render_*` functions make the scheduled emails (reminders, the day before, the
daily report, the hotel's numbers) for `service.jobs` and every kind for the previews.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal
from flask import current_app
from flask_babel import force_locale, gettext
from sqlalchemy import String, case, cast, func, inspect, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import selectinload

from tasks import queue_task

from ..answers import (
    SaveResult,
    day_heading,
    describe_answer,
    describe_logistics,
    localized,
)
from ..dates import format_date, format_datetime, format_time
from ..db import among, utcnow, write_transaction
from ..extensions import db
from ..headcount import changes_between, headcount, labelled_hotel_numbers, newly_undeliverable, rooming_list
from ..links import hotel_url, opt_out_url, rsvp_url
from ..models import (
    Event,
    EventChange,
    EventDay,
    Invitee,
    Outbox,
    OutboxState,
    Response,
    ResponseChange,
    SendProblem,
)
from ..ops import log_unexpected
from ..reports import XLSX_TYPE, answers_csv, answers_over_time, list_workbook
from ..retention import removal_dates
from .delivery import round_done_at
from .ics import days_in_calendar, invitee_calendars
from .outbox import HeaderInjection, fill_in, queue_email, queue_emails, undeliverable_text
from .render import RenderedEmail, render_email

log = logging.getLogger(__name__)


def _day_texts(event: Event, language: str) -> list[dict]:
    """Each day's heading, hours and summary in `language`, for the invitation."""
    return [{"heading": day_heading(day, language), "span": _day_span(event, day, language),
             "summary": localized(day, "summary", language)} for day in event.days]


def _day_span(event: Event, day: EventDay, language: str) -> str:
    """From the first item's start to the last end the programme gives ("09.00–17.00"); an item after
    that with no end (the dinner) follows by its time and title, as it has no end to give the day."""
    def at(instant: dt.datetime) -> str:
        return format_time(instant, event.timezone, language)

    closes = max((item.ends_at for item in day.items if item.ends_at), default=day.starts_at)
    hours = at(day.starts_at) + (f"–{at(closes)}" if closes > day.starts_at else "")
    after = [item for item in day.items if item.ends_at is None and item.starts_at > closes]
    if not after:
        return hours
    last = max(after, key=lambda item: item.starts_at)
    with force_locale(language):
        return gettext("%(hours)s, then %(time)s %(item)s", hours=hours, time=at(last.starts_at),
                       item=localized(last, "title", language))


def email_context(event: Event, invitee: Invitee) -> dict:
    """What every email to an invitee shows besides the event's name and dates (`render_email` adds
    those): their name and link, the deadline, and whether it has passed (then no email offers a
    change: the secretariat makes it)."""
    return {
        "event": event,
        "invitee": invitee,
        "link": rsvp_url(invitee),
        "deadline": format_datetime(event.rsvp_deadline, event.timezone, invitee.language),
        "closed": utcnow() >= event.rsvp_deadline,
    }


def _ics(filename: str, text: str, method: str = "PUBLISH") -> dict[str, str]:
    return {"filename": filename, "content_type": f"text/calendar; method={method}; charset=utf-8", "data": text}


def _calendars(invitee: Invitee, sequence: int | None = None, **kwargs) -> list[dict[str, str]]:
    """The invitee's calendar files for an email (see `ics.invitee_calendars`); SEQUENCE counts the
    answer's changes and the event's (`_changes_so_far`, read now unless given), so it only grows."""
    if sequence is None:
        sequence = _changes_so_far([invitee])[invitee.id]
    with force_locale(invitee.language):
        return [_ics(calendar_filename(invitee.event, day, method), text, method)
                for method, day, text in invitee_calendars(invitee, sequence, **kwargs)]


def calendar_of_day(invitee: Invitee, response: Response, day: EventDay) -> dict[str, str] | None:
    """The calendar file of a day the invitee comes, as their confirmation carries it (the same UID,
    SEQUENCE and text, so a calendar that has it keeps one entry); None for a day they do not come to."""
    name = calendar_filename(invitee.event, day)
    return next((file for file in _calendars(invitee, response=response) if file["filename"] == name), None)


def calendar_filename(event, day, method: str = "REQUEST") -> str:
    """'innovationsmotet-2021-2021-11-25.ics', or '…-inställd.ics' for a cancelled day, in the language in force."""
    name = f"{event.slug}-{day.date.isoformat()}"
    return (gettext("%(name)s-cancelled", name=name) if method == "CANCEL" else name) + ".ics"


def invitation_key(invitee: Invitee) -> str:
    return f"invitation:{invitee.id}:{invitee.link_version}"


#: An outbox row that is the invitation for an invitee's current link (`invitation_key`), in SQL.
_current_invitation = Outbox.idempotency_key == (
    "invitation:" + cast(Invitee.id, String) + ":" + cast(Invitee.link_version, String))


def render_invitation(invitee: Invitee) -> RenderedEmail:
    """The invitation with the invitee's current link, as a round sends it and its previews show it."""
    event = invitee.event
    language = invitee.language
    return render_email("invitation", language, days=_day_texts(event, language), opt_out=opt_out_url(invitee),
                        removal=removal_dates(event, language), data_link=rsvp_url(invitee) + "/data",
                        **email_context(event, invitee))


def _invitation(invitee: Invitee, key: str, sequence: int | None = None) -> dict:
    """The invitation with the invitee's current link, and their calendar (every day, tentative), ready for the outbox."""
    return {"kind": "invitation", "key": key, "invitee": invitee, "rendered": render_invitation(invitee),
            "attachments": _calendars(invitee, sequence, invited=True)}


def queue_invitation(invitee: Invitee, again: bool = False) -> int | None:
    """The invitation with the invitee's current link and their calendar, rendered now (one person's, not a round's).

    `again` sends it once more even if it was sent (the secretariat's "resend").
    """
    key = invitation_key(invitee)
    if again:
        sent_before = db.session.scalar(
            select(func.count(Outbox.id)).where(Outbox.invitee_id == invitee.id, Outbox.kind == "invitation")
        )
        key = f"{key}:again:{sent_before}"
    return queue_email(**_invitation(invitee, key))


def _changes_so_far(invitees: list[Invitee]) -> dict[int | None, int]:
    """How many times each invitee's answer and their event have changed, by invitee id: two reads
    for a round's whole group."""
    ids = [invitee.id for invitee in invitees if invitee.id is not None]
    answers = dict(db.session.execute(
        select(ResponseChange.invitee_id, func.count()).where(ResponseChange.invitee_id.in_(ids))
        .group_by(ResponseChange.invitee_id)).all()) if ids else {}
    event_ids = {invitee.event.id for invitee in invitees if invitee.event.id is not None}  # None: a preview's event
    events = dict(db.session.execute(
        select(EventChange.event_id, func.count()).where(EventChange.event_id.in_(event_ids))
        .group_by(EventChange.event_id)).all()) if event_ids else {}
    return {invitee.id: answers.get(invitee.id, 0) + events.get(invitee.event.id, 0) for invitee in invitees}


def render_answer_email(
    kind: str, invitee: Invitee, response: Response, before: dict | None = None, **extra
) -> tuple[RenderedEmail, list[dict[str, str]]]:
    """A confirmation, decline or move-up email about `response`, with the invitee's calendar: the
    days they come, and a cancellation of each day `before` (the answer it replaces) had in it."""
    event = invitee.event
    language = invitee.language
    attachments = _calendars(invitee, response=response, before=days_in_calendar(before, event))
    rendered = render_email(
        kind,
        language,
        summary=describe_answer(event, response, language),
        logistics=describe_logistics(event, response, language),
        **extra,
        **email_context(event, invitee),
    )
    return rendered, attachments


def _answer_email(kind: str, key: str, invitee: Invitee, response: Response, **extra) -> int | None:
    rendered, attachments = render_answer_email(kind, invitee, response, **extra)
    return queue_email(kind=kind, key=key, invitee=invitee, rendered=rendered, attachments=attachments)


def queue_answer_emails(invitee: Invitee, result: SaveResult) -> None:
    """A confirmation of the saved answer, and a notice to everyone it moved up a waiting list."""
    if result.change is not None:
        kind = "confirmation" if result.response.attending else "decline"
        _answer_email(kind, f"confirmation:{result.change.id}", invitee, result.response, before=result.change.old)
    queue_moved_up_emails(result.moved_up)


def queue_put_back_emails(invitee: Invitee, result: SaveResult) -> None:
    """For an invitee put back on the list: their answer, saying why they now wait for a place
    they had, when one was given away meanwhile; and a notice to everyone it moved up."""
    if result.change is not None:
        _answer_email("confirmation", f"confirmation:{result.change.id}", invitee, result.response,
                      before=result.change.old, put_back=True)
    queue_moved_up_emails(result.moved_up)


def render_event_change(invitee: Invitee, response: Response, changes: list[str]) -> tuple[RenderedEmail, list]:
    """What changed for them (`changes`, in their language), their answer, and their calendar
    entries for the days they come (the same UIDs, a higher SEQUENCE)."""
    days = {row.day.key: {"attending": True} for row in response.days if row.attending}
    return render_answer_email("event_change", invitee, response, before={"days": days}, changes=changes)


def queue_event_change_emails(entry: EventChange, lines: dict[int, list[str]]) -> int:
    """One email to each invitee (by id) with every change of one load of the event file that concerns
    them (`lines`, in their language)."""
    emails = []
    invitees = db.session.scalars(select(Invitee).where(among(Invitee.id, list(lines))).order_by(Invitee.id)
                                  .options(selectinload(Invitee.role),
                                           selectinload(Invitee.response).selectinload(Response.days),
                                           selectinload(Invitee.response).selectinload(Response.meals)))
    for invitee in invitees:
        rendered, attachments = render_event_change(invitee, invitee.response, lines[invitee.id])
        emails.append({"kind": "event_change", "key": f"event-change:{entry.id}:{invitee.id}", "invitee": invitee,
                       "rendered": rendered, "attachments": attachments})
    return queue_emails(emails)


def queue_moved_up_emails(moved_up: list[ResponseChange]) -> None:
    """A notice to each invitee a waiting list moved up, naming the seat or room they got."""
    for change in moved_up:
        moved = db.session.get(Invitee, change.invitee_id)
        _answer_email(
            "moved_up", f"moved-up:{change.id}", moved, moved.response, before=change.old,
            freed=_what_was_freed(moved, change),
        )


def _what_was_freed(invitee: Invitee, change: ResponseChange) -> str:
    """'Bussen från The Wood Hotel' or 'natten efter onsdag 24 november 2021'."""
    event = invitee.event
    language = invitee.language
    for key, day in change.new["days"].items():
        if change.old and change.old["days"].get(key, {}).get("waitlisted") and not day["waitlisted"]:
            option = next(o for o in event.transport_options if o.key == day["transport"])
            return localized(option, "name", language)
    for key, night in change.new["hotel_nights"].items():
        if change.old and change.old["hotel_nights"].get(key, {}).get("waitlisted") and not night["waitlisted"]:
            night_of = next(n.night_of for n in event.hotel_nights if n.key == key)
            with force_locale(language):
                night = gettext("the night after %(date)s", date=format_date(night_of, language))
            return f"{event.hotel_name}, {night}"
    return event.name


#: The daily report shows answers day by day for this many days back.
REPORT_DAYS = 7


# --- Invitation rounds ----------------------------------------------------------------------


@dataclass
class RoundProgress:
    total: int
    sent: int
    failed: int
    #: About when the rest will have gone, at the current rate and daily limit (None: soon, or done).
    done_at: dt.datetime | None = None

    @property
    def pending(self) -> int:
        return self.total - self.sent - self.failed

    @property
    def done(self) -> bool:
        return self.pending == 0


def _to_invite(event: Event, only_new: bool = False):
    """Invitees without an invitation for their current link (or, `only_new`, without any), leaving
    out those whose address the relay has refused (a round would only be refused again)."""
    conditions = [Invitee.event_id == event.id, Invitee.removed_at.is_(None), Invitee.undeliverable_at.is_(None)]
    if only_new:
        invited = select(Outbox.invitee_id).where(Outbox.kind == "invitation", Outbox.invitee_id.is_not(None))
        return conditions + [Invitee.id.not_in(invited)]
    return conditions + [~select(Outbox.id).where(_current_invitation).exists()]


def invitees_to_invite(event: Event, only_new: bool = False) -> list[Invitee]:
    """The invitees a round would invite now (`_to_invite`), in the order they were added."""
    return list(db.session.scalars(select(Invitee).where(*_to_invite(event, only_new)).order_by(Invitee.id)))


def first_to_invite(event: Event, only_new: bool = False) -> Invitee | None:
    """The first invitee a round would invite now, whose invitation a dry run shows."""
    return db.session.scalar(select(Invitee).where(*_to_invite(event, only_new)).order_by(Invitee.id).limit(1))


def count_to_invite(event: Event, only_new: bool = False) -> int:
    return db.session.scalar(select(func.count(Invitee.id)).where(*_to_invite(event, only_new))) or 0


#: A round is written this many invitations to a transaction.
ROUND_CHUNK = 1000


def queue_invitations(event: Event, invitees: list[Invitee] | list[int], chunk: int = ROUND_CHUNK,
                      stopping: Callable[[], bool] = lambda: False) -> int:
    """Write the round's invitations, committing every `chunk` rows so a round cut short resumes where
    it stopped (and stopping before the next chunk once `stopping()` says so). The rows are written
    without their text: the worker that sends each one renders it then (`fill_in_round`), from
    the invitee and the event as they are, since a round at the relay's daily limit goes out over days."""
    written = 0
    # The ids from the identity map: reading `.id` would reload each invitee expired by a commit.
    ids = [invitee if isinstance(invitee, int) else inspect(invitee).identity[0] for invitee in invitees]
    for start in range(0, len(ids), chunk):
        if stopping():
            break
        with write_transaction():
            batch = db.session.scalars(
                select(Invitee).where(Invitee.id.in_(ids[start:start + chunk])).order_by(Invitee.id)
            ).all()
            written += queue_emails([{"kind": "invitation", "key": invitation_key(invitee), "event": event,
                                      "invitee": invitee, "rendered": None} for invitee in batch])
    return written


def write_round(event_id: int, only_new: bool = False, stopping: Callable[[], bool] = lambda: False) -> int:
    """The round for everyone without an invitation for their current link (`only_new`: without any),
    written in chunks (a worker's task). A worker asked to stop (`stopping`) leaves the rest to the next."""
    event = db.session.get(Event, event_id)
    if event is None:
        return 0
    ids = list(db.session.scalars(select(Invitee.id).where(*_to_invite(event, only_new)).order_by(Invitee.id)))
    written = queue_invitations(event, ids, chunk=ROUND_CHUNK, stopping=stopping)
    if stopping():
        start_round(event, only_new)  # the rest, if any, written by whichever worker takes it
    return written


def start_round(event: Event, only_new: bool = False) -> bool:
    """Have a worker write the round (`write_round`); False when the workers' queue cannot be reached."""
    return queue_task("osa.invitations.write_round", event.id, only_new)


def fill_in_round(rows: list[Outbox]) -> dict[int, tuple[SendProblem | str, str] | None]:
    """Give a round's emails (invitations, reminders) their text now, in the caller's transaction; for
    each row, why it is not to be sent after all and the detail (None when it is). The invitees and
    their event are read together, once."""
    invitees = {invitee.id: invitee for invitee in db.session.scalars(
        select(Invitee).where(Invitee.id.in_([row.invitee_id for row in rows if row.invitee_id is not None]))
        .options(selectinload(Invitee.role), selectinload(Invitee.response),
                 selectinload(Invitee.event).selectinload(Event.days).selectinload(EventDay.items),
                 selectinload(Invitee.event).selectinload(Event.retention_postponements))
    )}
    sequences = _changes_so_far(list(invitees.values()))
    problems = {}
    with db.session.no_autoflush:  # the rows' text is written together when the caller flushes, not row by row
        for row in rows:
            fill = _fill_in_reminder if row.kind == "reminder" else _fill_in_invitation
            try:
                problems[row.id] = fill(row, invitees.get(row.invitee_id), sequences)
            except HeaderInjection:  # a header the email would need holds a line break
                problems[row.id] = (SendProblem.HEADER_LINE_BREAK, "")
            except DBAPIError:  # the database, not this email: the batch waits for it
                raise
            except Exception as error:  # a fault of OSA's own (a bug, a row changed by hand): this email fails alone
                log_unexpected(log, f"writing outbox row {row.id}", error)
                problems[row.id] = (SendProblem.NOT_BUILT, type(error).__name__)
    return problems


def _unreachable(invitee: Invitee | None) -> tuple[SendProblem | str, str] | None:
    """Why no round's email goes to the invitee any more (removed, or their address found dead), or None."""
    if invitee is None or invitee.removed_at is not None or invitee.erased_at is not None:
        return SendProblem.REMOVED, ""
    if invitee.undeliverable_at is not None:  # OSA's own reason if it had one, else the relay's answer
        return invitee.undeliverable_problem or SendProblem.UNDELIVERABLE, invitee.undeliverable_reason
    return None


def _fill_in_invitation(row: Outbox, invitee: Invitee | None,
                        sequences: dict[int | None, int]) -> tuple[SendProblem | str, str] | None:
    if problem := _unreachable(invitee):
        return problem
    if row.idempotency_key != invitation_key(invitee):
        return SendProblem.LINK_REPLACED, ""
    fill_in(row, **_invitation(invitee, row.idempotency_key, sequences[invitee.id]))
    return None


def _fill_in_reminder(row: Outbox, invitee: Invitee | None,
                      sequences: dict[int | None, int]) -> tuple[SendProblem | str, str] | None:
    """A reminder goes only to someone who still has not answered and has not asked for no reminders
    since it was written: a reminder round at the relay's rate takes minutes, or days at its daily limit."""
    if problem := _unreachable(invitee):
        return problem
    if invitee.response is not None:
        return SendProblem.ANSWERED, ""
    if invitee.reminders_opted_out:
        return SendProblem.OPTED_OUT, ""
    fill_in(row, kind="reminder", key=row.idempotency_key, invitee=invitee,
            rendered=render_reminder(invitee.event, invitee))
    return None


def invitation_progress(event: Event) -> RoundProgress:
    """How far the invitations for everyone's current link have come, counted by the database."""
    total, sent, failed = db.session.execute(
        select(func.count(Invitee.id), func.count(case((Outbox.state == OutboxState.SENT, 1))),
               func.count(case((Outbox.state == OutboxState.FAILED, 1))))
        .select_from(Invitee).outerjoin(Outbox, _current_invitation)
        .where(Invitee.event_id == event.id, Invitee.removed_at.is_(None))
    ).one()
    pending = total - sent - failed
    return RoundProgress(total=total, sent=sent, failed=failed, done_at=round_done_at(pending))


# --- Scheduled emails ------------------------------------------------------------------------


def render_reminder(event: Event, invitee: Invitee) -> RenderedEmail:
    return render_email("reminder", invitee.language, opt_out=opt_out_url(invitee), **email_context(event, invitee))


def render_day_before(event: Event, day: EventDay, invitee: Invitee, response: Response) -> RenderedEmail:
    """The day's programme for the invitee's role, and their own transport and meals."""
    language = invitee.language
    role = invitee.role_key
    agenda = []
    for item in day.items:
        if not item.is_for(role):
            continue
        title, place = localized(item, "title", language), localized(item, "place", language)
        agenda.append({
            "when": format_time(item.starts_at, event.timezone, language, item.approximate)
            + (f"–{format_time(item.ends_at, event.timezone, language)}" if item.ends_at else ""),
            "title": title,
            # Not twice: "Lunch på the Wood Hotel (The Wood Hotel)".
            "place": "" if place.casefold() in title.casefold() else place,
        })
    return render_email(
        "day_before", language,
        day_heading=day_heading(day, language),
        logistics=describe_logistics(event, response, language, only_day=day),
        agenda=agenda,
        # Who stays the night has the hotel's address in their list already.
        stays=any(night.waitlisted_at is None for night in response.hotel_nights),
        **email_context(event, invitee),
    )


def _admin_url(endpoint: str, **values) -> str:
    # Built from the URL map, so it works in workers too.
    return current_app.config["BASE_URL"].rstrip("/") + current_app.url_map.bind("").build(endpoint, values)


def render_daily_report(
    event: Event, at: dt.datetime, previous: dt.datetime | None, missed: int, language: str | None = None
) -> tuple[RenderedEmail, list[dict[str, str]]]:
    """The report as of `at`, with the changes since `previous`, the last week's answers day by day
    (as text: mail programs block pictures), and every answer as CSV: attached while the list holds
    at most `REPORT_ATTACHMENT_INVITEES`; above, linked to in the admin, since a file of a national
    mailing's answers would fill the mailbox every morning and many mail servers refuse it."""
    language = language or event.default_language
    tz = ZoneInfo(event.timezone)
    most = current_app.config["REPORT_ATTACHMENT_INVITEES"]
    listed = db.session.scalar(select(func.count(Invitee.id)).where(Invitee.event_id == event.id,
                                                                    Invitee.removed_at.is_(None)))
    every_answer = answers_csv(event, language) if listed <= most else None
    over_time = [(format_date(day, language), coming, not_coming)
                 for day, coming, not_coming in answers_over_time(event, at)[-REPORT_DAYS:]]
    with force_locale(language):
        undeliverable = [(i.name, i.organisation, i.email, undeliverable_text(i),
                          _admin_url("admin.invitee", invitee_id=i.id)) for i in newly_undeliverable(event, previous, at)]
        how = {"answered": gettext("answered"), "changed": gettext("changed their answer"),
               "by_secretariat": gettext("answer changed by the secretariat"),
               "moved_up": gettext("moved up from the waiting list")}
        changes = [(name, how[what], detail) for name, what, detail in changes_between(event, previous, at, language)]
    rendered = render_email(
        "daily_report", language, event=event, report_date=format_date(at.astimezone(tz).date(), language),
        counts=headcount(event, language), changes=changes, missed=missed,
        over_time=over_time, attached=every_answer is not None, most=format_decimal(most, locale=language),
        export=_admin_url("admin.answers_csv_export"),
        undeliverable=undeliverable,
    )
    if every_answer is None:
        return rendered, []
    with force_locale(language):
        name = gettext("answers")
    return rendered, [{"filename": f"{event.slug}-{name}-{at.astimezone(tz).date().isoformat()}.csv",
                       "content_type": "text/csv; charset=utf-8", "data": every_answer}]


def render_hotel_final(event: Event, numbers: dict, language: str | None = None
                       ) -> tuple[RenderedEmail, list[dict[str, str]]]:
    """The final numbers to the hotel; where the event file gives it names, with the rooming list in
    the email and as an Excel file attached (a hotel's booking system reads one)."""
    language = language or event.default_language
    rooms = rooming_list(event, language, emails=False)[0] if event.hotel_names else []
    rendered = render_email(
        "hotel_final", language, event=event, numbers=labelled_hotel_numbers(event, numbers, language),
        hotel_link=hotel_url(event), rooming_list=rooms,
    )
    if not rooms:
        return rendered, []
    with force_locale(language):
        columns = [gettext("Name"), gettext("Organisation"), gettext("Arrives"), gettext("Departs"), gettext("Nights")]
        title, name = gettext("Rooming list"), gettext("rooming-list")
    workbook = list_workbook([(title, columns, rooms)])
    return rendered, [{"filename": f"{event.slug}-{name}.xlsx", "content_type": XLSX_TYPE, "encoding": "base64",
                       "data": base64.b64encode(workbook).decode("ascii")}]


def render_retention_problem(event: Event, step: str, due: dt.datetime, problem: str,
                             language: str | None = None) -> RenderedEmail:
    """To the secretariat: a removal of personal data did not run, why, and what to do."""
    language = language or event.default_language
    with force_locale(language):
        what = gettext("sensitive details") if step == "sensitive" else gettext("all personal data")
    return render_email("retention_problem", language, event=event, what=what, problem=problem,
                        due=format_datetime(due, event.timezone, language), page=_admin_url("admin.privacy"))


def render_hotel_change(event: Event, changes: list[str], language: str | None = None) -> RenderedEmail:
    return render_email("hotel_change", language or event.default_language, event=event, changes=changes,
                        hotel_link=hotel_url(event))
