"""Calendar files (.ics) for invitations and confirmations.

One VEVENT per event day, from the day's first agenda item to its last, with a
UID that stays the same for the day across every email (`<event>-<day>@<sender
domain>`), so calendar programs update the entry instead of adding another.
SEQUENCE grows with each change of the invitee's answer. Times carry the event's
timezone with a VTIMEZONE, so the file reads right anywhere.
"""

from __future__ import annotations

import datetime as dt
import threading
from functools import lru_cache
from zoneinfo import ZoneInfo

import icalendar
from cachetools import LRUCache, cached
from cachetools.keys import hashkey

from ..answers import localized
from ..dates import format_time
from ..db import utcnow


def _day_span(day) -> tuple[dt.datetime, dt.datetime]:
    starts, ends = day.starts_at, day.ends_at
    if ends <= starts:
        ends = starts + dt.timedelta(hours=1)
    return starts, ends


@lru_cache(maxsize=8)
def _vtimezone(name: str) -> icalendar.Timezone:
    """The VTIMEZONE of a zone; building one is slow, and every email needs the same."""
    return icalendar.Timezone.from_tzid(name)


def _calendar_key(event, day_keys: set[str] | None = None, sequence: int = 0, language: str = "sv",
                  role_key: str | None = None):
    # A reload that changes the event raises its `updated_at` (`store_event`).
    return hashkey(event.id, event.updated_at, frozenset(day_keys) if day_keys is not None else None, sequence,
                   language, role_key)


@cached(LRUCache(maxsize=64), key=_calendar_key, lock=threading.Lock())
def event_calendar(event, day_keys: set[str] | None = None, sequence: int = 0, language: str = "sv",
                   role_key: str | None = None) -> str:
    """The event as an .ics text: every day, or only `day_keys` (the days someone attends), with the
    programme of someone of `role_key` (a politician's file has no officials' session).

    Kept for the event as it stands: a round of invitations makes the file once, not once per
    invitee (making it is about half the work of writing an invitation).
    """
    zone = ZoneInfo(event.timezone)
    domain = event.sender_email.rsplit("@", 1)[1]
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//OSA//Invitations and RSVP//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    name = localized(event, "name", language)
    stamp = utcnow()
    for day in event.days:
        if day_keys is not None and day.key not in day_keys:
            continue
        starts, ends = _day_span(day)
        title = localized(day, "title", language)
        entry = icalendar.Event()
        entry.add("uid", f"{event.slug}-{day.key}@{domain}")
        entry.add("dtstamp", stamp)
        entry.add("sequence", sequence)
        entry.add("dtstart", starts.astimezone(zone))
        entry.add("dtend", ends.astimezone(zone))
        entry.add("summary", f"{name}: {title}")
        entry.add("location", f"{event.venue}, {event.address}")
        programme = [
            f"{format_time(item.starts_at, event.timezone, language, item.approximate)} {localized(item, 'title', language)}"
            for item in day.items
            if item.is_for(role_key)
        ]
        entry.add("description", "\n".join(programme))
        entry.add("organizer", f"mailto:{event.reply_to}", parameters={"CN": event.organiser})
        calendar.add_component(entry)
    calendar.subcomponents.insert(0, _vtimezone(event.timezone))
    return calendar.to_ical().decode("utf-8")
