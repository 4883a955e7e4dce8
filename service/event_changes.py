"""What a reload of the event file changes for the people who come, and telling them.

`seen(event)` takes what an attendee sees of the event (the venue, each day's date,
the agenda's times, places, titles and speakers, each meal's and transport option's
time and place) as plain values, before and after a load; `compare` turns the two
into `SeenChange`s, each one line in every language ("Bussen från The Wood Hotel går
kl. 08.45 i stället för 09.00.") and whom it concerns: those who come that day, of
the item's role, who chose that meal or use that transport. `affected` finds those
people among the attendees, and `record_changes` writes the load to the event's
change log and queues one email per affected person with all of their lines and
their calendar entries (the same UIDs, a higher SEQUENCE). `left_behind` finds what the
secretariat may have forgotten: a time or place changed in one place of the file (a meal, a
transport option) but not in its twin (the agenda item at the same moment), or the other way round.
An English text changed while the Swedish stays is a translation, and no one is told.

Agenda items have no id in the file: an item is the same item across loads when it
keeps its title on its day (else the one in its place, whose title changed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from zoneinfo import ZoneInfo

from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from .answers import localized, venue_line
from .dates import format_date, format_datetime, format_time
from .extensions import db
from .mail.compose import queue_event_change_emails
from .models import Event, EventChange, Invitee, Response, ResponseDay, Role, response_meal

LANGUAGES = ("sv", "en")

Texts = dict[str, str]


def _texts(row, attr: str) -> Texts:
    return {language: localized(row, attr, language) for language in LANGUAGES}


@dataclass(frozen=True)
class _Time:
    starts_at: dt.datetime
    ends_at: dt.datetime | None = None
    approximate: bool = False


@dataclass(frozen=True)
class _Item:
    title: Texts
    when: _Time
    place: Texts
    speakers: Texts
    roles: tuple[str, ...]


@dataclass(frozen=True)
class _Option:
    """A meal or a transport option as attendees see it."""

    name: Texts
    day: str
    when: _Time
    place: Texts


@dataclass
class Seen:
    """What attendees see of an event, to compare one load with the next."""

    timezone: str
    venue: Texts
    #: Every role's key: an item for no role in particular is for all of them.
    roles: tuple[str, ...]
    days: dict[str, tuple[Texts, dt.date, list[_Item]]]
    meals: dict[str, _Option]
    transport: dict[str, _Option]


def seen(event: Event) -> Seen:
    def speakers(item) -> Texts:
        return {language: ", ".join(item.speaker_list(language)) for language in LANGUAGES}

    return Seen(
        timezone=event.timezone,
        venue={language: venue_line(event, language) for language in LANGUAGES},
        roles=tuple(role.key for role in event.roles),
        days={
            day.key: (_texts(day, "title"), day.date, [
                _Item(_texts(item, "title"), _Time(item.starts_at, item.ends_at, item.approximate),
                      _texts(item, "place"), speakers(item), tuple(item.role_keys))
                for item in day.items
            ])
            for day in event.days
        },
        meals={meal.key: _Option(_texts(meal, "name"), meal.day.key, _Time(meal.starts_at), _texts(meal, "place"))
               for meal in event.meals},
        transport={option.key: _Option(_texts(option, "name"), option.day.key,
                                       _Time(option.departs_at, approximate=option.approximate),
                                       _texts(option, "place"))
                   for option in event.transport_options},
    )


@dataclass(frozen=True)
class Audience:
    """Whom a change concerns, among those who come: all of these must hold."""

    #: They come this day (None: any day).
    day: str | None = None
    #: They have one of these roles (empty: any role).
    roles: tuple[str, ...] = ()
    #: They chose this meal.
    meal: str | None = None
    #: They use this transport option.
    transport: str | None = None


@dataclass
class SeenChange:
    lines: Texts
    audience: Audience
    #: When what changed happens (None: the whole event), for reading the changes in time order.
    at: dt.datetime | None = None


def _lines(say: Callable[[str], str], texts: tuple[Texts, Texts] | None = None) -> Texts:
    """`say(language)` in every language, each with its own catalogue. With `texts` (old and new),
    "" in a language whose reader sees no change, and in all when the file's own text (the Swedish)
    is the same: an English text given, mended or taken out is a translation, not news."""
    out = {}
    for language in LANGUAGES:
        with force_locale(language):
            unchanged = texts and (texts[0][language] == texts[1][language] or texts[0]["sv"] == texts[1]["sv"])
            out[language] = "" if unchanged else say(language)
    return out


def _at(when: _Time, other: _Time, timezone: str, language: str, bare: bool = False) -> str:
    """'kl. 08.45' ('08.45' when `bare`), or '10.30–11.30'; with the date when `other` is on another day."""
    zone = ZoneInfo(timezone)
    if when.starts_at.astimezone(zone).date() != other.starts_at.astimezone(zone).date():
        text = format_datetime(when.starts_at, timezone, language, when.approximate)
    else:
        text = format_time(when.starts_at, timezone, language, when.approximate)
        text = text if bare else gettext("at %(time)s", time=text)
    if when.ends_at:
        text += "–" + format_time(when.ends_at, timezone, language)
    return text


def _or_dash(text: str) -> str:
    return text or "–"


def compare(before: Seen | None, after: Seen) -> list[SeenChange]:
    """The changes from `before` to `after` that attendees see, in the order they happen."""
    if before is None:
        return []
    tz = after.timezone
    changes: list[SeenChange] = []

    def change(audience: Audience | None, say: Callable[[str], str], texts: tuple[Texts, Texts] | None = None,
               at: dt.datetime | None = None) -> None:
        lines = _lines(say, texts) if audience is not None else {}
        if any(lines.values()):
            changes.append(SeenChange(lines, audience, at))

    if before.venue != after.venue:
        change(Audience(), lambda lang: gettext("The meeting is now at %(new)s instead of %(old)s.",
                                                new=after.venue[lang], old=before.venue[lang]),
               (before.venue, after.venue))
    # A day moved to another date moves its items, meals and transport with it: that is one change, not many.
    moved = {key: date - before.days[key][1] for key, (_, date, _) in after.days.items() if key in before.days}
    for key, (title, date, items) in after.days.items():
        if key not in before.days:
            continue  # a new day: no one has answered for it yet
        old_date, old_items = before.days[key][1:]
        if old_date != date:
            change(Audience(day=key), lambda lang, t=title, o=old_date, n=date: gettext(
                "%(day)s is now on %(new)s instead of %(old)s.", day=t[lang], new=format_date(n, lang),
                old=format_date(o, lang)))
        _compare_items(change, key, title, old_items, items, after.roles, tz, moved[key])
    for key, new in after.meals.items():
        if key in before.meals:
            _compare_option(change, Audience(day=new.day, meal=key), before.meals[key], new, tz,
                            moved.get(new.day, dt.timedelta()), meal=True)
    for key, new in after.transport.items():
        if key in before.transport:
            _compare_option(change, Audience(day=new.day, transport=key), before.transport[key], new, tz,
                            moved.get(new.day, dt.timedelta()))
    epoch = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    return sorted(changes, key=lambda change: change.at or epoch)


def _same_time(old: _Time, new: _Time, moved: dt.timedelta, tz: str) -> bool:
    """Whether `new` is `old` on a day `moved` later, at the same local time."""
    zone = ZoneInfo(tz)

    def later(instant: dt.datetime | None) -> dt.datetime | None:
        return None if instant is None else instant.astimezone(zone) + moved  # the same wall-clock time

    return (later(old.starts_at), later(old.ends_at), old.approximate) == (new.starts_at, new.ends_at, new.approximate)


def _roles(day: str, roles: set[str], every_role: tuple[str, ...]) -> Audience | None:
    """Those of these roles who come that day: everyone that day when it is every role, None for no role."""
    if roles >= set(every_role):
        return Audience(day=day)
    return Audience(day=day, roles=tuple(sorted(roles))) if roles else None


def _compare_items(change, day: str, day_title: Texts, old_items: list[_Item], new_items: list[_Item],
                   every_role: tuple[str, ...], tz: str, moved: dt.timedelta) -> None:
    """Pair the day's items (same title, else the same place in the list), then say what differs."""
    pairs: list[tuple[_Item | None, _Item | None]] = []
    unmatched_old = list(old_items)
    unmatched_new = []
    for item in new_items:
        twin = next((old for old in unmatched_old if old.title["sv"] == item.title["sv"]), None)
        if twin is not None:
            unmatched_old.remove(twin)
            pairs.append((twin, item))
        else:
            unmatched_new.append(item)
    renamed = len(min(unmatched_old, unmatched_new, key=len))
    pairs += list(zip(unmatched_old, unmatched_new))
    pairs += [(None, item) for item in unmatched_new[renamed:]] + [(item, None) for item in unmatched_old[renamed:]]

    def roles(item: _Item) -> set[str]:
        return set(item.roles or every_role)

    def added(audience: Audience | None, new: _Item) -> None:
        change(audience, at=new.when.starts_at, say=lambda lang: gettext(
            "%(day)s: new in the programme, %(when)s: “%(item)s”.", day=day_title[lang],
            when=_at(new.when, new.when, tz, lang), item=new.title[lang]))

    def cancelled(audience: Audience | None, old: _Item) -> None:
        change(audience, at=old.when.starts_at, say=lambda lang: gettext(
            "%(day)s: “%(item)s” (%(when)s) is cancelled.", day=day_title[lang], item=old.title[lang],
            when=_at(old.when, old.when, tz, lang)))

    for old, new in pairs:
        if old is None:
            added(_roles(day, roles(new), every_role), new)
            continue
        if new is None:
            cancelled(_roles(day, roles(old), every_role), old)
            continue
        added(_roles(day, roles(new) - roles(old), every_role), new)
        cancelled(_roles(day, roles(old) - roles(new), every_role), old)
        # What changed in the item, for those who had it and still have it.
        audience = _roles(day, roles(old) & roles(new), every_role)
        tell = partial(change, at=new.when.starts_at)
        if old.title != new.title:
            tell(audience, lambda lang, o=old, n=new: gettext(
                "%(day)s: “%(old)s” is now called “%(new)s”.", day=day_title[lang], old=o.title[lang],
                new=n.title[lang]), (old.title, new.title))
        if not _same_time(old.when, new.when, moved, tz):
            tell(audience, lambda lang, o=old, n=new: gettext(
                "%(day)s: “%(item)s” is now %(new)s instead of %(old)s.", day=day_title[lang],
                item=n.title[lang], new=_at(n.when, o.when, tz, lang), old=_at(o.when, n.when, tz, lang, bare=True)))
        if old.place != new.place:
            tell(audience, lambda lang, o=old, n=new: gettext(
                "%(day)s: “%(item)s”: new place %(new)s (was %(old)s).", day=day_title[lang], item=n.title[lang],
                new=_or_dash(n.place[lang]), old=_or_dash(o.place[lang])), (old.place, new.place))
        if old.speakers != new.speakers:
            tell(audience, lambda lang, o=old, n=new: gettext(
                "%(day)s: “%(item)s”: speakers now %(new)s (were %(old)s).", day=day_title[lang],
                item=n.title[lang], new=_or_dash(n.speakers[lang]), old=_or_dash(o.speakers[lang])),
                (old.speakers, new.speakers))


