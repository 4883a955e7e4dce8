"""Reading and validating event definition files (TOML under `config/events/`).

`read_event_file(path)` returns an `EventDefinition`: plain, checked data with
every local time already turned into a UTC instant. Every problem in the file is
collected and raised together as `EventFileError`, each naming the key (as a
path such as `days[2].items[3].end`) and its line, so the secretariat can fix a
file in one go; the problems are worded in the language in force (the terminal's,
in the CLI). Nothing here touches the database.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_babel.speaklater import LazyString

from .text import address_reason, unsafe_character

LANGUAGES = ("sv", "en")


@dataclass(frozen=True)
class Problem:
    """One thing wrong in an event file."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = _("line %(line)d", line=self.line) + ": " if self.line else ""
        return f"{where}{self.path}: {self.message}" if self.path else f"{where}{self.message}"


class EventFileError(ValueError):
    """The event file has problems; `problems` lists every one."""

    def __init__(self, filename: str, problems: list[Problem]):
        self.filename = filename
        self.problems = problems
        lines = "\n".join(f"  {problem}" for problem in problems)
        heading = ngettext("%(num)d problem", "%(num)d problems", len(problems))
        super().__init__(f"{filename}: {heading}:\n{lines}")


# --- The definition, as the rest of OSA sees it -------------------------------------------


@dataclass
class AgendaItemDef:
    starts_at: dt.datetime
    ends_at: dt.datetime | None
    approximate: bool
    title: str
    title_en: str | None
    speakers: list[str]
    details: str
    place: str
    for_roles: list[str]
    english: dict[str, str] = field(default_factory=dict)


@dataclass
class DayDef:
    key: str
    date: dt.date
    title: str
    title_en: str | None
    summary: str
    items: list[AgendaItemDef]
    english: dict[str, str] = field(default_factory=dict)


@dataclass
class OptionDef:
    """A role or a diet: a key and its names."""

    key: str
    name: str
    name_en: str | None


@dataclass
class MealDef:
    key: str
    day: str
    starts_at: dt.datetime
    name: str
    name_en: str | None
    place: str
    english: dict[str, str] = field(default_factory=dict)


@dataclass
class TransportDef:
    key: str
    day: str
    departs_at: dt.datetime
    approximate: bool
    name: str
    name_en: str | None
    place: str
    capacity: int | None
    asks_flight: bool
    english: dict[str, str] = field(default_factory=dict)


@dataclass
class HotelNightDef:
    key: str
    night_of: dt.date
    capacity: int | None


@dataclass
class ContactDef:
    name: str
    title: str
    email: str
    phone: str
    english: dict[str, str] = field(default_factory=dict)


@dataclass
class EventDefinition:
    slug: str
    fields: dict[str, Any]
    contacts: list[ContactDef] = field(default_factory=list)
    roles: list[OptionDef] = field(default_factory=list)
    diets: list[OptionDef] = field(default_factory=list)
    days: list[DayDef] = field(default_factory=list)
    meals: list[MealDef] = field(default_factory=list)
    transport: list[TransportDef] = field(default_factory=list)
    hotel_nights: list[HotelNightDef] = field(default_factory=list)


# --- The schema --------------------------------------------------------------------------

# Kinds of value. "text" is one line; "longtext" may span lines.
TEXT, LONGTEXT, BOOL, INT, DATE, TIME, DATETIME, EMAIL, TEXTLIST, KEYLIST = (
    "text", "longtext", "bool", "int", "date", "time", "datetime", "email", "textlist", "keylist",
)
#: An address OSA sends from: kept as SMTP carries it (a domain outside ASCII by its IDNA name).
SENDING = "sending"

REQUIRED, OPTIONAL = True, False


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


