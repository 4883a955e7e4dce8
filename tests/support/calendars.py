"""Reading the calendar files in an email as a calendar program would, strictly."""

import icalendar
import vobject


def calendars_in(message, timezone: str = "Europe/Stockholm") -> list[icalendar.Calendar]:
    """Every text/calendar part of `message`, parsed by icalendar after vobject has validated it
    (each required property present, none twice), and each with a VTIMEZONE for the event's zone
    that every time refers to."""
    found = []
    for part in message.walk():
        if part.get_content_type() != "text/calendar":
            continue
        data = part.get_payload(decode=True)
        assert vobject.readOne(data.decode("utf-8")).validate(raiseException=True)
        calendar = icalendar.Calendar.from_ical(data)
        assert [str(zone["TZID"]) for zone in calendar.walk("VTIMEZONE")] == [timezone]
        for entry in calendar.walk("VEVENT"):
            assert all(entry[name].params["TZID"] == timezone for name in ("DTSTART", "DTEND"))
        assert part.get_content_type() == "text/calendar" and part.get_param("method") == str(calendar["METHOD"])
        found.append(calendar)
    return found