def _compare_option(change, audience: Audience, old: _Option, new: _Option, tz: str, moved: dt.timedelta,
                    meal: bool = False) -> None:
    change = partial(change, at=new.when.starts_at)
    if old.name != new.name:
        change(audience, lambda lang: gettext("“%(old)s” is now called “%(new)s”.", old=old.name[lang],
                                              new=new.name[lang]), (old.name, new.name))
    if not _same_time(old.when, new.when, moved, tz):
        if meal:
            change(audience, lambda lang: gettext(
                "%(meal)s begins %(new)s instead of %(old)s.", meal=new.name[lang],
                new=_at(new.when, old.when, tz, lang), old=_at(old.when, new.when, tz, lang, bare=True)))
        else:
            change(audience, lambda lang: gettext(
                "%(option)s leaves %(new)s instead of %(old)s.", option=new.name[lang],
                new=_at(new.when, old.when, tz, lang), old=_at(old.when, new.when, tz, lang, bare=True)))
    if old.place != new.place:
        change(audience, lambda lang: gettext(
            "%(what)s: new place %(new)s (was %(old)s).", what=new.name[lang],
            new=_or_dash(new.place[lang]), old=_or_dash(old.place[lang])), (old.place, new.place))


#: What each twin is in the file, as `left_behind` names it.
_KINDS = {"item": _l("the agenda item"), "meal": _l("the meal"), "transport": _l("the transport option")}


