"""The headcount: how many come, per day, meal, diet, transport, hotel night, role and
organisation, counted by the database from the answers as they stand; who comes on a
day, eats at a meal, travels with a transport option or stays at the hotel (the
printable lists); what changed between two answers; and the numbers the hotel gets.
The daily report, the dashboard and the hotel's page read them from here; `reports`
turns answers into files.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select

from .answers import day_heading, localized
from .dates import format_clock, format_date, format_datetime, format_short_date
from .db import among
from .extensions import db
from .models import (
    Actor,
    DeliveryReport,
    Event,
    EventDay,
    HotelNight,
    Invitee,
    Meal,
    Response,
    ResponseChange,
    ResponseDay,
    ResponseHotelNight,
    ReportKind,
    TransportOption,
    response_diet,
    response_meal,
)
from .text import sort_key


@dataclass
class Headcount:
    invited: int = 0
    attending: int = 0
    declined: int = 0
    no_answer: int = 0
    #: Invitees whose address mail does not reach (refused, or bounced): the list filters them.
    undeliverable: int = 0
    #: (label, coming, not coming)
    days: list[tuple[str, int, int]] = field(default_factory=list)
    #: (label, count, {diet: count})
    meals: list[tuple[str, int, dict[str, int]]] = field(default_factory=list)
    diets: list[tuple[str, int]] = field(default_factory=list)
    #: (name, what they wrote) for everyone attending with allergies or other needs
    allergies: list[tuple[str, str]] = field(default_factory=list)
    #: (label, seats taken, waiting, capacity or None)
    transport: list[tuple[str, int, int, int | None]] = field(default_factory=list)
    #: (name, flight, arrival) for the airport pickup, by landing time
    flights: list[tuple[str, str, str]] = field(default_factory=list)
    #: (label, rooms taken, waiting, capacity or None)
    nights: list[tuple[str, int, int, int | None]] = field(default_factory=list)
    #: (name, attending, invited)
    roles: list[tuple[str, int, int]] = field(default_factory=list)
    organisations: list[tuple[str, int, int]] = field(default_factory=list)
    #: Names, each with what their calendar replied if it did ("Anna Andersson (yes in their calendar)").
    not_answered: list[str] = field(default_factory=list)
    #: What the hotel counts, keyed by the event file's ids (see `hotel_numbers`).
    hotel: dict = field(default_factory=dict)


def comes(response_id):
    """The condition that the answer `response_id` comes on at least one day."""
    return select(ResponseDay.id).where(ResponseDay.response_id == response_id, ResponseDay.attending.is_(True)).exists()


def _listed(event: Event):
    return (Invitee.event_id == event.id) & Invitee.removed_at.is_(None)


def _erased(language: str) -> str:
    """A list's name for someone whose data was erased: their answer still counts, with no one attached."""
    with force_locale(language):
        return _("(erased)")


def meal_guests(event: Event, meal: Meal, language: str) -> list[list[str]]:
    """[name, organisation, diets, allergies] of everyone coming who eats at `meal`, by name: the kitchen's list."""
    guests = db.session.execute(
        select(Response.id, Invitee.name, Invitee.organisation, Response.allergies)
        .join(Invitee, Invitee.id == Response.invitee_id)
        .join(response_meal, response_meal.c.response_id == Response.id)
        .where(_listed(event), response_meal.c.meal_id == meal.id, comes(Response.id))
        .order_by(Invitee.sort_name, Invitee.id)
    ).all()
    names = {diet.id: localized(diet, "name", language) for diet in event.diet_options}
    diets: dict[int, set[int]] = {}
    for response_id, diet_id in db.session.execute(
        select(response_diet.c.response_id, response_diet.c.diet_option_id)
        .where(among(response_diet.c.response_id, [guest.id for guest in guests]))
    ):
        diets.setdefault(response_id, set()).add(diet_id)
    erased = _erased(language)
    return [[name or erased, organisation, ", ".join(names[d] for d in names if d in diets.get(response_id, ())),
             allergies] for response_id, name, organisation, allergies in guests]