#: Each kind of value: what a problem says it must be, and whether a value is of that kind.
KINDS: dict[str, tuple[LazyString, Callable[[Any], bool]]] = {
    TEXT: (_l("a string"), lambda v: isinstance(v, str)),
    LONGTEXT: (_l("a string"), lambda v: isinstance(v, str)),
    EMAIL: (_l("an email address"), lambda v: isinstance(v, str)),
    SENDING: (_l("an email address"), lambda v: isinstance(v, str)),
    BOOL: (_l("true or false"), lambda v: isinstance(v, bool)),
    INT: (_l("a whole number"), lambda v: isinstance(v, int) and not isinstance(v, bool)),
    DATE: (_l("a date such as 2021-11-25"), lambda v: isinstance(v, dt.date) and not isinstance(v, dt.datetime)),
    TIME: (_l("a time such as 09:00:00"), lambda v: isinstance(v, dt.time) and v.tzinfo is None),
    DATETIME: (_l("a local date and time such as 2021-11-15T12:00:00"),
               lambda v: isinstance(v, dt.datetime) and v.tzinfo is None),
    TEXTLIST: (_l("a list of strings"), _strings),
    KEYLIST: (_l("a list of ids"), _strings),
    "items": (_l("an array of tables ([[days.items]])"),
              lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v)),
}

SCHEMA: dict[str, dict[str, tuple[str, bool]]] = {
    "event": {
        "id": (TEXT, REQUIRED),
        "name": (TEXT, REQUIRED),
        "name_en": (TEXT, OPTIONAL),
        "organiser": (TEXT, REQUIRED),
        "venue": (TEXT, REQUIRED),
        "address": (TEXT, REQUIRED),
        "timezone": (TEXT, REQUIRED),
        "language": (TEXT, REQUIRED),
        "rsvp_deadline": (DATETIME, REQUIRED),
        "final_numbers_at": (DATETIME, REQUIRED),
        "description": (LONGTEXT, OPTIONAL),
    },
    "sender": {"name": (TEXT, REQUIRED), "email": (SENDING, REQUIRED), "reply_to": (SENDING, REQUIRED)},
    "secretariat": {"name": (TEXT, REQUIRED), "email": (EMAIL, REQUIRED), "phone": (TEXT, REQUIRED)},
    "hotel": {
        "name": (TEXT, REQUIRED),
        "email": (EMAIL, REQUIRED),
        "phone": (TEXT, REQUIRED),
        "address": (TEXT, REQUIRED),
        #: Whether the hotel sees names beside allergies (for rooming lists); by default it does not.
        "names": (BOOL, OPTIONAL),
    },
    #: Days after the event's last day until sensitive details, then all personal data, are removed.
    "retention": {"sensitive_days": (INT, OPTIONAL), "personal_days": (INT, OPTIONAL)},
    #: The organiser's own accessibility statement (paragraphs separated by blank lines); else OSA's.
    "accessibility": {"statement": (LONGTEXT, OPTIONAL), "statement_en": (LONGTEXT, OPTIONAL)},
    "contacts": {
        "name": (TEXT, REQUIRED),
        "title": (TEXT, OPTIONAL),
        "email": (EMAIL, OPTIONAL),
        "phone": (TEXT, OPTIONAL),
    },
    "roles": {"id": (TEXT, REQUIRED), "name": (TEXT, REQUIRED), "name_en": (TEXT, OPTIONAL)},
    "diets": {"id": (TEXT, REQUIRED), "name": (TEXT, REQUIRED), "name_en": (TEXT, OPTIONAL)},
    "days": {
        "id": (TEXT, REQUIRED),
        "date": (DATE, REQUIRED),
        "title": (TEXT, REQUIRED),
        "title_en": (TEXT, OPTIONAL),
        "summary": (LONGTEXT, OPTIONAL),
        "items": ("items", REQUIRED),
    },
    "items": {
        "start": (TIME, REQUIRED),
        "end": (TIME, OPTIONAL),
        "approximate": (BOOL, OPTIONAL),
        "title": (TEXT, REQUIRED),
        "title_en": (TEXT, OPTIONAL),
        "speakers": (TEXTLIST, OPTIONAL),
        "details": (LONGTEXT, OPTIONAL),
        "place": (TEXT, OPTIONAL),
        "for_roles": (KEYLIST, OPTIONAL),
    },
    "meals": {
        "id": (TEXT, REQUIRED),
        "day": (TEXT, REQUIRED),
        "time": (TIME, REQUIRED),
        "name": (TEXT, REQUIRED),
        "name_en": (TEXT, OPTIONAL),
        "place": (TEXT, OPTIONAL),
    },
    "transport": {
        "id": (TEXT, REQUIRED),
        "day": (TEXT, REQUIRED),
        "time": (TIME, REQUIRED),
        "approximate": (BOOL, OPTIONAL),
        "name": (TEXT, REQUIRED),
        "name_en": (TEXT, OPTIONAL),
        "place": (TEXT, REQUIRED),
        "capacity": (INT, OPTIONAL),
        "asks_flight": (BOOL, OPTIONAL),
    },
    "hotel_nights": {"id": (TEXT, REQUIRED), "date": (DATE, REQUIRED), "capacity": (INT, OPTIONAL)},
}

