"""Storing an event definition in the database, and printing an event back.

`store_event(definition)` creates the event or brings it up to date with its
file, keeping the rows of options that still exist (answers point at them), so
loading the same file twice changes nothing. What attendees see of the change
(a time, a place) comes back as `seen_changes`, for `event_changes.record_changes`
to log and tell them. A capacity raised by a reload moves
the first waiting up into the new places; one lowered below the places held
takes none away, and the load says so. An option that answers or
invitees refer to cannot be removed by a reload, nor moved to another day:
that is refused, with the count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import func, select

from .answers import fill_raised_capacities, localized, over_capacity, venue_line
from .dates import format_date, format_datetime, format_time
from .db import utcnow
from .event_changes import SeenChange, compare, left_behind, seen
from .eventfile import EventDefinition, EventFileError, Problem
from .extensions import db
from .models import (
    AgendaItem,
    Contact,
    DietOption,
    Event,
    EventDay,
    HotelNight,
    Invitee,
    Meal,
    ResponseChange,
    ResponseDay,
    ResponseHotelNight,
    Role,
    TransportOption,
    response_diet,
    response_meal,
)


@dataclass
class StoreResult:
    event: Event
    created: bool
    changed: bool
    #: History rows of the invitees a raised capacity moved up from a waiting list.
    moved_up: list[ResponseChange] = field(default_factory=list)
    #: What the load changed that attendees see (see `service.event_changes`).
    seen_changes: list[SeenChange] = field(default_factory=list)
    #: Transport options and hotel nights with more places held than the file now gives (`answers.over_capacity`).
    over_capacity: tuple[list, list] = field(default_factory=lambda: ([], []))
    #: Times and places the load changed in one place of the file and not in its twin (`event_changes.left_behind`).
    left_behind: list[dict[str, str]] = field(default_factory=list)


class _Changes:
    """Counts what a load changes, as it changes it (queries may autoflush midway)."""

    def __init__(self) -> None:
        self.count = 0

    def assign(self, row: Any, values: dict[str, Any]) -> None:
        for name, value in values.items():
            if getattr(row, name) != value:
                setattr(row, name, value)
                self.count += 1


def _sync_keyed(
    changes: _Changes,
    rows: list[Any],
    wanted: Iterable[tuple[str, dict[str, Any]]],
    make: Callable[[], Any],
    used_by: Any,
    what: str,
    problems: list[Problem],
) -> None:
    """Make `rows` (a relationship list) hold exactly the wanted keys, updating rows in place; a row
    that `used_by` (a column naming it: an invitee's role, an answer's meal) still names stays."""
    by_key = {row.key: row for row in rows}
    wanted = list(wanted)
    keep = {key for key, _ in wanted}

    def uses(row) -> int:
        return db.session.scalar(select(func.count()).select_from(used_by.table).where(used_by == row.id))

    for row in list(rows):
        if row.key not in keep:
            if used := uses(row):
                problems.append(
                    Problem(what, None, ngettext(
                        "'%(key)s' is no longer in the file but %(num)d answer or invitee uses it; keep it in the "
                        "file or change that first",
                        "'%(key)s' is no longer in the file but %(num)d answers or invitees use it; keep it in the "
                        "file or change those first", used, key=row.key))
                )
            else:
                rows.remove(row)
                changes.count += 1
    for key, values in wanted:
        row = by_key.get(key)
        if row is None:
            row = make()
            row.key = key
            rows.append(row)
        elif "day" in values and row.day is not values["day"] and (used := uses(row)):
            # Those answers chose it for the day it was on: moved, it would count them on another.
            problems.append(Problem(what, None, ngettext(
                "'%(key)s' moves from day '%(old)s' to '%(new)s', but %(num)d answer chose it for its day; add "
                "the moved one under a new id, or change that answer first",
                "'%(key)s' moves from day '%(old)s' to '%(new)s', but %(num)d answers chose it for its day; add "
                "the moved one under a new id, or change those answers first", used, key=key, old=row.day.key,
                new=values["day"].key)))
            continue
        changes.assign(row, values)


def store_event(definition: EventDefinition) -> StoreResult:
    """Create or update the event from its definition in the current transaction.

    Raises `EventFileError` when the file would remove options still in use;
    the caller rolls back.
    """
    changes = _Changes()
    event = db.session.scalar(select(Event).where(Event.slug == definition.slug))
    created = event is None
    if created:
        event = Event(slug=definition.slug)
        db.session.add(event)
    before = None if created else seen(event)
    changes.assign(event, definition.fields)
    problems: list[Problem] = []
    capacities = {("transport", o.key): o.capacity for o in event.transport_options}
    capacities.update({("night", n.key): n.capacity for n in event.hotel_nights})

    _sync_keyed(
        changes,
        event.roles,
        ((role.key, {"name": role.name, "name_en": role.name_en, "position": i}) for i, role in enumerate(definition.roles)),
        Role,
        Invitee.role_id,
        "roles",
        problems,
    )
    _sync_keyed(
        changes,
        event.diet_options,
        ((diet.key, {"name": diet.name, "name_en": diet.name_en, "position": i}) for i, diet in enumerate(definition.diets)),
        DietOption,
        response_diet.c.diet_option_id,
        "diets",
        problems,
    )
    _sync_keyed(
        changes,
        event.days,
        (
            (day.key, {"date": day.date, "title": day.title, "title_en": day.title_en, "summary": day.summary,
                       **day.english})
            for day in definition.days
        ),
        EventDay,
        ResponseDay.day_id,
        "days",
        problems,
    )
    days = {day.key: day for day in event.days}
    for day_def in definition.days:
        _sync_items(changes, days[day_def.key], day_def.items)

    _sync_keyed(
        changes,
        event.meals,
        (
            (meal.key, {"day": days[meal.day], "name": meal.name, "name_en": meal.name_en, "starts_at": meal.starts_at, "place": meal.place,
                        **meal.english})
            for meal in definition.meals
        ),
        Meal,
        response_meal.c.meal_id,
        "meals",
        problems,
    )
    _sync_keyed(
        changes,
        event.transport_options,
        (
            (
                option.key,
                {
                    "day": days[option.day],
                    "position": i,
                    "name": option.name,
                    "name_en": option.name_en,
                    "departs_at": option.departs_at,
                    "approximate": option.approximate,
                    "place": option.place,
                    "capacity": option.capacity,
                    "asks_flight": option.asks_flight,
                    **option.english,
                },
            )
            for i, option in enumerate(definition.transport)
        ),
        TransportOption,
        ResponseDay.transport_option_id,
        "transport",
        problems,
    )
    _sync_keyed(
        changes,
        event.hotel_nights,
        ((night.key, {"night_of": night.night_of, "capacity": night.capacity}) for night in definition.hotel_nights),
        HotelNight,
        ResponseHotelNight.hotel_night_id,
        "hotel_nights",
        problems,
    )

    contacts = [
        {"position": i, "name": c.name, "title": c.title, "email": c.email, "phone": c.phone, **c.english}
        for i, c in enumerate(definition.contacts)
    ]
    _sync_positional(changes, event.contacts, contacts, Contact)

    if problems:
        raise EventFileError(definition.slug, problems)
    if changes.count:
        event.updated_at = utcnow()  # what is kept for the event as it was (its .ics) is made again
    db.session.flush()
    after = seen(event) if changes.count else None
    seen_changes = compare(before, after) if after else []
    moved_up = fill_raised_capacities(event, capacities)
    return StoreResult(event, created, created or changes.count > 0, moved_up, seen_changes, over_capacity(event),
                       left_behind(before, after) if after else [])


def _sync_items(changes: _Changes, day: EventDay, items: list) -> None:
    values = [
        {
            "position": i,
            "starts_at": item.starts_at,
            "ends_at": item.ends_at,
            "approximate": item.approximate,
            "title": item.title,
            "title_en": item.title_en,
            "speakers": "\n".join(item.speakers),
            "details": item.details,
            "place": item.place,
            "for_roles": ",".join(item.for_roles),
            **item.english,
        }
        for i, item in enumerate(items)
    ]
    _sync_positional(changes, day.items, values, AgendaItem)


def _sync_positional(changes: _Changes, rows: list[Any], values: list[dict[str, Any]], make: Callable[[], Any]) -> None:
    """Make `rows` match `values` position by position (nothing refers to these rows)."""
    while len(rows) > len(values):
        rows.pop()
        changes.count += 1
    for i, row_values in enumerate(values):
        if i == len(rows):
            rows.append(make())
        changes.assign(rows[i], row_values)


def get_event(slug: str | None = None) -> Event | None:
    """The event with this slug, or the only (newest) event when no slug is given."""
    query = select(Event)
    if slug:
        query = query.where(Event.slug == slug)
    return db.session.scalars(query.order_by(Event.id.desc())).first()


def describe_event(event: Event, language: str = "sv") -> str:
    """The event as plain text: dates, places, agenda, meals, transport, nights."""
    with force_locale(language):
        return "\n".join(_event_lines(event, language))


def _event_lines(event: Event, language: str) -> list[str]:
    tz = event.timezone

    def named(row: Any, attr: str = "name") -> str:
        return localized(row, attr, language)

    def labelled(label: str, value: str) -> str:
        return _("%(label)s: %(value)s", label=label, value=value)

    roles = {role.key: named(role) for role in event.roles}
    out: list[str] = [named(event), "=" * len(named(event))]
    out.append(labelled(_("Organiser"), event.organiser))
    out.append(labelled(_("Venue"), venue_line(event, language)))
    out.append(labelled(_("Timezone"), tz))
    out.append(labelled(_("RSVP deadline"), format_datetime(event.rsvp_deadline, tz, language)))
    out.append(labelled(_("Final numbers to the hotel"), format_datetime(event.final_numbers_at, tz, language)))
    out.append(labelled(_("Secretariat"), f"{event.secretariat_name}, {event.secretariat_email}, {event.secretariat_phone}"))
    out.append(labelled(_("Hotel"), f"{event.hotel_name}, {named(event, 'hotel_address')}, {event.hotel_email}, "
                                     f"{event.hotel_phone}"))
    for contact in event.contacts:
        details = ", ".join(part for part in (named(contact, "title"), contact.email, contact.phone) if part)
        out.append(labelled(_("Contact"), contact.name + (f" ({details})" if details else "")))
    if event.roles:
        out.append(labelled(_("Roles"), ", ".join(f"{named(r)} [{r.key}]" for r in event.roles)))

    for day in event.days:
        out.append("")
        heading = f"{named(day, 'title')}: {format_date(day.date, language)}"
        out += [heading, "-" * len(heading)]
        if day.summary:
            out.append(named(day, "summary"))
        for item in day.items:
            when = format_time(item.starts_at, tz, language, item.approximate)
            if item.ends_at:
                when += "–" + format_time(item.ends_at, tz, language)
            line = f"  {when}  {named(item, 'title')}"
            if item.role_keys:
                line += "  (" + _("for %(roles)s", roles=", ".join(roles.get(k, k) for k in item.role_keys)) + ")"
            out.append(line)
            for speaker in item.speaker_list(language):
                out.append(f"        {speaker}")
            if item.place:
                out.append("        " + labelled(_("Place"), named(item, "place")))
            for detail in named(item, "details").splitlines():
                out.append(f"        {detail}")

    if event.meals:
        out += ["", _("Meals")]
        for meal in event.meals:
            place = f", {named(meal, 'place')}" if meal.place else ""
            out.append(f"  {format_datetime(meal.starts_at, tz, language)}  {named(meal)} [{meal.key}]{place}")
    if event.transport_options:
        out += ["", _("Transport")]
        for option in event.transport_options:
            seats = labelled(_("seats"), _("unlimited") if option.capacity is None else str(option.capacity))
            flight = ", " + _("asks for the flight") if option.asks_flight else ""
            when = format_datetime(option.departs_at, tz, language, option.approximate)
            out.append(f"  {named(option)} [{option.key}]: {when}, {named(option, 'place')} ({seats}{flight})")
    if event.hotel_nights:
        out += ["", _("Hotel nights")]
        for night in event.hotel_nights:
            rooms = labelled(_("rooms"), _("unlimited") if night.capacity is None else str(night.capacity))
            night_of = _("The night after %(date)s", date=format_date(night.night_of, language))
            out.append(f"  {night_of} [{night.key}] ({rooms})")
    if event.diet_options:
        out += ["", labelled(_("Diets"), ", ".join(f"{named(d)} [{d.key}]" for d in event.diet_options))]
    return out