def left_behind(before: Seen | None, after: Seen) -> list[Texts]:
    """Where the file gives one moment twice (the bus in [[transport]] and its departure in the agenda,
    a meal and its agenda item) and a load moved one, in time or to another place, but not the other:
    each as a line for the secretariat to check, since attendees would read both."""
    if before is None:
        return []

    def moments(state: Seen) -> dict[tuple[str, str, str], tuple[Texts, _Time, Texts]]:
        """What happens on each day, by (kind, day, key): its name, time and place."""
        out = {("item", day, item.title["sv"]): (item.title, item.when, item.place)
               for day, (_, _, items) in state.days.items() for item in items}
        for kind, options in (("meal", state.meals), ("transport", state.transport)):
            out.update({(kind, option.day, key): (option.name, option.when, option.place)
                        for key, option in options.items()})
        return out

    old, new = moments(before), moments(after)
    both = old.keys() & new.keys()
    tz = after.timezone
    lines = []
    for key in sorted(both, key=lambda key: (old[key][1].starts_at, key)):
        (name, was, was_place), (_, now, now_place) = old[key], new[key]
        for other in sorted(both):  # the other kind (agenda or not), on the same day, left as it was
            other_name, other_when, other_place = new[other]
            if (other[0] == "item") == (key[0] == "item") or other[1] != key[1] or old[other] != new[other]:
                continue
            if was.starts_at != now.starts_at and other_when.starts_at == was.starts_at:
                lines.append(_lines(lambda lang, n=name, o=other_name, kind=other[0], w=was, m=now: gettext(
                    "“%(moved)s” is now at %(new)s, but %(kind)s “%(other)s” the same day is still at %(old)s: if "
                    "they are the same, change that too.", moved=n[lang], kind=_KINDS[kind], other=o[lang],
                    new=format_time(m.starts_at, tz, lang, m.approximate),
                    old=format_time(w.starts_at, tz, lang, w.approximate))))
            if other_when.starts_at == was.starts_at and was_place["sv"] != now_place["sv"] \
                    and other_place["sv"] == was_place["sv"] != "":
                lines.append(_lines(lambda lang, n=name, o=other_name, kind=other[0], w=was_place, m=now_place: gettext(
                    "“%(moved)s” is now at %(new)s, but %(kind)s “%(other)s” the same day still says %(old)s: if "
                    "they are the same, change that too.", moved=n[lang], kind=_KINDS[kind], other=o[lang],
                    new=_or_dash(m[lang]), old=w[lang])))
    return lines


