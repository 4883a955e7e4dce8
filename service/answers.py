"""Answers: checking an invitee's choices, saving them with their history, and
holding seats and rooms without races.

`Answer` is what someone chose, in the event's own keys. `check_answer` finds
choices that contradict each other. `save_answer` stores an answer in the
caller's transaction: it locks what it counts (the invitee's row, then each
limited option in a fixed order; on SQLite the whole database is locked from
BEGIN), gives a seat or a room while there is one and a place on the waiting
list when there is not, moves the first waiting invitee up when a seat is
freed, and writes a `ResponseChange` for every answer that changed. `take_off_list` and `put_back_on_list` remove an
invitee and bring them back: a removed invitee's answer is kept but holds no
place and waits for none.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from babel.lists import format_list
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import and_, func, literal, or_, select, union_all

from .dates import format_clock, format_date, format_time
from .db import holds_write_lock, utcnow
from .extensions import db
from .models import (
    Actor,
    Event,
    Invitee,
    Response,
    ResponseChange,
    ResponseDay,
    ResponseHotelNight,
)

FLIGHT_NUMBER = re.compile(r"^[A-Z0-9]{2,3} ?\d{1,4}[A-Z]?$")


@dataclass
class DayAnswer:
    attending: bool
    transport: str | None = None
    flight_number: str = ""
    flight_arrival: dt.time | None = None


@dataclass
class Answer:
    """One invitee's choices, by the keys of the event file."""

    days: dict[str, DayAnswer]
    meals: set[str] = field(default_factory=set)
    diets: set[str] = field(default_factory=set)
    allergies: str = ""
    hotel_nights: set[str] = field(default_factory=set)
    comment: str = ""

    @classmethod
    def decline(cls, event: Event, kept: dict[str, Any] | None = None) -> Answer:
        """'I can't come': no on every day. The diet, allergies and comment of the answer `kept`
        (a snapshot) stay, so an invitee who changes their mind finds them again."""
        kept = kept or {}
        return cls(days={day.key: DayAnswer(attending=False) for day in event.days},
                   diets=set(kept.get("diets", ())), allergies=kept.get("allergies", ""),
                   comment=kept.get("comment", ""))


def check_answer(event: Event, answer: Answer, language: str = "sv") -> dict[str, str]:
    """Contradictions in an answer, as {form field name: message in `language`}."""
    with force_locale(language):
        return _contradictions(event, answer, language)