#: Texts an invitee reads that the file may give in English too, as `<name>_en` (e.g. `summary_en`).
ENGLISH = {
    "event": ("description", "address"),
    "hotel": ("address",),
    "days": ("summary",),
    "items": ("speakers", "details", "place"),
    "meals": ("place",),
    "transport": ("place",),
    "contacts": ("title",),
}
for _table, _names in ENGLISH.items():
    for _name in _names:
        SCHEMA[_table][f"{_name}_en"] = (SCHEMA[_table][_name][0], OPTIONAL)


def _english(table: str, row: dict[str, Any]) -> dict[str, str | None]:
    """The row's English texts as model attributes (`summary_en`, ...), lists one item per line; None
    for each the file does not give, so a text taken out of the file is taken out of the event too."""
    english = {}
    for name in ENGLISH[table]:
        value = row.get(f"{name}_en")
        english[f"{name}_en"] = "\n".join(value) if isinstance(value, list) else value
    return english


#: Top-level tables: single tables, and arrays of tables (with whether at least one is required).
TABLES = ("event", "sender", "secretariat", "hotel")
OPTIONAL_TABLES = ("retention", "accessibility")
ARRAYS = {
    "contacts": False,
    "roles": False,
    "diets": False,
    "days": True,
    "meals": False,
    "transport": False,
    "hotel_nights": False,
}

_KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


# --- Line numbers ------------------------------------------------------------------------

_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\s\"]+?)\s*\]\]?\s*(#.*)?$")
_ASSIGN = re.compile(r"^\s*([A-Za-z0-9_\-\"]+)\s*=")


def locate_lines(text: str) -> dict[str, int]:
    """Map key paths such as `days[1].items[0].start` to the line they are on.

    Covers the plain style of OSA's event files: tables, arrays of tables and
    `key = value` lines. Lines inside multi-line strings are skipped.
    """
    lines: dict[str, int] = {}
    latest: dict[str, str] = {}  # "days.items" -> "days[1].items[3]", the array's newest table
    counts: dict[str, int] = {}  # "days[1].items" -> tables seen so far
    current = ""
    in_string: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if in_string:
            if line.count(in_string) % 2 == 1:
                in_string = None
            continue
        header = _HEADER.match(line)
        if header:
            parts = [part.strip().strip('"') for part in header.group(2).split(".")]
            indexed = ""
            for i, part in enumerate(parts[:-1]):
                plain = ".".join(parts[: i + 1])
                indexed = latest.get(plain, f"{indexed}.{part}" if indexed else part)
            path = f"{indexed}.{parts[-1]}" if indexed else parts[-1]
            if header.group(1) == "[[":
                counts[path] = counts.get(path, -1) + 1
                path = f"{path}[{counts[path]}]"
                latest[".".join(parts)] = path
            current = path
            lines.setdefault(current, number)
            continue
        assign = _ASSIGN.match(line)
        if assign:
            key = assign.group(1).strip('"')
            lines.setdefault(f"{current}.{key}" if current else key, number)
            rest = line[assign.end():]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2 == 1:
                    in_string = quote
    return lines


# --- Validation --------------------------------------------------------------------------


