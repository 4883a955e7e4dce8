"""Email previews for the secretariat: every kind in every language, made by the
same render functions that write the outbox, so a preview is the email as sent.

A preview needs someone to address: the chosen invitee, or the first one, or a
fictional one before any are imported. Kinds about an answer use the invitee's
own answer when they have one that fits, and otherwise a sample answer that is
never stored (the rows are built in memory and never added to the session).
"""

from __future__ import annotations

import copy
import datetime as dt
import errno
from dataclasses import dataclass, field

from flask_babel import force_locale
from sqlalchemy import select

from ..answers import localized
from ..db import utcnow
from ..extensions import db
from ..event_changes import sample_lines
from ..headcount import hotel_changes, hotel_numbers
from ..jobs import numbers_sent_to_hotel
from ..models import Event, Invitee, Response, ResponseDay, ResponseHotelNight
from ..retention import archive_folder, archive_problem, removal_at
from .compose import (
    calendar_filename,
    render_answer_email,
    render_daily_report,
    render_day_before,
    render_event_change,
    render_hotel_change,
    render_hotel_final,
    render_invitation,
    render_reminder,
    render_retention_problem,
)
from .render import KINDS

#: Kinds addressed to an invitee (the others go to the secretariat or the hotel).
INVITEE_KINDS = KINDS[:7]


@dataclass
class Preview:
    kind: str
    language: str
    recipient: str
    subject: str
    text: str
    html: str
    attachments: list[str] = field(default_factory=list)
    #: Set when the preview had to use a sample (no invitee, or no answer of that kind).
    note: str = ""


def _as_reader(invitee: Invitee | None, event: Event, language: str) -> Invitee:
    """An unsaved copy of the invitee who reads `language` (or a fictional invitee)."""
    if invitee is None:
        return Invitee(id=0, event=event, name="Anna Andersson", email="anna.andersson@example.se",
                       organisation="Skellefteå kommun", language=language, link_version=1)
    return Invitee(id=invitee.id, event=event, name=invitee.name, email=invitee.email,
                   organisation=invitee.organisation, role=invitee.role, language=language,
                   link_version=invitee.link_version)


def sample_response(event: Event, attending: bool = True) -> Response:
    """An answer held only in memory: every day, the first transport without a flight, every meal, one night."""
    days = []
    for day in event.days:
        option = next((o for o in event.transport_options if o.day_id == day.id and not o.asks_flight), None)
        days.append(ResponseDay(day=day, day_id=day.id, attending=attending,
                                transport_option=option if attending else None))
    return Response(
        days=days,
        meals=list(event.meals) if attending else [],
        diets=list(event.diet_options[:1]) if attending else [],
        hotel_nights=[ResponseHotelNight(hotel_night=n, hotel_night_id=n.id) for n in event.hotel_nights[:1]]
        if attending else [],
    )


def preview_email(event: Event, kind: str, language: str, invitee: Invitee | None = None) -> Preview:
    """`kind` as it would be sent now, in `language`, to `invitee` (or the first invitee)."""
    if kind not in KINDS:
        raise ValueError(f"unknown email kind {kind!r}")
    note = ""
    attachments: list[dict[str, str]] = []
    if kind in INVITEE_KINDS:
        if invitee is None:
            invitee = db.session.scalar(
                select(Invitee).where(Invitee.event_id == event.id, Invitee.removed_at.is_(None)).order_by(Invitee.id)
            )
        if invitee is None:
            note = "sample-invitee"
        response = invitee.response if invitee is not None else None
        reader = _as_reader(invitee, event, language)
        recipient = reader.email
        wants_attending = kind != "decline"
        if kind not in ("invitation", "reminder") and (response is None or response.attending != wants_attending):
            response = sample_response(event, attending=wants_attending)
            note = note or "sample-answer"
        if kind == "invitation":
            rendered = render_invitation(reader)
            attachments = [{"filename": calendar_filename(event, day)} for day in event.days]
        elif kind == "reminder":
            rendered = render_reminder(event, reader)
        elif kind == "event_change":
            rendered, attachments = render_event_change(reader, response, sample_lines(event, language))
        elif kind == "day_before":
            day = next(row.day for row in response.days if row.attending)
            rendered = render_day_before(event, day, reader, response)
        else:
            extra = {"freed": _first_limited_option(event, language)} if kind == "moved_up" else {}
            rendered, attachments = render_answer_email(kind, reader, response, **extra)
    elif kind == "daily_report":
        recipient = event.secretariat_email
        now = utcnow()
        rendered, attachments = render_daily_report(event, now, now - dt.timedelta(days=1), 0, language)
    elif kind == "hotel_final":
        recipient = event.hotel_email
        rendered, attachments = render_hotel_final(event, hotel_numbers(event), language)
    elif kind == "retention_problem":
        recipient = event.secretariat_email
        with force_locale(language):
            problem = archive_problem(archive_folder(), PermissionError(errno.EACCES, "Permission denied"))
        rendered = render_retention_problem(event, "personal", removal_at(event, "personal"), problem, language)
    else:
        recipient = event.hotel_email
        current = hotel_numbers(event)
        before = numbers_sent_to_hotel(event)
        if before is None:
            before, note = _before_one_left(current), "sample-change"
        changes = hotel_changes(event, before, current, language)
        if not changes:
            note = "no-changes"
        rendered = render_hotel_change(event, changes, language)
    return Preview(
        kind=kind, language=language, recipient=recipient, subject=rendered.subject, text=rendered.text,
        html=rendered.html, attachments=[a["filename"] for a in attachments], note=note,
    )


def _before_one_left(numbers: dict) -> dict:
    """For a change notice's preview before the hotel has numbers: the numbers as they were before one
    person said they no longer come on the first day (to its first meal, night and transport)."""
    before = copy.deepcopy(numbers)
    for kind in ("days", "nights", "transport"):
        for key in list(before.get(kind, {}))[:1]:
            before[kind][key] += 1
    for key in list(before.get("meals", {}))[:1]:
        before["meals"][key]["count"] += 1
    return before


def _first_limited_option(event: Event, language: str) -> str:
    option = next((o for o in event.transport_options if o.capacity is not None), None)
    return localized(option, "name", language) if option is not None else event.name