def _contradictions(event: Event, answer: Answer, language: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    days = {day.key: day for day in event.days}
    options = {option.key: option for option in event.transport_options}
    for day in event.days:
        choice = answer.days.get(day.key)
        if choice is None:
            errors[f"day_{day.key}"] = _("Answer yes or no for the day.")
            continue
        day_options = [o for o in event.transport_options if o.day_id == day.id]
        if not choice.attending:
            if choice.transport:
                errors[f"transport_{day.key}"] = _("You chose transport but are not coming on this day.")
            continue
        if day_options and not choice.transport:
            errors[f"transport_{day.key}"] = _("Choose how you will get there.")
            continue
        option = options.get(choice.transport) if choice.transport else None
        if choice.transport and (option is None or option.day_id != day.id):
            errors[f"transport_{day.key}"] = _("Choose one of the options.")
            continue
        if option is not None and option.asks_flight:
            number = choice.flight_number.strip().upper()
            if not number:
                errors[f"flight_number_{day.key}"] = _("Give your flight number, for example SK 2014.")
            elif not FLIGHT_NUMBER.match(number):
                errors[f"flight_number_{day.key}"] = _(
                    "'%(number)s' does not look like a flight number (for example SK 2014).",
                    number=choice.flight_number,
                )
            if choice.flight_arrival is None:
                errors[f"flight_arrival_{day.key}"] = _("Give the time your flight lands.")
            else:
                pickup = option.departs_at.astimezone(ZoneInfo(event.timezone)).time()
                if choice.flight_arrival > pickup:
                    errors[f"flight_arrival_{day.key}"] = _(
                        "Your flight lands after the pickup (%(time)s). Choose another way to get there, "
                        "or contact the secretariat.",
                        time=format_time(option.departs_at, event.timezone, language, option.approximate),
                    )
    for meal in event.meals:
        if meal.key in answer.meals:
            choice = answer.days.get(meal.day.key)
            if choice is None or not choice.attending:
                errors[f"meal_{meal.key}"] = _(
                    "You chose this meal but are not coming on %(date)s.", date=format_date(meal.day.date, language)
                )
    if answer.hotel_nights and not any(choice.attending for choice in answer.days.values()):
        for key in answer.hotel_nights:
            errors[f"night_{key}"] = _("You chose a hotel night but are not coming on any day.")
    known = {
        "meals": {meal.key for meal in event.meals},
        "diets": {diet.key for diet in event.diet_options},
        "hotel_nights": {night.key for night in event.hotel_nights},
    }
    for name, keys in known.items():
        unknown = getattr(answer, name) - keys
        if unknown:
            errors[name] = _("Unknown choice: %(keys)s", keys=", ".join(sorted(unknown)))
    unknown_days = set(answer.days) - set(days)
    if unknown_days:
        errors["days"] = _("Unknown day: %(keys)s", keys=", ".join(sorted(unknown_days)))
    return errors


# --- Snapshots: an answer as plain data, for the history and for comparisons ------------


def snapshot(response: Response | None) -> dict[str, Any] | None:
    """The answer as plain data with the event's keys; None when there is no answer."""
    if response is None:
        return None
    return {
        "days": {
            day.day.key: {
                "attending": day.attending,
                "transport": day.transport_option.key if day.transport_option else None,
                "waitlisted": day.transport_waitlisted_at is not None,
                "flight_number": day.flight_number,
                "flight_arrival": day.flight_arrival.strftime("%H:%M") if day.flight_arrival else None,
            }
            for day in sorted(response.days, key=lambda d: d.day.date)
        },
        "meals": sorted(meal.key for meal in response.meals),
        "diets": sorted(diet.key for diet in response.diets),
        "allergies": response.allergies,
        "hotel_nights": {
            night.hotel_night.key: {"waitlisted": night.waitlisted_at is not None}
            for night in sorted(response.hotel_nights, key=lambda n: n.hotel_night.night_of)
        },
        "comment": response.comment,
    }


def current_snapshot(invitee_id: int) -> dict[str, Any] | None:
    """The invitee's current answer as a snapshot, in one query: the newest history row's.

    Every change to an answer writes a history row (`save_answer` and move-ups do),
    so the newest row's `new` is the answer as it stands.
    """
    return current_answer(invitee_id)[1]


def current_answer(invitee_id: int) -> tuple[int, dict[str, Any] | None]:
    """How many changes the invitee's answer has had (0 before the first), which a form opened now
    has seen (`save_answer`'s `seen`; their own count, so a page shows nothing of others' answers),
    and the answer as it stands."""
    newest = db.session.execute(
        select(func.count().over().label("changes"), ResponseChange.new)
        .where(ResponseChange.invitee_id == invitee_id)
        .order_by(ResponseChange.id.desc())
        .limit(1)
    ).first()
    return (newest.changes, newest.new) if newest else (0, None)


# --- Saving -------------------------------------------------------------------------------


@dataclass
class SaveResult:
    response: Response
    #: The history row, or None when nothing changed.
    change: ResponseChange | None
    #: Invitees moved up from a waiting list by this save, with their history rows.
    moved_up: list[ResponseChange] = field(default_factory=list)


def _lock(rows: list[Any]) -> None:
    """Row locks (PostgreSQL) in id order, so two saves never wait for each other in a circle.
    SQLite needs none: its transactions hold the write lock from BEGIN."""
    if db.engine.dialect.name != "postgresql":
        return
    for row in sorted(rows, key=lambda r: (type(r).__name__, r.id)):
        db.session.execute(select(type(row).id).where(type(row).id == row.id).with_for_update())


def _read_places_again(response: Response | None) -> None:
    """Read the answer's seats and rooms again once the options are locked (PostgreSQL): while
    this transaction waited for a lock, the save holding it may have moved this invitee up a
    waiting list, and a seat read as "waiting" would then be dropped without being passed on.
    SQLite's transactions see no other writer after BEGIN."""
    if response is None or response.id is None or db.engine.dialect.name != "postgresql":
        return
    for row in (ResponseDay, ResponseHotelNight):
        db.session.execute(
            select(row).where(row.response_id == response.id).execution_options(populate_existing=True)
        ).all()


@dataclass(frozen=True)
class Places:
    """Where the places of limited options are held: seats are `ResponseDay` rows naming a
    transport option, rooms are `ResponseHotelNight` rows naming a night. A row with a
    waiting-list time is waiting; one without holds a place."""

    row: type
    option_id: Any
    waitlisted_at: Any

    def listed(self, query):
        """`query` narrowed to the rows of invitees on the list: a removed invitee's rows are
        kept (putting them back brings their answer back) but hold no place and wait for none."""
        return (
            query.join(Response, Response.id == self.row.response_id)
            .join(Invitee, Invitee.id == Response.invitee_id)
            .where(Invitee.removed_at.is_(None))
        )

    def held(self, option_id: int, excluding: Response | None = None) -> int:
        """Places of the option held, leaving out `excluding`'s own."""
        query = self.listed(select(func.count(self.row.id)).select_from(self.row)).where(
            self.option_id == option_id, self.waitlisted_at.is_(None)
        )
        if excluding is not None and excluding.id is not None:
            query = query.where(self.row.response_id != excluding.id)
        return db.session.scalar(query) or 0

    def places_in_line(self, invitee_id: int) -> dict[int, int]:
        """{option id: 1 for first in line, 2 for next, ...} for each option the invitee waits for."""
        mine = self.listed(
            select(self.option_id.label("option_id"), self.waitlisted_at.label("at"), self.row.id.label("id"))
            .select_from(self.row)
        ).where(Response.invitee_id == invitee_id, self.waitlisted_at.is_not(None)).subquery()
        ahead = self.listed(
            select(mine.c.option_id, func.count(self.row.id)).select_from(self.row)
        ).where(
            self.option_id == mine.c.option_id,
            self.waitlisted_at.is_not(None),
            or_(self.waitlisted_at < mine.c.at, and_(self.waitlisted_at == mine.c.at, self.row.id <= mine.c.id)),
        ).group_by(mine.c.option_id)
        return dict(db.session.execute(ahead).all())

    def move_up(self, option: Any) -> list[ResponseChange]:
        """Give the option's free places (all of them when it no longer has a capacity) to the
        earliest waiting, with a history row for each."""
        free = None if option.capacity is None else option.capacity - self.held(option.id)
        if free is not None and free <= 0:
            return []
        waiting = db.session.scalars(
            self.listed(select(self.row))
            .where(self.option_id == option.id, self.waitlisted_at.is_not(None))
            .order_by(self.waitlisted_at, self.row.id)
            .limit(free)
        ).all()
        changes = []
        for row in waiting:
            old = snapshot(row.response)
            setattr(row, self.waitlisted_at.key, None)
            db.session.flush()
            change = ResponseChange(invitee_id=row.response.invitee_id, actor=Actor.SYSTEM, old=old, new=snapshot(row.response))
            db.session.add(change)
            changes.append(change)
        return changes


SEATS = Places(ResponseDay, ResponseDay.transport_option_id, ResponseDay.transport_waitlisted_at)
ROOMS = Places(ResponseHotelNight, ResponseHotelNight.hotel_night_id, ResponseHotelNight.waitlisted_at)


def places_held() -> tuple[dict[int, int], dict[int, int]]:
    """Seats held per transport option and rooms held per night, in one query."""
    def per_option(places: Places, kind: str):
        return (
            places.listed(
                select(literal(kind).label("kind"), places.option_id.label("option_id"), func.count().label("held"))
                .select_from(places.row)
            )
            .where(places.option_id.is_not(None), places.waitlisted_at.is_(None))
            .group_by(places.option_id)
        )

    seats: dict[int, int] = {}
    rooms: dict[int, int] = {}
    for kind, option_id, held in db.session.execute(union_all(per_option(SEATS, "seat"), per_option(ROOMS, "room"))):
        (seats if kind == "seat" else rooms)[option_id] = held
    return seats, rooms


class ChangedMeanwhile(Exception):
    """Someone else changed the answer after the form being saved was opened (`change`): saving the
    form would undo their change unseen."""

    def __init__(self, change: ResponseChange):
        super().__init__(f"answer changed meanwhile (history row {change.id})")
        self.change = change


def save_answer(invitee: Invitee, answer: Answer, actor: Actor = Actor.INVITEE, actor_name: str = "",
                seen: int | None = None) -> SaveResult:
    """Store `answer` for `invitee` in the current transaction (the caller commits).

    The answer must have passed `check_answer`, and the transaction must have
    been begun with `write_transaction()`, so that counting seats and taking one is atomic.
    With `seen`, how many changes the answer had when the form was opened (`current_answer`), raises
    `ChangedMeanwhile` when another person (the invitee, or another admin) has changed it since; the
    same person's other tab, and OSA moving a waiting list up, are no reason to stop.
    """
    if not holds_write_lock():
        raise RuntimeError("save_answer needs a transaction begun with write_transaction()")
    event = invitee.event
    options = {option.key: option for option in event.transport_options}
    nights = {night.key: night for night in event.hotel_nights}
    db.session.execute(select(Invitee.id).where(Invitee.id == invitee.id).with_for_update())
    if seen is not None:
        since = db.session.scalars(select(ResponseChange).where(ResponseChange.invitee_id == invitee.id)
                                  .order_by(ResponseChange.id).offset(seen)).all()
        others = [c for c in since if c.actor != Actor.SYSTEM and (c.actor, c.actor_name) != (actor, actor_name)]
        if others:
            raise ChangedMeanwhile(others[-1])
    response = db.session.scalar(select(Response).where(Response.invitee_id == invitee.id))

    # Lock every limited option this save may take or free, before counting.
    held = {d.transport_option_id for d in response.days} if response else set()
    held_nights = {n.hotel_night_id for n in response.hotel_nights} if response else set()
    wanted = {a.transport for a in answer.days.values() if a.attending and a.transport}
    limited = [o for o in event.transport_options if o.capacity is not None and (o.key in wanted or o.id in held)]
    limited += [n for n in event.hotel_nights if n.capacity is not None and (n.key in answer.hotel_nights or n.id in held_nights)]
    _lock(limited)
    _read_places_again(response)
    old = snapshot(response)

    if response is None:
        response = Response(invitee=invitee)
        db.session.add(response)
    now = utcnow()
    freed_options: set[int] = set()
    freed_nights: set[int] = set()

    by_day = {d.day_id: d for d in response.days}
    for day in event.days:
        choice = answer.days[day.key]
        row = by_day.get(day.id)
        if row is None:
            row = ResponseDay(day=day, attending=choice.attending)
            response.days.append(row)
        option = options.get(choice.transport) if choice.attending and choice.transport else None
        previous = row.transport_option
        if previous is not None and previous is not option:
            if row.transport_waitlisted_at is None:
                freed_options.add(previous.id)
            row.transport_waitlisted_at = None
        if option is not None and option is not previous:
            full = option.capacity is not None and SEATS.held(option.id, response) >= option.capacity
            row.transport_waitlisted_at = now if full else None
        row.attending = choice.attending
        row.transport_option = option
        asks_flight = option is not None and option.asks_flight
        row.flight_number = choice.flight_number.strip().upper() if asks_flight else ""
        row.flight_arrival = choice.flight_arrival if asks_flight else None

    attending_days = {key for key, choice in answer.days.items() if choice.attending}
    response.meals = [meal for meal in event.meals if meal.key in answer.meals and meal.day.key in attending_days]
    response.diets = [diet for diet in event.diet_options if diet.key in answer.diets]
    response.allergies = answer.allergies.strip()
    response.comment = answer.comment.strip()

    current_nights = {n.hotel_night.key: n for n in response.hotel_nights}
    for key, row in current_nights.items():
        if key not in answer.hotel_nights:
            if row.waitlisted_at is None:
                freed_nights.add(row.hotel_night_id)
            response.hotel_nights.remove(row)
    for key in sorted(answer.hotel_nights - set(current_nights)):
        night = nights[key]
        full = night.capacity is not None and ROOMS.held(night.id, response) >= night.capacity
        response.hotel_nights.append(ResponseHotelNight(hotel_night=night, waitlisted_at=now if full else None))

    db.session.flush()
    change = _record_change(invitee, old, response, actor, actor_name)
    moved_up = [
        change
        for places, options, freed in ((SEATS, event.transport_options, freed_options), (ROOMS, event.hotel_nights, freed_nights))
        for option in options
        if option.id in freed and option.capacity is not None
        for change in places.move_up(option)
    ]
    db.session.flush()
    return SaveResult(response, change, moved_up)


def _record_change(
    invitee: Invitee, old: dict[str, Any] | None, response: Response, actor: str, actor_name: str = ""
) -> ResponseChange | None:
    """The history row of the answer's change from `old`, added to the session; None when it did not change."""
    new = snapshot(response)
    if new == old:
        return None
    change = ResponseChange(invitee_id=invitee.id, actor=actor, actor_name=actor_name, old=old, new=new)
    db.session.add(change)
    return change


def _limited_rows(event: Event, response: Response | None) -> list[tuple[Places, Any, Any]]:
    """(places, option, row) for each of the answer's rows that holds a place in an option with a
    capacity or waits for one (an option may have lost its capacity while its waiting were removed)."""
    if response is None:
        return []
    options = {o.id: o for o in event.transport_options}
    nights = {n.id: n for n in event.hotel_nights}
    rows = [(SEATS, options[d.transport_option_id], d) for d in response.days if d.transport_option_id is not None]
    rows += [(ROOMS, nights[n.hotel_night_id], n) for n in response.hotel_nights]
    return [(places, option, row) for places, option, row in rows if option.capacity is not None or _waiting(places, row)]


def _waiting(places: Places, row: Any) -> bool:
    return getattr(row, places.waitlisted_at.key) is not None


def _lock_listing(invitee: Invitee) -> tuple[Response | None, list[tuple[Places, Any, Any]]]:
    """Lock the invitee, then each limited option their answer names (the order `save_answer` locks in),
    and return their answer with its rows in those options."""
    if not holds_write_lock():
        raise RuntimeError("taking an invitee off the list or back needs a transaction begun with write_transaction()")
    db.session.refresh(invitee, with_for_update=True)
    response = db.session.scalar(select(Response).where(Response.invitee_id == invitee.id))
    limited = _limited_rows(invitee.event, response)
    _lock([option for _, option, _ in limited])
    _read_places_again(response)
    return response, limited


def take_off_list(invitee: Invitee) -> list[ResponseChange]:
    """Remove the invitee from the list, in the caller's write transaction: their link stops
    working and the seats and rooms they held go to the first waiting, whose history rows
    (the move-ups) are returned. Their answer is kept for `put_back_on_list`."""
    response, limited = _lock_listing(invitee)
    if invitee.removed_at is not None:
        return []
    invitee.removed_at = utcnow()
    db.session.flush()
    return [moved for places, option, row in limited if not _waiting(places, row) for moved in places.move_up(option)]


def put_back_on_list(invitee: Invitee) -> SaveResult | None:
    """Put a removed invitee back, in the caller's write transaction; None when they have no answer.

    Their answer counts again: a seat or room given away meanwhile puts them at the end of its
    waiting list (the result's `change`), and where they were waiting and a place is free, the
    first waiting move up (`moved_up`)."""
    response, limited = _lock_listing(invitee)
    if invitee.removed_at is None:
        return None
    invitee.removed_at = None
    db.session.flush()
    if response is None:
        return None
    old = snapshot(response)
    now = utcnow()
    for places, option, row in limited:
        if not _waiting(places, row) and option.capacity is not None and places.held(option.id, response) >= option.capacity:
            setattr(row, places.waitlisted_at.key, now)
    db.session.flush()
    change = _record_change(invitee, old, response, Actor.SYSTEM)
    moved_up = [moved for places, option, row in limited if _waiting(places, row) for moved in places.move_up(option)]
    db.session.flush()
    return SaveResult(response, change, moved_up)


def fill_raised_capacities(event: Event, before: dict[tuple[str, str], int | None]) -> list[ResponseChange]:
    """After the event's file was loaded again: where an option's capacity grew (or went), the
    earliest waiting move up into the new places. `before` holds the capacities as they were,
    by ("transport" | "night", key). The caller has flushed the new capacities, which locks
    their rows on PostgreSQL before anything is counted."""
    moved_up = []
    for places, kind, options in ((SEATS, "transport", event.transport_options), (ROOMS, "night", event.hotel_nights)):
        for option in options:
            key = (kind, option.key)
            if key not in before or before[key] is None:
                continue
            if option.capacity is None or option.capacity > before[key]:
                moved_up += places.move_up(option)
    if moved_up:
        db.session.flush()
    return moved_up


def over_capacity(event: Event) -> tuple[list[tuple[Any, int]], list[tuple[Any, int]]]:
    """(option, places held) for each transport option, then each hotel night, holding more places
    than its capacity: what a reload that lowers a capacity leaves. No one loses a place for it,
    and no one new gets one until enough are given up."""
    def over(held: dict[int, int], options) -> list[tuple[Any, int]]:
        return [(option, held[option.id]) for option in options
                if option.capacity is not None and held.get(option.id, 0) > option.capacity]

    seats, rooms = places_held()
    return over(seats, event.transport_options), over(rooms, event.hotel_nights)


# --- Describing an answer to a person -----------------------------------------------------


def localized(row: Any, attr: str, language: str) -> str:
    """The English text of `attr` when the reader reads English and there is one."""
    if language == "en":
        english = getattr(row, f"{attr}_en", None)
        if english:
            return english
    return getattr(row, attr)


def venue_line(event: Any, language: str) -> str:
    """'The Wood Hotel, Torggatan 3, Skellefteå centrum': where the event is, in the reader's language."""
    return f"{event.venue}, {localized(event, 'address', language)}"


def day_heading(day: Any, language: str) -> str:
    """'Dag 1, torsdag 25 november 2021': a day's title and date, as pages and emails head it."""
    return f"{localized(day, 'title', language)}, {format_date(day.date, language)}"


def describe_answer(event: Event, response: Response | None, language: str,
                    to_invitee: bool = True) -> list[tuple[str, str]]:
    """The answer as (heading, text) lines, in the reader's language: for pages and emails; spoken
    to the invitee ("your flight"), or about them for the secretariat."""
    with force_locale(language):
        if response is None:
            return [(_("Answer"), _("You have not answered yet."))]
        tz = event.timezone
        lines: list[tuple[str, str]] = []
        by_day = {row.day_id: row for row in response.days}
        chosen_meals = {meal.id for meal in response.meals}
        for day in event.days:
            row = by_day.get(day.id)
            heading = day_heading(day, language)
            if row is None or not row.attending:
                lines.append((heading, _("Not coming")))
                continue
            lines.append((heading, _("Coming")))
            option = row.transport_option
            if option is not None:
                text = _("%(option)s: %(time)s, %(place)s", option=localized(option, "name", language),
                         time=format_time(option.departs_at, tz, language, option.approximate), place=localized(option, 'place', language))
                if option.asks_flight and row.flight_number:
                    flight = {"flight": row.flight_number, "time": format_clock(row.flight_arrival, language)}
                    text += ". " + (_("Your flight %(flight)s lands at %(time)s.", **flight) if to_invitee
                                    else _("The flight %(flight)s lands at %(time)s.", **flight))
                if row.transport_waitlisted_at is not None:
                    text += " " + (_("(on the waiting list: we will write to you if a seat becomes free)") if to_invitee
                                   else _("(on the waiting list)"))
                lines.append((_("Transport"), text))
            meals = [m for m in event.meals if m.day_id == day.id and m.id in chosen_meals]
            lines.append((
                _("Meals"),
                ", ".join(f"{localized(m, 'name', language)} {format_time(m.starts_at, tz, language)}" for m in meals)
                or _("None"),
            ))
        diets = ", ".join(localized(d, "name", language) for d in response.diets)
        lines.append((_("Diet"), diets or _("No special diet")))
        if response.allergies:
            lines.append((_("Allergies or other needs"), response.allergies))
        if event.hotel_nights:
            nights = []
            for stay in sorted(response.hotel_nights, key=lambda n: n.hotel_night.night_of):
                text = _("the night after %(date)s", date=format_date(stay.hotel_night.night_of, language))
                if stay.waitlisted_at is not None:
                    text += " " + _("(on the waiting list)")
                nights.append(text)
            lines.append((_("Hotel nights"), ", ".join(nights) or _("None")))
        if response.comment:
            lines.append((_("Comment"), response.comment))
        return lines


def describe_logistics(event: Event, response: Response, language: str, only_day: Any = None) -> list[str]:
    """Where and when to be, for this person's answer: their transport, meals and nights, and the
    secretariat's number (for every day they come), or only `only_day`'s."""
    tz = event.timezone
    with force_locale(language):
        lines: list[str] = []
        by_day = {row.day_id: row for row in response.days}
        chosen_meals = {meal.id for meal in response.meals}
        for day in event.days:
            row = by_day.get(day.id)
            if row is None or not row.attending or (only_day is not None and day.id != only_day.id):
                continue
            date = format_date(day.date, language)
            option = row.transport_option
            if option is not None and row.transport_waitlisted_at is not None:
                lines.append(_(
                    "%(date)s: you are on the waiting list for %(option)s. Until you hear from us, "
                    "plan to come your own way.", date=date, option=localized(option, "name", language),
                ))
            elif option is not None and option.asks_flight:
                lines.append(_(
                    "%(date)s: pickup at %(place)s at %(time)s. We have your flight %(flight)s, "
                    "landing at %(arrival)s.", date=date, place=localized(option, 'place', language),
                    time=format_time(option.departs_at, tz, language, option.approximate),
                    flight=row.flight_number, arrival=format_clock(row.flight_arrival, language),
                ))
            elif option is not None:
                lines.append(_(  # the same words for a bus that leaves from the place and a way that meets there
                    "%(date)s: %(option)s – %(time)s, %(place)s.", date=date,
                    option=localized(option, "name", language),
                    time=format_time(option.departs_at, tz, language, option.approximate), place=localized(option, 'place', language),
                ))
            meals = [m for m in event.meals if m.day_id == day.id and m.id in chosen_meals]
            places = {localized(m, "place", language) for m in meals}
            one_place = places.pop() if len(places) == 1 else ""  # then named once, before its meals
            named = ", ".join(
                f"{localized(m, 'name', language)} {format_time(m.starts_at, tz, language)}"
                + (f" ({localized(m, 'place', language)})" if m.place and not one_place else "") for m in meals)
            if one_place:
                lines.append(_("%(date)s, at %(place)s: %(meals)s.", date=date, place=one_place, meals=named))
            elif meals:
                lines.append(_("%(date)s: %(meals)s.", date=date, meals=named))
        nights = [n for n in sorted(response.hotel_nights, key=lambda n: n.hotel_night.night_of) if n.waitlisted_at is None]
        if nights:
            lines.append(ngettext(
                "Hotel: %(hotel)s, %(address)s, the night after %(dates)s.",
                "Hotel: %(hotel)s, %(address)s, the nights after %(dates)s.", len(nights), hotel=event.hotel_name,
                address=localized(event, "hotel_address", language),
                dates=format_list([format_date(n.hotel_night.night_of, language) for n in nights], locale=language),
            ))
        if only_day is None:  # the day-before email gives the number in a line of its own
            lines.append(_("On the day, the secretariat answers on %(phone)s.", phone=event.secretariat_phone))
        return lines