class _Checker:
    """Collects problems while walking the parsed file."""

    def __init__(self, lines: dict[str, int]):
        self.lines = lines
        self.problems: list[Problem] = []

    def line_of(self, path: str) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path.rsplit(".", 1)[0] if "." in path else ""
        return None

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, self.line_of(path), message))

    def table(self, path: str, value: Any, schema: dict[str, tuple[str, bool]]) -> dict[str, Any]:
        """Check a table's keys and value kinds; return the values that are well-formed."""
        if not isinstance(value, dict):
            self.problem(path, _("must be a table"))
            return {}
        good: dict[str, Any] = {}
        for key in value:
            if key not in schema:
                known = ", ".join(sorted(schema))
                self.problem(f"{path}.{key}", _("unknown key '%(key)s' (known keys: %(known)s)", key=key, known=known))
        for key, (kind, required) in schema.items():
            if key not in value:
                if required:
                    self.problem(path, _("missing key '%(key)s'", key=key))
                continue
            checked = self.value(f"{path}.{key}", value[key], kind)
            if checked is not _BAD:
                good[key] = checked
        return good

    def value(self, path: str, value: Any, kind: str) -> Any:
        expected, well_formed = KINDS[kind]
        if not well_formed(value):
            if kind in (TIME, DATETIME) and getattr(value, "tzinfo", None):
                self.problem(path, _("must be %(expected)s, not %(value)s (without a UTC offset: times are in the "
                                     "event's timezone)", expected=expected, value=repr(value)))
            else:
                self.problem(path, _("must be %(expected)s, not %(value)s", expected=expected, value=repr(value)))
            return _BAD
        if kind in (TEXT, LONGTEXT, EMAIL, SENDING, TEXTLIST):
            for text in value if kind == TEXTLIST else [value]:
                character = unsafe_character(text, multiline=kind == LONGTEXT)
                if character and kind == LONGTEXT:
                    self.problem(path, _("holds a control character (%(character)s), which cannot be stored",
                                         character=character))
                    return _BAD
                if character:
                    self.problem(path, _("must be one line without control characters"))
                    return _BAD
        if kind in (TEXT, LONGTEXT) and not value.strip() and not path.endswith("_en"):
            self.problem(path, _("must not be empty"))
            return _BAD
        if kind in (TEXT, LONGTEXT):
            return value.strip()
        if kind in (EMAIL, SENDING):
            try:
                address = validate_email(value, check_deliverability=False)
            except EmailNotValidError as error:
                self.problem(path, _("%(value)s is not a valid email address: %(error)s", value=repr(value),
                                     error=address_reason(str(error))))
                return _BAD
            if kind == EMAIL:
                return address.normalized
            if address.ascii_email is None:
                self.problem(path, _("%(value)s has letters outside ASCII before the @, which OSA cannot send from",
                                     value=repr(value)))
                return _BAD
            return address.ascii_email
        if kind == INT and value < 0:
            self.problem(path, _("must not be negative, not %(value)s", value=value))
            return _BAD
        return value

    def unique_ids(self, name: str, rows: list[dict[str, Any]]) -> None:
        seen: dict[str, int] = {}
        for index, row in enumerate(rows):
            key = row.get("id")
            if key is None:
                continue
            if not _KEY_PATTERN.match(key):
                self.problem(
                    f"{name}[{index}].id",
                    _("'%(key)s' must be lower-case letters, digits, '-' or '_'", key=key),
                )
            if key in seen:
                self.problem(
                    f"{name}[{index}].id",
                    _("duplicate id '%(key)s' (already used by %(other)s[%(index)d])", key=key, other=name,
                      index=seen[key]),
                )
            else:
                seen[key] = index


_BAD = object()


def _move(data: dict[str, Any], days: int) -> None:
    """Move every date of a parsed file by `days` days, keeping the clock times."""
    delta = dt.timedelta(days=days)

    def moved(table: Any, key: str) -> None:
        if isinstance(table, dict) and isinstance(table.get(key), (dt.date, dt.datetime)):
            table[key] = table[key] + delta

    for key in ("rsvp_deadline", "final_numbers_at"):
        moved(data.get("event"), key)
    for name in ("days", "hotel_nights"):
        rows = data.get(name)
        for row in rows if isinstance(rows, list) else []:
            moved(row, "date")


