"""Calendar files (.ics): one entry per invitee and day, that calendars update in place.

Each entry's UID stays the same for that invitee and day across every email
(`<event>-<day>-<invitee>@<sender domain>`), and its SEQUENCE only grows (the
invitee's answer changes, counted), so Outlook, Google Calendar and Apple
Calendar replace the entry they have. Each day goes in a file of its own
(Outlook reads one entry a file). The invitation sends every day as a tentative
REQUEST; a confirmation sends the days they come as an accepted REQUEST and a
CANCEL for each day that was in their calendar and no longer is; a decline
cancels them all. An entry spans what that person does that day: from their bus
or pickup (or the first item of their programme) to the end of the last item for
their role, or after the dinner they chose; its description lists their
programme, transport and meals in their language. Times carry the event's
timezone with a VTIMEZONE, so the file reads right anywhere.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
from flask_babel import force_locale, gettext

from ..answers import localized, venue_line
from ..dates import format_time
from ..db import utcnow
from ..extensions import db
from ..models import Invitee
from ..text import whole_number

#: How long a meal after the programme (a dinner) lasts in a calendar, from its start (meals have only
#: a start time).
MEAL_HOURS = 2


@lru_cache(maxsize=8)
def _vtimezone(name: str, first_year: int, last_year: int) -> icalendar.Timezone:
    """The VTIMEZONE of a zone for whole years; building one is slow, and every email of an event
    needs the same."""
    return icalendar.Timezone.from_tzid(name, first_date=dt.date(first_year, 1, 1),
                                        last_date=dt.date(last_year + 1, 1, 1))


def _calendar(event, method: str) -> icalendar.Calendar:
    """A calendar whose VTIMEZONE holds the zone's rules for the years of the event's days: its
    standard and summer time, as calendar programs (Outlook) want to see them, in a few lines where
    the zone's rules from 1970 to 2038 are fifty."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//OSA//Invitations and RSVP//EN")
    calendar.add("version", "2.0")
    calendar.add("method", method)
    zone = ZoneInfo(event.timezone)
    years = [moment.astimezone(zone).year for day in event.days for moment in (day.starts_at, day.ends_at)]
    calendar.add_component(_vtimezone(event.timezone, min(years), max(years)))
    return calendar


def uid(event, day, invitee) -> str:
    domain = event.sender_email.rsplit("@", 1)[1]
    return f"{event.slug}-{day.key}-{invitee.id}@{domain}"


def invitee_of(entry_uid: str) -> Invitee | None:
    """The invitee whose calendar entry has this UID (a reply from their calendar names it), or None
    for an entry OSA did not make."""
    number = whole_number(entry_uid.rpartition("@")[0].rpartition("-")[2], most_digits=11)
    invitee = db.session.get(Invitee, number) if number is not None else None
    if invitee is None or all(uid(invitee.event, day, invitee) != entry_uid for day in invitee.event.days):
        return None
    return invitee


def _span(event, day, items, row, meals) -> tuple[dt.datetime, dt.datetime]:
    """From their transport (or their first item) to the end of their last item, or of a meal they chose
    after it (the dinner): a meal within the programme (a lunch) ends when the programme says."""
    times = [item.starts_at for item in items] or [day.starts_at]
    programme_ends = max([item.ends_at or item.starts_at for item in items] or [day.ends_at])
    option = row.transport_option if row is not None else None
    starts = min([*times, *([option.departs_at] if option is not None and option.departs_at else [])])
    last = max([programme_ends, *(meal.starts_at + dt.timedelta(hours=MEAL_HOURS) for meal in meals
                                  if meal.starts_at >= programme_ends)])
    return starts, last if last > starts else starts + dt.timedelta(hours=1)


def _entry(event, day, invitee, sequence: int, stamp, response=None, status: str = "CONFIRMED"):
    zone = ZoneInfo(event.timezone)
    language = invitee.language
    items = [item for item in day.items if item.is_for(invitee.role_key)]
    row = next((r for r in response.days if r.day_id == day.id), None) if response is not None else None
    meals = [meal for meal in response.meals if meal.day_id == day.id] if response is not None else []
    starts, ends = _span(event, day, items, row, meals)
    entry = icalendar.Event()
    entry.add("uid", uid(event, day, invitee))
    entry.add("dtstamp", stamp)
    entry.add("sequence", sequence)
    entry.add("dtstart", starts.astimezone(zone))
    entry.add("dtend", ends.astimezone(zone))
    entry.add("summary", f"{localized(event, 'name', language)}: {localized(day, 'title', language)}")
    entry.add("location", venue_line(event, language))
    entry.add("status", status)
    lines = [f"{format_time(item.starts_at, event.timezone, language, item.approximate)} "
             f"{localized(item, 'title', language)}" for item in items]
    with force_locale(language):
        if row is not None and row.transport_option is not None:
            option = row.transport_option
            lines.insert(0, gettext("Your transport: %(option)s, %(time)s, %(place)s",
                                    option=localized(option, "name", language),
                                    time=format_time(option.departs_at, event.timezone, language, option.approximate),
                                    place=localized(option, "place", language)))
        if meals:
            lines.append(gettext("Your meals: %(meals)s", meals=", ".join(
                f"{localized(m, 'name', language)} {format_time(m.starts_at, event.timezone, language)}" for m in meals)))
    entry.add("description", "\n".join(lines))
    entry.add("organizer", f"mailto:{event.sender_email}", parameters={"CN": event.sender_name})
    partstat = {"CONFIRMED": "ACCEPTED", "TENTATIVE": "NEEDS-ACTION", "CANCELLED": "DECLINED"}[status]
    entry.add("attendee", f"mailto:{invitee.email}",
              parameters={"CN": invitee.name, "PARTSTAT": partstat, "ROLE": "REQ-PARTICIPANT", "RSVP": "FALSE"})
    return entry


def invitee_calendars(invitee, sequence: int, response=None, before: set[str] | None = None,
                      invited: bool = False) -> list[tuple[str, Any, str]]:
    """The invitee's calendar files for one email, as (method, day, text), one file a day: a REQUEST
    for each day they come (every day, tentative, for an invitation), then a CANCEL for each day in
    `before` (the days their calendar holds) that they no longer come to.

    One day a file, because Outlook takes a file as one meeting request and ignores every entry after
    the first ([MS-STANOICAL] 2.2.175): a two-day meeting in one file would put only day 1 in the
    calendars of most municipal offices."""
    event = invitee.event
    stamp = utcnow()
    coming = {day.key for day in event.days} if invited else {
        row.day.key for row in (response.days if response is not None else []) if row.attending}
    dropped = (before or set()) - coming
    files = []
    for method, days, status in (("REQUEST", coming, "TENTATIVE" if invited else "CONFIRMED"),
                                 ("CANCEL", dropped, "CANCELLED")):
        for day in (day for day in event.days if day.key in days):
            calendar = _calendar(event, method)
            calendar.add_component(_entry(event, day, invitee, sequence, stamp,
                                          response if status == "CONFIRMED" else None, status))
            files.append((method, day, calendar.to_ical().decode("utf-8")))
    return files


def days_in_calendar(old: dict[str, Any] | None, event) -> set[str]:
    """The days an invitee's calendar holds before an answer is confirmed: every day of the
    invitation until they have answered, then the days they said they come."""
    if old is None:
        return {day.key for day in event.days}
    return {key for key, day in old.get("days", {}).items() if day.get("attending")}
