"""The one place that formats dates and times for a reader.

Instants are stored in UTC; a reader sees them in the event's timezone and in
their own language: "torsdag 25 november 2021 kl. 09.00" in Swedish,
"Thursday 25 November 2021 at 09:00" in English.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel.dates import format_date as _babel_date
from babel.dates import format_datetime as _babel_datetime
from babel.dates import format_time as _babel_time

_DATE = {"sv": "EEEE d MMMM y", "en": "EEEE d MMMM y"}
_TIME = {"sv": "HH.mm", "en": "HH:mm"}
_AT = {"sv": "'kl.'", "en": "'at'"}
_ABOUT = {"sv": "ca ", "en": "about "}
_AT_ABOUT = {"sv": "'ca kl.'", "en": "'at about'"}


def _lang(language: str) -> str:
    return language if language in _DATE else "sv"


def local(instant: dt.datetime, timezone: str) -> dt.datetime:
    """The instant as a wall-clock time in `timezone`."""
    return instant.astimezone(ZoneInfo(timezone))


@lru_cache(maxsize=4096)  # pure, and Babel is slow: an answer page formats dozens
def format_datetime(instant: dt.datetime, timezone: str, language: str = "sv", approximate: bool = False) -> str:
    """'torsdag 25 november 2021 kl. 09.00'; 'torsdag 25 november 2021 ca kl. 09.30' when approximate."""
    lang = _lang(language)
    at = (_AT_ABOUT if approximate else _AT)[lang]
    pattern = f"{_DATE[lang]} {at} {_TIME[lang]}"
    return _babel_datetime(local(instant, timezone), pattern, locale=lang)


@lru_cache(maxsize=4096)  # pure, and Babel is slow: an answer page formats dozens
def format_date(day: dt.date, language: str = "sv") -> str:
    """'torsdag 25 november 2021'."""
    lang = _lang(language)
    return _babel_date(day, _DATE[lang], locale=lang)


@lru_cache(maxsize=4096)  # pure, and Babel is slow: an answer page formats dozens
def format_time(instant: dt.datetime, timezone: str, language: str = "sv", approximate: bool = False) -> str:
    """'09.00' in Swedish, '09:00' in English; 'ca 09.30' when approximate."""
    lang = _lang(language)
    text = _babel_datetime(local(instant, timezone), _TIME[lang], locale=lang)
    return f"{_ABOUT[lang]}{text}" if approximate else text


def format_short_date(day: dt.date, language: str = "sv") -> str:
    """A day on a chart's axis or in a list's column: '6 dec.', '6 Dec'."""
    lang = _lang(language)
    return _babel_date(day, "d MMM", locale=lang)


def format_stamp(instant: dt.datetime, timezone: str) -> str:
    """A compact local date and time for a terminal's tables, the same in every language: '2021-11-25 09:00'."""
    return _babel_datetime(local(instant, timezone), "yyyy-MM-dd HH:mm", locale="sv")


def format_clock(value: dt.time | None, language: str = "sv") -> str:
    """A wall-clock time with no date or zone (a flight's landing): '09.10', '09:10'; '' for none."""
    if value is None:
        return ""
    lang = _lang(language)
    return _babel_time(value, _TIME[lang], locale=lang)


def event_dates(event, language: str = "sv") -> str:
    """The event's first to last day, as every page and email heads it ("" before it has days)."""
    return format_date_range(event.days[0].date, event.days[-1].date, language) if event.days else ""


@lru_cache(maxsize=4096)  # pure, and Babel is slow: an answer page formats dozens
def format_date_range(first: dt.date, last: dt.date, language: str = "sv") -> str:
    """'torsdag 25 – fredag 26 november 2021'; the full dates when months differ."""
    if first == last:
        return format_date(first, language)
    lang = _lang(language)
    if (first.year, first.month) == (last.year, last.month):
        return f"{_babel_date(first, 'EEEE d', locale=lang)} – {format_date(last, language)}"
    return f"{format_date(first, language)} – {format_date(last, language)}"