def dates_to_keep_clear(text: str) -> list[dt.date]:
    """An event file's days, earliest first, then its RSVP deadline and final numbers: the dates a
    move keeps out of the Christmas holidays. Empty if the file cannot be read."""
    try:
        data = tomllib.loads(text)
        days = sorted(day["date"] for day in data.get("days", []) if isinstance(day.get("date"), dt.date))
        if not days:
            return []
        limits = [data.get("event", {}).get(key) for key in ("rsvp_deadline", "final_numbers_at")]
        return days + [moment.date() if isinstance(moment, dt.datetime) else moment for moment in limits
                       if isinstance(moment, dt.date)]
    except (tomllib.TOMLDecodeError, AttributeError, TypeError, ValueError):
        return []


#: tomllib's reasons (in English only) in OSA's words, and so in the reader's language: the first whose
#: start (or one of whose starts) matches. Any other is shown as tomllib words it.
_TOML_REASONS = (
    ("Invalid value", _l("a value TOML cannot read: text goes in quotes (\"…\"), a date as 2021-11-25, a time as "
                         "09:00:00, yes and no as true and false")),
    ("Illegal character '\\n'", _l("a text in quotes is not closed on its line: end it with \" (or write one of "
                                   "several lines between \"\"\" and \"\"\")")),
    ("Unterminated string", _l("a text is not closed: end it with the quotes it began with")),
    ("Illegal character", _l("a character that cannot stand in a text: delete it, or type the text again")),
    ("Invalid date or datetime", _l("no such date or time: write a date as 2021-11-25 and a time as 09:00:00")),
    ("Expected newline or end of document after a statement",
     _l("something follows the value on its line: put text in quotes, and write a time as 09:00:00")),
    ("Expected '=' after a key", _l("a key needs = and a value after it, as in name = \"…\"")),
    ("Invalid initial character for a key part", _l("a key is written with letters a–z, digits, - and _")),
    ("Invalid statement", _l("a line must be a key = value or a [heading]")),
    ("Expected ']]' at the end of an array declaration", _l("the heading lacks its closing ]]")),
    ("Expected ']' at the end of a table declaration", _l("the heading lacks its closing ]")),
    ("Unclosed array", _l("a list [ … ] is not closed with ]")),
    ("Unclosed inline table", _l("a { … } is not closed with }")),
    ("Duplicate inline table key", _l("a key is given twice within { … }")),
    ("Cannot declare", _l("this heading is given twice: merge the two")),
    (("Cannot overwrite a value", "Cannot redefine namespace", "Cannot mutate immutable namespace"),
     _l("this key is given twice: keep one")),
    (("Invalid hex value", "Unescaped '\\' in a string"),
     _l("a \\ in a text in double quotes starts a code: write \\\\, or use single quotes")),
)
_TOML_PLACE = re.compile(r" \(at (?:line (\d+), column (\d+)|end of document)\)$")


def _toml_problem(error: str) -> Problem:
    """tomllib's error as a problem at its line, saying what is wrong and at which column in OSA's words."""
    place = _TOML_PLACE.search(error)
    reason = error[:place.start()] if place else error
    reason = next((str(own) for start, own in _TOML_REASONS if reason.startswith(start)), reason)
    if place is None:
        return Problem("", None, _("not valid TOML: %(reason)s", reason=reason))
    if place.group(1) is None:
        return Problem("", None, _("not valid TOML at the end of the file: %(reason)s", reason=reason))
    return Problem("", int(place.group(1)), _("not valid TOML at column %(column)s: %(reason)s",
                                              column=place.group(2), reason=reason))