def passengers(event: Event, option: TransportOption, language: str) -> tuple[list[list[str]], list[list[str]]]:
    """[name, organisation, email] (with the flight and landing time where the option asks for them)
    of those travelling with `option` and of those waiting for a seat, by name; a flight pickup's
    travellers by landing time, for the driver."""
    people, waiting = [], []
    for name, organisation, email, flight, arrival, waits in db.session.execute(
        select(Invitee.name, Invitee.organisation, Invitee.email, ResponseDay.flight_number, ResponseDay.flight_arrival,
               ResponseDay.transport_waitlisted_at.is_not(None))
        .join(Response, Response.invitee_id == Invitee.id).join(ResponseDay, ResponseDay.response_id == Response.id)
        .where(_listed(event), ResponseDay.attending.is_(True), ResponseDay.transport_option_id == option.id)
        .order_by(Invitee.sort_name, Invitee.id, ResponseDay.id)
    ):
        row = [name or _erased(language), organisation, email]
        if option.asks_flight:
            row += [flight, format_clock(arrival, language)]
        (waiting if waits else people).append(row)
    if option.asks_flight:
        people.sort(key=lambda row: (row[4], sort_key(row[0])))
    return people, waiting


def attendees(event: Event, day: EventDay, language: str) -> list[list[str]]:
    """[name, organisation, role] of everyone coming on `day`, by name: the list to tick at the door."""
    roles = {role.id: localized(role, "name", language) for role in event.roles}
    erased = _erased(language)
    return [[name or erased, organisation, roles.get(role_id, "")] for name, organisation, role_id in db.session.execute(
        select(Invitee.name, Invitee.organisation, Invitee.role_id)
        .join(Response, Response.invitee_id == Invitee.id).join(ResponseDay, ResponseDay.response_id == Response.id)
        .where(_listed(event), ResponseDay.day_id == day.id, ResponseDay.attending.is_(True))
        .order_by(Invitee.sort_name, Invitee.id)
    )]


def rooming_list(event: Event, language: str, emails: bool = True) -> tuple[list[list[str]], list[list[str]]]:
    """[name, organisation, (email,) arrives, departs, nights] for each stay at the hotel of those
    coming, and for each stay they wait for a room for, by name: the rooming list. A stay is a run
    of nights in a row; someone with a night's gap between has two."""
    people, waiting = _stays(event, emails)
    erased = _erased(language)
    for stay in people + waiting:
        stay[0] = stay[0] or erased
        arrives, departs = stay[-2:]
        stay[-2:] = [format_short_date(arrives, language), format_short_date(departs, language),
                     str((departs - arrives).days)]
    return people, waiting


def _stays(event: Event, emails: bool) -> tuple[list[list], list[list]]:
    """The rooming list's rows with the arrival and departure dates as dates."""
    people: list[list] = []
    waiting: list[list] = []
    stays: dict[tuple[int, bool], list] = {}  # (invitee, waits) → their latest stay
    for invitee_id, name, organisation, email, night_of, waits in db.session.execute(
        select(Invitee.id, Invitee.name, Invitee.organisation, Invitee.email, HotelNight.night_of,
               ResponseHotelNight.waitlisted_at.is_not(None))
        .join(Response, Response.invitee_id == Invitee.id)
        .join(ResponseHotelNight, ResponseHotelNight.response_id == Response.id)
        .join(HotelNight, HotelNight.id == ResponseHotelNight.hotel_night_id)
        .where(_listed(event), comes(Response.id))
        .order_by(Invitee.sort_name, Invitee.id, HotelNight.night_of)
    ):
        departs = night_of + dt.timedelta(days=1)
        stay = stays.get((invitee_id, waits))
        if stay is not None and stay[-1] == night_of:
            stay[-1] = departs
        else:
            stays[invitee_id, waits] = stay = [name, organisation, *([email] if emails else []), night_of, departs]
            (waiting if waits else people).append(stay)
    return people, waiting


#: How many names of those who have not answered the dashboard and the daily report list; the
#: invitee list (filtered) has them all.
NAMES_SHOWN = 100