def line_for(change: SeenChange, language: str) -> str:
    """The change in `language`, or in the other one when it only shows in that."""
    return change.lines.get(language) or next(text for text in change.lines.values() if text)


def sample_lines(event: Event, language: str) -> list[str]:
    """For the previews: the lines of a change that brought the first transport option (or meal) to its time
    from 15 minutes later, so that the rest of the email, which shows the event as it is, agrees with them."""
    before = seen(event)
    after = seen(event)
    options = before.transport or before.meals
    for key, option in list(options.items())[:1]:
        options[key] = replace(option, when=replace(option.when, starts_at=option.when.starts_at + dt.timedelta(minutes=15)))
    return [line_for(change, language) for change in compare(before, after)]


@dataclass
class Affected:
    invitee_id: int
    #: The language they read the changes in.
    language: str
    #: The indices of the changes that concern them, in order.
    changes: list[int] = field(default_factory=list)


def affected(event: Event, changes: list[SeenChange]) -> list[Affected]:
    """The people who come (and can be mailed) whom at least one change concerns, in their language;
    read from plain rows (their days, transport and meals), so a national event's attendees need
    no object each."""
    if not changes:
        return []
    mailable = (Invitee.event_id == event.id, Invitee.removed_at.is_(None), Invitee.erased_at.is_(None),
                Invitee.undeliverable_at.is_(None))
    people = db.session.execute(
        select(Invitee.id, Invitee.language, Role.key, Response.id).join(Response, Response.invitee_id == Invitee.id)
        .outerjoin(Role, Role.id == Invitee.role_id).where(*mailable).order_by(Invitee.id)
    ).all()
    day_keys = {day.id: day.key for day in event.days}
    option_keys = {option.id: option.key for option in event.transport_options}
    meal_keys = {meal.id: meal.key for meal in event.meals}
    days: dict[int, set[str]] = {}
    transport: dict[int, set[str]] = {}
    for response_id, day_id, option_id in db.session.execute(
        select(ResponseDay.response_id, ResponseDay.day_id, ResponseDay.transport_option_id)
        .join(Response, Response.id == ResponseDay.response_id).join(Invitee, Invitee.id == Response.invitee_id)
        .where(*mailable, ResponseDay.attending.is_(True))
    ):
        days.setdefault(response_id, set()).add(day_keys.get(day_id))
        if option_id is not None:
            transport.setdefault(response_id, set()).add(option_keys.get(option_id))
    meals: dict[int, set[str]] = {}
    for response_id, meal_id in db.session.execute(
        select(response_meal.c.response_id, response_meal.c.meal_id)
        .join(Response, Response.id == response_meal.c.response_id).join(Invitee, Invitee.id == Response.invitee_id)
        .where(*mailable)
    ):
        meals.setdefault(response_id, set()).add(meal_keys.get(meal_id))
    out = []
    for invitee_id, language, role, response_id in people:
        if response_id not in days:
            continue
        language = language if language in LANGUAGES else "sv"
        hits = [i for i, change in enumerate(changes)
                if change.lines[language] and _concerns(change.audience, days[response_id], role,
                                                        meals.get(response_id, set()), transport.get(response_id, set()))]
        if hits:
            out.append(Affected(invitee_id, language, hits))
    return out