def parse_event(text: str, filename: str = "<event>", move_days: int = 0) -> EventDefinition:
    """Validate the TOML text of an event file; raise `EventFileError` listing every problem.

    `move_days` moves every date of the event (days, nights, deadlines) by that
    many days, keeping clock times: the demo runs the bundled meeting in the future.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise EventFileError(filename, [_toml_problem(str(error))]) from None
    if move_days:
        _move(data, move_days)

    check = _Checker(locate_lines(text))
    for key in data:
        if key not in TABLES and key not in OPTIONAL_TABLES and key not in ARRAYS:
            known = ", ".join([*TABLES, *OPTIONAL_TABLES, *ARRAYS])
            check.problem(key, _("unknown table '%(key)s' (known tables: %(known)s)", key=key, known=known))

    tables: dict[str, dict[str, Any]] = {}
    for name in TABLES:
        if name not in data:
            check.problem("", _("missing table [%(name)s]", name=name))
            tables[name] = {}
        else:
            tables[name] = check.table(name, data[name], SCHEMA[name])
    for name in OPTIONAL_TABLES:
        tables[name] = check.table(name, data[name], SCHEMA[name]) if name in data else {}
    retention = tables["retention"]
    for key in ("sensitive_days", "personal_days"):
        if key in retention and not 0 <= retention[key] <= 3650:
            check.problem(f"retention.{key}", _("%(days)s days: expected 0 to 3650", days=retention[key]))
    if retention.get("personal_days", 10**6) < retention.get("sensitive_days", 0):
        check.problem("retention.personal_days", _(
            "personal data cannot go before the sensitive details: %(personal)s is less than sensitive_days = "
            "%(sensitive)s", personal=retention["personal_days"], sensitive=retention["sensitive_days"]))

    arrays: dict[str, list[dict[str, Any]]] = {}
    raw_items: dict[int, list[dict[str, Any]]] = {}
    for name, required in ARRAYS.items():
        rows = data.get(name, [])
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            check.problem(name, _("must be an array of tables ([[%(name)s]])", name=name))
            rows = []
        if required and not rows:
            check.problem("", _("at least one [[%(name)s]] is required", name=name))
        arrays[name] = [check.table(f"{name}[{i}]", row, SCHEMA[name]) for i, row in enumerate(rows)]
        if name in ("roles", "diets", "days", "meals", "transport", "hotel_nights"):
            check.unique_ids(name, arrays[name])
        if name == "days":
            for i, row in enumerate(arrays[name]):
                raw_items[i] = [
                    check.table(f"days[{i}].items[{j}]", item, SCHEMA["items"])
                    for j, item in enumerate(row.get("items", []))
                ]

    event = tables["event"]
    zone = _zone(check, event.get("timezone"))
    language = event.get("language")
    if language is not None and language not in LANGUAGES:
        check.problem("event.language", _("must be one of %(languages)s, not %(value)s",
                                            languages=", ".join(LANGUAGES), value=repr(language)))

    def instant(day: dt.date, time: dt.time) -> dt.datetime:
        return dt.datetime.combine(day, time, tzinfo=zone).astimezone(dt.timezone.utc)

    # Days and their agenda.
    role_keys = {row["id"] for row in arrays["roles"] if "id" in row}
    day_dates: dict[str, dt.date] = {}
    seen_dates: dict[dt.date, int] = {}
    days: list[DayDef] = []
    for i, row in enumerate(arrays["days"]):
        if "date" in row:
            if row["date"] in seen_dates:
                check.problem(f"days[{i}].date", _("%(date)s is already days[%(index)d]", date=row["date"],
                                                   index=seen_dates[row["date"]]))
            seen_dates.setdefault(row["date"], i)
            if "id" in row:
                day_dates[row["id"]] = row["date"]
        items: list[AgendaItemDef] = []
        for j, item in enumerate(raw_items.get(i, [])):
            path = f"days[{i}].items[{j}]"
            if "start" in item and "end" in item and item["end"] <= item["start"]:
                check.problem(
                    f"{path}.end",
                    _("ends at %(end)s, not after its start at %(start)s", end=item["end"].strftime("%H:%M"),
                      start=item["start"].strftime("%H:%M")),
                )
            for role in item.get("for_roles", []):
                if role not in role_keys:
                    check.problem(f"{path}.for_roles", _("unknown role '%(role)s' (roles: %(known)s)", role=role,
                                                         known=", ".join(sorted(role_keys)) or "–"))
            if zone and "date" in row and "start" in item and "title" in item:
                items.append(
                    AgendaItemDef(
                        starts_at=instant(row["date"], item["start"]),
                        ends_at=instant(row["date"], item["end"]) if "end" in item else None,
                        approximate=item.get("approximate", False),
                        title=item["title"],
                        title_en=item.get("title_en"),
                        speakers=[s.strip() for s in item.get("speakers", []) if s.strip()],
                        details=item.get("details", ""),
                        place=item.get("place", ""),
                        for_roles=item.get("for_roles", []),
                        english=_english("items", item),
                    )
                )
        if {"id", "date", "title"} <= row.keys():
            days.append(
                DayDef(row["id"], row["date"], row["title"], row.get("title_en"), row.get("summary", ""), items,
                       _english("days", row))
            )
    days.sort(key=lambda day: day.date)

    def day_of(path: str, row: dict[str, Any], unknown_day: str) -> dt.date | None:
        key = row.get("day")
        if key is None:
            return None
        if key not in day_dates:
            known = ", ".join(f"'{k}'" for k in day_dates) or "–"
            check.problem(f"{path}.day", unknown_day % {"day": key, "known": known})
            return None
        return day_dates[key]

    meals: list[MealDef] = []
    for i, row in enumerate(arrays["meals"]):
        date = day_of(f"meals[{i}]", row, _("meal on day '%(day)s', which does not exist (days: %(known)s)"))
        if date and zone and {"id", "time", "name"} <= row.keys():
            meals.append(
                MealDef(row["id"], row["day"], instant(date, row["time"]), row["name"], row.get("name_en"),
                        row.get("place", ""), _english("meals", row))
            )

    transport: list[TransportDef] = []
    for i, row in enumerate(arrays["transport"]):
        date = day_of(f"transport[{i}]", row, _("transport on day '%(day)s', which does not exist (days: %(known)s)"))
        if date and zone and {"id", "time", "name", "place"} <= row.keys():
            transport.append(
                TransportDef(
                    key=row["id"],
                    day=row["day"],
                    departs_at=instant(date, row["time"]),
                    approximate=row.get("approximate", False),
                    name=row["name"],
                    name_en=row.get("name_en"),
                    place=row["place"],
                    capacity=row.get("capacity"),
                    asks_flight=row.get("asks_flight", False),
                    english=_english("transport", row),
                )
            )

    # Times that must fall outside or inside the event days.
    dates = sorted(seen_dates)
    if dates:
        nights = {dates[0] - dt.timedelta(days=1), *(d for d in dates[:-1])}
        for i, row in enumerate(arrays["hotel_nights"]):
            if "date" in row and row["date"] not in nights:
                allowed = ", ".join(str(n) for n in sorted(nights))
                check.problem(
                    f"hotel_nights[{i}].date",
                    _("the night of %(date)s is outside the event days (nights: %(allowed)s)", date=row["date"],
                      allowed=allowed),
                )
        if zone:
            first_start = min(
                (item.starts_at for day in days for item in day.items),
                default=instant(dates[0], dt.time(0, 0)),
            )
            for key in ("rsvp_deadline", "final_numbers_at"):
                if key in event and instant(event[key].date(), event[key].time()) >= first_start:
                    check.problem(
                        f"event.{key}",
                        _("%(at)s is not before the event starts (%(first)s)", at=event[key].strftime("%Y-%m-%d %H:%M"),
                          first=dates[0]),
                    )

    for i, row in enumerate(arrays["days"]):
        if "items" in row and not row["items"]:
            check.problem(f"days[{i}].items", _("a day needs at least one agenda item"))

    if check.problems:
        raise EventFileError(filename, check.problems)

    fields = {
        "name": event["name"],
        "name_en": event.get("name_en"),
        "organiser": event["organiser"],
        "description": event.get("description", ""),
        **_english("event", event),
        "venue": event["venue"],
        "address": event["address"],
        "timezone": event["timezone"],
        "default_language": event["language"],
        "rsvp_deadline": instant(event["rsvp_deadline"].date(), event["rsvp_deadline"].time()),
        "final_numbers_at": instant(event["final_numbers_at"].date(), event["final_numbers_at"].time()),
        "sender_name": tables["sender"]["name"],
        "sender_email": tables["sender"]["email"],
        "reply_to": tables["sender"]["reply_to"],
        "secretariat_name": tables["secretariat"]["name"],
        "secretariat_email": tables["secretariat"]["email"],
        "secretariat_phone": tables["secretariat"]["phone"],
        "hotel_name": tables["hotel"]["name"],
        "hotel_email": tables["hotel"]["email"],
        "hotel_phone": tables["hotel"]["phone"],
        "hotel_address": tables["hotel"]["address"],
        **{f"hotel_{name}": value for name, value in _english("hotel", tables["hotel"]).items()},
        "hotel_names": tables["hotel"].get("names", False),
        "retention_sensitive_days": tables["retention"].get("sensitive_days"),
        "retention_personal_days": tables["retention"].get("personal_days"),
        "accessibility_statement": tables["accessibility"].get("statement"),
        "accessibility_statement_en": tables["accessibility"].get("statement_en"),
    }
    return EventDefinition(
        slug=event["id"],
        fields=fields,
        contacts=[
            ContactDef(row["name"], row.get("title", ""), row.get("email", ""), row.get("phone", ""),
                       _english("contacts", row))
            for row in arrays["contacts"]
        ],
        roles=[OptionDef(row["id"], row["name"], row.get("name_en")) for row in arrays["roles"]],
        diets=[OptionDef(row["id"], row["name"], row.get("name_en")) for row in arrays["diets"]],
        days=days,
        meals=meals,
        transport=transport,
        hotel_nights=[
            HotelNightDef(row["id"], row["date"], row.get("capacity")) for row in arrays["hotel_nights"]
        ],
    )


def _zone(check: _Checker, name: str | None) -> ZoneInfo | None:
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        check.problem("event.timezone", _("unknown timezone %(name)s (use an IANA name such as Europe/Stockholm)",
                                          name=repr(name)))
        return None


def weeks_ahead(dates: list[dt.date], today: dt.date, at_least_days: int) -> int:
    """Days to move an event by whole weeks (same weekdays) so that its first day (`dates[0]`) is at
    least `at_least_days` from today, and none of `dates` (its days, its RSVP deadline and final numbers)
    falls in the Christmas holidays (21 December to 6 January), when nobody meets or answers."""
    gap = (today + dt.timedelta(days=at_least_days) - dates[0]).days
    if gap <= 0:
        return 0
    move = -(-gap // 7) * 7
    # All of them if some week of the coming year allows it; else (an event of many weeks) its first day.
    for clear in (dates, dates[:1]):
        for weeks in range(53):
            if not any(_in_christmas_holidays(date + dt.timedelta(days=move + 7 * weeks)) for date in clear):
                return move + 7 * weeks
    return move


def _in_christmas_holidays(day: dt.date) -> bool:
    return not dt.date(day.year, 1, 6) < day < dt.date(day.year, 12, 21)


def read_event_file(path: str | Path, starts_in_days: int | None = None) -> EventDefinition:
    """Read and validate an event file; with `starts_in_days`, move it by whole weeks so that
    its first day is at least that many days from today."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # Windows' Notepad may start the file with a BOM
    except FileNotFoundError:
        raise EventFileError(str(path), [Problem("", None, _("no such file"))]) from None
    except UnicodeDecodeError as error:  # most often Windows-1252 ("ANSI"): the line of its first å, ä or ö
        line = error.object[:error.start].count(b"\n") + 1
        problem = Problem("", line, _("not UTF-8 text: save the file as UTF-8"))
        raise EventFileError(str(path), [problem]) from None
    move = 0
    if starts_in_days is not None:
        dates = dates_to_keep_clear(text)
        if dates:
            move = weeks_ahead(dates, dt.date.today(), starts_in_days)
    return parse_event(text, str(path), move_days=move)