def headcount(event: Event, language: str = "sv") -> Headcount:
    """The numbers as the answers stand now, counted by the database (GROUP BY): at 50,000 invitees
    no invitee or answer comes into Python, only the counts and the few lists that name people."""
    counts = Headcount()
    listed = _listed(event)
    # The answers of invitees on the list, and of those of them that come on at least one day.
    answers = select(Response.id).join(Invitee, Invitee.id == Response.invitee_id).where(listed)
    coming = answers.where(comes(Response.id)).subquery("coming")
    answers = answers.subquery("answers")

    def counted(*columns, of, response_id, where=()) -> list[tuple]:
        """`columns` with how many rows have each value, of the rows whose answer (`response_id`)
        is one `of` those answers."""
        return db.session.execute(
            select(*columns, func.count()).join(of, of.c.id == response_id).where(*where).group_by(*columns)
        ).all()

    # (role, organisation) → invited, answered, coming, undeliverable: a few hundred rows at most.
    groups = db.session.execute(
        select(Invitee.role_id, Invitee.organisation, func.count(Invitee.id), func.count(Response.id),
               func.count(coming.c.id), func.count(Invitee.undeliverable_at))
        .outerjoin(Response, Response.invitee_id == Invitee.id).outerjoin(coming, coming.c.id == Response.id)
        .where(listed).group_by(Invitee.role_id, Invitee.organisation)
    ).all()
    counts.invited = sum(row[2] for row in groups)
    answered = sum(row[3] for row in groups)
    counts.attending = sum(row[4] for row in groups)
    counts.undeliverable = sum(row[5] for row in groups)
    counts.declined = answered - counts.attending
    counts.no_answer = counts.invited - answered

    days = {(day_id, bool(attending)): n for day_id, attending, n in
            counted(ResponseDay.day_id, ResponseDay.attending, of=answers, response_id=ResponseDay.response_id)}
    seats = {(option_id, bool(waiting)): n for option_id, waiting, n in
             counted(ResponseDay.transport_option_id, ResponseDay.transport_waitlisted_at.is_not(None), of=coming,
                     response_id=ResponseDay.response_id,
                     where=(ResponseDay.attending.is_(True), ResponseDay.transport_option_id.is_not(None)))}
    meals = dict(counted(response_meal.c.meal_id, of=coming, response_id=response_meal.c.response_id))
    diet_keys = {diet.id: diet.key for diet in event.diet_options}
    diets = Counter({diet_keys[diet_id]: n for diet_id, n in
                     counted(response_diet.c.diet_option_id, of=coming, response_id=response_diet.c.response_id)})
    meal_diets: dict[int, Counter[str]] = {meal.id: Counter() for meal in event.meals}
    for meal_id, diet_id, n in db.session.execute(
        select(response_meal.c.meal_id, response_diet.c.diet_option_id, func.count())
        .join(response_diet, response_diet.c.response_id == response_meal.c.response_id)
        .join(coming, coming.c.id == response_meal.c.response_id)
        .group_by(response_meal.c.meal_id, response_diet.c.diet_option_id)
    ):
        meal_diets[meal_id][diet_keys[diet_id]] = n
    rooms = {(night_id, bool(waiting)): n for night_id, waiting, n in
             counted(ResponseHotelNight.hotel_night_id, ResponseHotelNight.waitlisted_at.is_not(None), of=coming,
                     response_id=ResponseHotelNight.response_id)}

    # The names, by name, of the few lists that show them.
    by_name = (Invitee.sort_name, Invitee.id)
    calendar_reply = select(DeliveryReport.text).where(
        DeliveryReport.invitee_id == Invitee.id, DeliveryReport.kind == ReportKind.CALENDAR_REPLY,
    ).order_by(DeliveryReport.id.desc()).limit(1).scalar_subquery()
    with force_locale(language):
        # Those who answered in their calendar may think it was their answer: the secretariat can tell them.
        said = {"ACCEPTED": _("yes in their calendar"), "TENTATIVE": _("maybe in their calendar"),
                "DECLINED": _("no in their calendar")}
        other = _("replied in their calendar")
        counts.not_answered = [name if reply is None else f"{name} ({said.get(reply, other)})"
                               for name, reply in db.session.execute(
            select(Invitee.name, calendar_reply).outerjoin(Response, Response.invitee_id == Invitee.id)
            .where(listed, Response.id.is_(None)).order_by(*by_name).limit(NAMES_SHOWN))]
    counts.allergies = list(db.session.execute(
        select(Invitee.name, Response.allergies).join(Response, Response.invitee_id == Invitee.id)
        .join(coming, coming.c.id == Response.id).where(Response.allergies != "").order_by(*by_name)))
    counts.flights = [(name, flight, format_clock(arrival, language)) for name, flight, arrival in db.session.execute(
        select(Invitee.name, ResponseDay.flight_number, ResponseDay.flight_arrival)
        .join(Response, Response.invitee_id == Invitee.id).join(ResponseDay, ResponseDay.response_id == Response.id)
        .join(TransportOption, TransportOption.id == ResponseDay.transport_option_id)
        .where(listed, Invitee.erased_at.is_(None), ResponseDay.attending.is_(True),
               TransportOption.asks_flight.is_(True), ResponseDay.transport_waitlisted_at.is_(None))
        # As the pickup meets them: each pickup in its turn, its flights by landing time.
        .order_by(TransportOption.departs_at, ResponseDay.flight_arrival, ResponseDay.flight_number, *by_name))]

    role_names = {role.id: localized(role, "name", language) for role in event.roles}
    role_invited: Counter[str] = Counter()
    role_coming: Counter[str] = Counter()
    org_invited: Counter[str] = Counter()
    org_coming: Counter[str] = Counter()
    for role_id, organisation, invited, _answered, attending, _undeliverable in groups:
        role, organisation = role_names.get(role_id, "–"), organisation or "–"
        role_invited[role] += invited
        role_coming[role] += attending
        org_invited[organisation] += invited
        org_coming[organisation] += attending

    labels = hotel_labels(event, language)
    counts.days = [(labels["days"][day.key], days.get((day.id, True), 0), days.get((day.id, False), 0))
                   for day in event.days]
    counts.meals = [
        (labels["meals"][meal.key], meals.get(meal.id, 0),
         {labels["diets"][key]: n for key, n in in_diet_order(event, meal_diets[meal.id]).items()})
        for meal in event.meals
    ]
    counts.diets = [(labels["diets"][key], n) for key, n in in_diet_order(event, diets).items()]
    counts.transport = [
        (localized(option, "name", language), seats.get((option.id, False), 0), seats.get((option.id, True), 0),
         option.capacity)
        for option in event.transport_options
    ]
    counts.nights = [
        (labels["nights"][night.key], rooms.get((night.id, False), 0), rooms.get((night.id, True), 0), night.capacity)
        for night in event.hotel_nights
    ]
    counts.roles = [(name, role_coming[name], role_invited[name]) for name in sorted(role_invited, key=sort_key)]
    counts.organisations = [(name, org_coming[name], org_invited[name]) for name in sorted(org_invited, key=sort_key)]
    counts.hotel = {
        "days": {day.key: days.get((day.id, True), 0) for day in event.days},
        "meals": {meal.key: {"count": meals.get(meal.id, 0), "diets": in_diet_order(event, meal_diets[meal.id])}
                  for meal in event.meals},
        "allergies": _allergies_for_the_hotel(event, counts.allergies),
        "nights": {night.key: rooms.get((night.id, False), 0) for night in event.hotel_nights},
        "transport": {option.key: seats.get((option.id, False), 0) for option in event.transport_options},
    }
    if event.hotel_names:  # who stays from when to when, so a change notice can say who came or went
        counts.hotel["rooming"] = [[name, organisation, arrives.isoformat(), departs.isoformat()]
                                   for name, organisation, arrives, departs in _stays(event, emails=False)[0]]
    return counts