def _concerns(audience: Audience, days, role: str | None, meals: set[str], transport: set[str]) -> bool:
    return ((audience.day is None or audience.day in days)
            and (not audience.roles or role is None or role in audience.roles)
            and (audience.meal is None or audience.meal in meals)
            and (audience.transport is None or audience.transport in transport))


def people_per_change(changes: list[SeenChange], who: list[Affected]) -> list[int]:
    counts = [0] * len(changes)
    for person in who:
        for index in person.changes:
            counts[index] += 1
    return counts


def record_changes(event: Event, changes: list[SeenChange], notify: bool = True) -> EventChange | None:
    """Write the load's changes to the change log and, with `notify`, queue each affected
    person's change email, in the caller's transaction. None when attendees see no change."""
    if not changes:
        return None
    who = affected(event, changes)
    counts = people_per_change(changes, who)
    entry = EventChange(event_id=event.id, lines=[{**change.lines, "people": count}
                                                 for change, count in zip(changes, counts)],
                        notify=notify, notified=len(who) if notify else 0)
    db.session.add(entry)
    db.session.flush()
    if notify:
        for start in range(0, len(who), EMAILS_AT_A_TIME):
            chunk = who[start:start + EMAILS_AT_A_TIME]
            queue_event_change_emails(entry, {person.invitee_id: [changes[i].lines[person.language] for i in person.changes]
                                              for person in chunk})
    return entry


#: Change emails rendered and written at a time: each holds its reader's calendar, so a national
#: event's attendees are not all rendered at once.
EMAILS_AT_A_TIME = 500