def _allergies_for_the_hotel(event: Event, allergies: list[tuple[str, str]]) -> list[str]:
    """The kitchen needs the allergy, not the person: each text with how many wrote it, unless the
    event file gives the hotel names (`[hotel] names = true`, for rooming lists)."""
    if event.hotel_names:
        return sorted((f"{name}: {text}" for name, text in allergies), key=sort_key)
    written = Counter(text for _name, text in allergies)
    return sorted((text if count == 1 else f"{text} ({count})" for text, count in written.items()), key=sort_key)


def in_diet_order(event: Event, counts: dict[str, int]) -> dict[str, int]:
    """Counts by diet key in the one order every list shows: the event file's (a diet since removed last)."""
    order = {diet.key: index for index, diet in enumerate(event.diet_options)}
    return {key: counts[key] for key in sorted(counts, key=lambda key: (order.get(key, len(order)), key)) if counts[key]}


def newly_undeliverable(event: Event, since: dt.datetime | None, until: dt.datetime) -> list[Invitee]:
    """Invitees on the list whose address became undeliverable in (since, until], by name."""
    query = select(Invitee).where(Invitee.event_id == event.id, Invitee.removed_at.is_(None),
                                  Invitee.undeliverable_at.is_not(None), Invitee.undeliverable_at <= until)
    if since is not None:
        query = query.where(Invitee.undeliverable_at > since)
    return list(db.session.scalars(query.order_by(Invitee.sort_name, Invitee.id)))


def changes_between(event: Event, since: dt.datetime | None, until: dt.datetime, language: str = "sv") -> list[tuple[str, str, str]]:
    """(name, how, what) for every answer saved in (since, until], oldest first. `how` says what it
    was: "answered" or "changed" by the invitee, "by_secretariat", or "moved_up" (OSA gave them a
    freed seat or room from the waiting list)."""
    query = (
        select(Invitee.name, ResponseChange.old, ResponseChange.new, ResponseChange.actor)
        .join(Invitee, Invitee.id == ResponseChange.invitee_id)
        .where(Invitee.event_id == event.id, ResponseChange.changed_at <= until)
        .order_by(ResponseChange.id)
    )
    if since is not None:
        query = query.where(ResponseChange.changed_at > since)
    how = {Actor.SYSTEM: "moved_up", Actor.ADMIN: "by_secretariat"}
    return [
        (name, how.get(actor) or ("answered" if old is None else "changed"), describe_change(event, old, new, language))
        for name, old, new, actor in db.session.execute(query)
    ]


def describe_change(event: Event, old: dict | None, new: dict, language: str = "sv") -> str:
    """What an answer says, or what changed in it: 'Dag 1: ja, Bussen från The Wood Hotel; +Middag på
    hotellet (Dag 1)'."""
    with force_locale(language):
        return _describe_change(event, old, new, language)


def _describe_change(event: Event, old: dict | None, new: dict, language: str) -> str:
    days = {day.key: localized(day, "title", language) for day in event.days}
    options = {option.key: localized(option, "name", language) for option in event.transport_options}
    # A meal with its day ("Lunch (Dag 2)"): two days' lunches read alike.
    meals = {meal.key: f"{localized(meal, 'name', language)} ({days[meal.day.key]})" for meal in event.meals}
    nights = {n.key: _("the night after %(date)s", date=format_date(n.night_of, language)) for n in event.hotel_nights}
    parts = []
    for key, day in new["days"].items():
        before = (old or {"days": {}})["days"].get(key)
        if before == day:
            continue
        text = f"{days.get(key, key)}: " + (_("yes") if day["attending"] else _("no"))
        if day["attending"] and day["transport"]:
            text += f", {options.get(day['transport'], day['transport'])}"
            if day["waitlisted"]:
                text += " " + _("(waiting list)")
        parts.append(text)
    parts += _added_and_removed(meals, set((old or {}).get("meals", [])), set(new["meals"]))
    parts += _added_and_removed(nights, set((old or {}).get("hotel_nights", {})), set(new["hotel_nights"]))
    if old is not None and (old.get("diets") != new["diets"] or old.get("allergies") != new["allergies"]):
        parts.append(_("diet/allergies"))
    return "; ".join(parts) or _("no change to the numbers")


def _added_and_removed(names: dict[str, str], before: set[str], after: set[str]) -> list[str]:
    """'+name' for every key added and '−name' for every key removed, in the order of `names` (the
    event's); a key since removed from the event comes last."""
    rank = {key: number for number, key in enumerate(names)}
    ordered = sorted(before | after, key=lambda key: (rank.get(key, len(rank)), key))
    return ([f"+{names.get(key, key)}" for key in ordered if key in after - before]
            + [f"−{names.get(key, key)}" for key in ordered if key in before - after])


def hotel_numbers(event: Event) -> dict:
    """What the hotel counts, as plain data to send and to compare with later: people per day,
    meals per sitting with diets, allergies, rooms per night, people per transport option. Keyed by
    the event file's ids, so a renamed meal is the same meal; `hotel_labels` names them in a reader's
    language."""
    return headcount(event).hotel


def hotel_labels(event: Event, language: str) -> dict[str, dict[str, str]]:
    """The names of what `hotel_numbers` counts, by id, in `language`."""
    return {
        "days": {day.key: day_heading(day, language) for day in event.days},
        "meals": {meal.key: f"{localized(meal, 'name', language)} "
                            f"{format_datetime(meal.starts_at, event.timezone, language)}" for meal in event.meals},
        "diets": {diet.key: localized(diet, "name", language) for diet in event.diet_options},
        "nights": {night.key: format_date(night.night_of, language) for night in event.hotel_nights},
        "transport": {option.key: f"{localized(option, 'name', language)} "
                                  f"{format_datetime(option.departs_at, event.timezone, language, option.approximate)}"
                      for option in event.transport_options},
    }


def labelled_hotel_numbers(event: Event, numbers: dict, language: str) -> dict:
    """`numbers` with every id replaced by its name in `language`, for the hotel's page and email."""
    labels = hotel_labels(event, language)

    def name(kind: str, key: str) -> str:
        return labels[kind].get(key, key)  # a day or meal removed from the event since keeps its id

    return {
        "days": {name("days", key): count for key, count in numbers["days"].items()},
        "meals": {name("meals", key): {"count": meal["count"],
                                       "diets": {name("diets", d): n for d, n in in_diet_order(event, meal["diets"]).items()}}
                  for key, meal in numbers["meals"].items()},
        "allergies": numbers["allergies"],
        "nights": {name("nights", key): count for key, count in numbers["nights"].items()},
        # Numbers sent before OSA counted transport for the hotel have none.
        "transport": {name("transport", key): count for key, count in numbers.get("transport", {}).items()},
        "rooming": [f"{who or _erased(language)}{', ' + organisation if organisation else ''}: "
                    f"{format_short_date(dt.date.fromisoformat(arrives), language)} – "
                    f"{format_short_date(dt.date.fromisoformat(departs), language)}"
                    for who, organisation, arrives, departs in numbers.get("rooming", [])],
    }


def hotel_changes(event: Event, old: dict, new: dict, language: str = "sv") -> list[str]:
    """Lines such as 'Lunch torsdag 25 november 2021 kl. 12.00: 24 → 23' for every number that differs,
    and, where the event file gives the hotel names, who came into the rooming list or left it."""
    with force_locale(language):
        before, now = labelled_hotel_numbers(event, old, language), labelled_hotel_numbers(event, new, language)
        if not event.hotel_names:  # names no longer given: none in a notice either
            before["rooming"] = now["rooming"] = []
        return _hotel_changes(before, now)


def _hotel_changes(old: dict, new: dict) -> list[str]:
    def changed(kind: str) -> list[tuple[str, int, int]]:
        """(label, before, now) for each count of `kind` ("days", "nights", "transport") that differs."""
        return [(label, old[kind].get(label, 0), now) for label, now in new[kind].items()
                if old[kind].get(label) != now]

    lines = [ngettext("%(day)s: %(old)s → %(num)d person", "%(day)s: %(old)s → %(num)d people", now, day=label,
                      old=before) for label, before, now in changed("days")]
    for label, meal in new["meals"].items():
        before = old["meals"].get(label, {"count": 0, "diets": {}})
        if before != meal:
            line = f"{label}: {before['count']} → {meal['count']}"
            diets = list(dict.fromkeys([*meal["diets"], *before["diets"]]))  # both in the event's order
            changed_diets = [f"{name.lower()} {before['diets'].get(name, 0)} → {meal['diets'].get(name, 0)}"
                             for name in diets if before["diets"].get(name, 0) != meal["diets"].get(name, 0)]
            if changed_diets:
                line += " (" + ", ".join(changed_diets) + ")"
            lines.append(line)
    lines += [ngettext("The night after %(date)s: %(old)s → %(num)d room",
                       "The night after %(date)s: %(old)s → %(num)d rooms", now, date=label, old=before)
              for label, before, now in changed("nights")]
    lines += [ngettext("%(option)s: %(old)s → %(num)d person", "%(option)s: %(old)s → %(num)d people", now,
                       option=label, old=before) for label, before, now in changed("transport")]
    for allergy in sorted(set(new["allergies"]) - set(old["allergies"])):
        lines.append(_("New allergy: %(allergy)s", allergy=allergy))
    for allergy in sorted(set(old["allergies"]) - set(new["allergies"])):
        lines.append(_("Allergy no longer: %(allergy)s", allergy=allergy))
    lines += [_("In the rooming list: %(stay)s", stay=stay)
              for stay in new["rooming"] if stay not in old["rooming"]]
    lines += [_("No longer in the rooming list: %(stay)s", stay=stay)
              for stay in old["rooming"] if stay not in new["rooming"]]
    return lines
