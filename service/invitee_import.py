"""Importing invitees from the files secretariats really have: CSV and XLSX.

CSV may be UTF-8 (with or without BOM), Windows-1252 (Excel's Swedish "CSV")
or UTF-16 (Excel's "Unicode text"), separated by commas, semicolons or tabs.
Headers may be Swedish or English. Every row is checked first; if any row is
bad, every bad row is reported with its line and column and nothing is
imported. Otherwise the whole file goes in one transaction: new addresses are
added, known ones updated, and an unchanged file changes nothing.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from email_validator import EmailNotValidError, validate_email
from flask_babel import force_locale, gettext
from sqlalchemy import select

from .answers import put_back_on_list
from .db import utcnow
from .extensions import db
from .mail.compose import queue_put_back_emails
from .models import Event, Invitee
from .text import normalized, unsafe_character

#: Accepted headers (compared lower-cased, spaces collapsed) for each field.
HEADERS: dict[str, tuple[str, ...]] = {
    "name": ("namn", "name", "fullständigt namn", "full name", "för- och efternamn"),
    "email": ("e-post", "epost", "e-postadress", "e-mail", "email", "mail", "email address", "e-mail address"),
    "organisation": ("organisation", "organization", "kommun", "municipality", "organisation/kommun"),
    "role": ("roll", "role"),
    "language": ("språk", "language", "lang"),
}
REQUIRED_FIELDS = ("name", "email")

LANGUAGE_NAMES = {
    "sv": "sv", "svenska": "sv", "swedish": "sv", "se": "sv",
    "en": "en", "engelska": "en", "english": "en",
}

_SPACES = re.compile(r"\s+")


def N_(template: str) -> str:
    """Mark an English message for translation; it is translated when shown (`RowError.describe`)."""
    return template


#: How a message names each field, translated with the message.
FIELD_NAMES = {
    "name": N_("the name"),
    "email": N_("the email address"),
    "organisation": N_("the organisation"),
    "role": N_("the role"),
    "language": N_("the language"),
}


@dataclass(frozen=True)
class RowError:
    """One bad cell (or row, when `column` is empty) of an import file."""

    line: int
    column: str
    #: The English message, with %(name)s for each of `params`.
    template: str
    params: tuple[tuple[str, str], ...] = ()

    def message_in(self, language: str) -> str:
        with force_locale(language):
            # A field's name is a message of its own (FIELD_NAMES), translated like the template.
            params = {name: gettext(value) if name == "field" else value for name, value in self.params}
            return gettext(self.template, **params)

    @property
    def message(self) -> str:
        return self.message_in("en")

    def __str__(self) -> str:
        return self.describe("en")

    def describe(self, language: str) -> str:
        """The error with its line and column in `language`, for the admin's import page and the CLI."""
        with force_locale(language):
            where = gettext("line %(line)d", line=self.line) if self.line else gettext("file")
        message = self.message_in(language)
        return f"{where}, {self.column}: {message}" if self.column else f"{where}: {message}"


def _problem(line: int, column: str, template: str, **params: object) -> RowError:
    return RowError(line, column, template, tuple((name, str(value)) for name, value in params.items()))


class InviteeFileError(ValueError):
    """The file has errors; nothing was imported. `errors` lists every one."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__(f"{len(errors)} error(s) in the file; nothing was imported")

    def describe(self, language: str) -> str:
        with force_locale(language):
            heading = gettext("%(count)d error(s); nothing was imported:", count=len(self.errors))
        return "\n".join([heading, *(f"  {error.describe(language)}" for error in self.errors)])


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    #: Columns of the file that OSA does not use (a phone number, a note).
    ignored_columns: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        """The counts in English, for logs (`describe` is for people)."""
        text = f"{self.created} added, {self.updated} updated, {self.unchanged} unchanged"
        return text + (f" (ignored columns: {', '.join(self.ignored_columns)})" if self.ignored_columns else "")

    def describe(self, filename: str) -> str:
        """'invitees.csv: 3 added, 0 updated, 1 unchanged.', in the current language."""
        text = gettext("%(file)s: %(added)d added, %(updated)d updated, %(unchanged)d unchanged.", file=filename,
                       added=self.created, updated=self.updated, unchanged=self.unchanged)
        if self.ignored_columns:
            text += " " + gettext("Ignored columns: %(columns)s.", columns=", ".join(self.ignored_columns))
        return text


@dataclass
class _Row:
    line: int
    name: str
    email: str
    email_key: str
    organisation: str
    role_id: int | None
    language: str


# --- Reading the file into (line, cells) -------------------------------------------------


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        raise InviteeFileError(
            [_problem(0, "", N_("the file is neither UTF-8 nor Windows-1252 text; save it as CSV UTF-8 or XLSX"))]
        ) from None


def _csv_rows(data: bytes) -> list[tuple[int, list[str]]]:
    try:
        text = _decode(data)
    except UnicodeDecodeError as error:
        raise InviteeFileError([_problem(0, "", N_("the file could not be read as text: %(reason)s"), reason=error.reason)]) from None
    first_line = text.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    line = 1
    try:
        for cells in reader:
            rows.append((line, cells))
            line = reader.line_num + 1
    except csv.Error as error:
        raise InviteeFileError([_problem(line, "", N_("not valid CSV: %(reason)s"), reason=error)]) from None
    return rows


def _xlsx_rows(data: bytes) -> list[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a damaged file
        raise InviteeFileError([_problem(0, "", N_("the XLSX file could not be opened: %(reason)s"), reason=error)]) from None
    try:
        sheet = workbook.worksheets[0]
        rows = []
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            rows.append((number, [_cell_text(value) for value in values]))
        return rows
    finally:
        workbook.close()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_rows(filename: str, data: bytes) -> list[tuple[int, list[str]]]:
    """The file's rows with their line (or sheet row) numbers, header first."""
    if data.startswith(b"PK\x03\x04"):
        return _xlsx_rows(data)
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise InviteeFileError([_problem(0, "", N_("this is an old Excel .xls file; save it as .xlsx or CSV"))])
    if filename.lower().endswith(".xlsx"):
        raise InviteeFileError([_problem(0, "", N_("the file is named .xlsx but is not an Excel workbook"))])
    return _csv_rows(data)


# --- Checking rows -----------------------------------------------------------------------


def _normal_header(text: str) -> str:
    return _SPACES.sub(" ", text.replace("\ufeff", "").strip().lower())


def _map_headers(header: list[str]) -> tuple[dict[str, int], list[str], list[RowError]]:
    known = {alias: name for name, aliases in HEADERS.items() for alias in aliases}
    columns: dict[str, int] = {}
    ignored: list[str] = []
    errors: list[RowError] = []
    for index, title in enumerate(header):
        normal = _normal_header(title)
        if not normal:
            continue
        name = known.get(normal)
        if name is None:
            ignored.append(title.strip())
        elif name in columns:
            errors.append(_problem(1, title.strip(), N_("a second column for %(field)s (the first is '%(first)s')"),
                                   field=FIELD_NAMES[name], first=header[columns[name]].strip()))
        else:
            columns[name] = index
    for name in REQUIRED_FIELDS:
        if name not in columns:
            accepted = ", ".join(f"'{alias}'" for alias in HEADERS[name])
            errors.append(_problem(1, "", N_("no column for %(field)s; the header row must have one of %(accepted)s"),
                                   field=FIELD_NAMES[name], accepted=accepted))
    return columns, ignored, errors


def _clean(value: str) -> str:
    return value.strip(" \u00a0")


def _role_lookup(event: Event) -> dict[str, int]:
    lookup: dict[str, int] = {}
    for role in event.roles:
        for alias in (role.key, role.name, role.name_en):
            if alias:
                lookup[_normal_header(alias)] = role.id
    return lookup


def check_rows(event: Event, rows: list[tuple[int, list[str]]]) -> tuple[list[_Row], list[str], list[RowError]]:
    """Check every row; return the good rows, the ignored columns and every error."""
    rows = [(line, cells) for line, cells in rows if any(_clean(cell) for cell in cells)]
    if not rows:
        return [], [], [_problem(0, "", N_("the file is empty: it needs a header row and at least one invitee"))]
    (_, header), body = rows[0], rows[1:]
    columns, ignored, errors = _map_headers(header)
    if errors:
        return [], ignored, errors
    if not body:
        return [], ignored, [_problem(0, "", N_("the file has a header row but no invitees"))]

    titles = {name: header[index].strip() for name, index in columns.items()}
    roles = _role_lookup(event)
    role_names = ", ".join(f"'{r.key}'" for r in event.roles) or "none"
    first_line_of: dict[str, int] = {}
    good: list[_Row] = []
    for line, cells in body:
        values: dict[str, str] = {}
        row_errors: list[RowError] = []
        for name, index in columns.items():
            raw = _clean(normalized(cells[index])) if index < len(cells) else ""
            if unsafe_character(raw) is not None:
                row_errors.append(_problem(line, titles[name], N_("contains a line break or another control character")))
                raw = ""
            values[name] = raw
        extra = [c for c in cells[len(header):] if _clean(c)]
        if extra:
            row_errors.append(_problem(line, "", N_("has %(count)s more cell(s) than the header row"), count=len(extra)))

        name = _SPACES.sub(" ", values["name"])
        if not name and not any(e.column == titles["name"] for e in row_errors):
            row_errors.append(_problem(line, titles["name"], N_("the name is missing")))

        email, email_key = values["email"], ""
        if not email:
            if not any(e.column == titles["email"] for e in row_errors):
                row_errors.append(_problem(line, titles["email"], N_("the email address is missing")))
        elif not email.partition("@")[0].isascii():
            # Such an address needs SMTPUTF8, which OSA does not send (nor do many receiving servers accept it).
            letters = "".join(dict.fromkeys(c for c in email.partition("@")[0] if not c.isascii()))
            row_errors.append(_problem(
                line, titles["email"],
                N_("'%(email)s' cannot be sent to: letters such as %(letters)s before the @ are not possible in "
                   "an email address OSA sends to; ask the invitee for another address"),
                email=email, letters=letters,
            ))
        else:
            try:
                email = validate_email(email, check_deliverability=False).normalized
                email_key = email.lower()
            except EmailNotValidError as error:
                row_errors.append(_problem(line, titles["email"], N_("'%(email)s' is not a valid email address: %(reason)s"),
                                           email=email, reason=error))
        if email_key:
            if email_key in first_line_of:
                row_errors.append(
                    _problem(line, titles["email"], N_("'%(email)s' is already on line %(first)s"),
                             email=email, first=first_line_of[email_key])
                )
            else:
                first_line_of[email_key] = line

        role_id = None
        if values.get("role"):
            role_id = roles.get(_normal_header(values["role"]))
            if role_id is None:
                row_errors.append(
                    _problem(line, titles["role"], N_("unknown role '%(role)s' (the event's roles: %(roles)s)"),
                             role=values["role"], roles=role_names)
                )

        language = event.default_language
        if values.get("language"):
            language = LANGUAGE_NAMES.get(values["language"].lower(), "")
            if not language:
                row_errors.append(
                    _problem(line, titles["language"], N_("unknown language '%(language)s' (use sv or en)"),
                             language=values["language"])
                )

        if row_errors:
            errors.extend(row_errors)
        else:
            organisation = _SPACES.sub(" ", values.get("organisation", ""))
            good.append(_Row(line, name, email, email_key, organisation, role_id, language))
    return good, ignored, errors


def import_invitees(event: Event, filename: str, data: bytes) -> ImportResult:
    """Import the file into `event` in the current transaction, or raise `InviteeFileError`.

    The caller commits. On error nothing has been added to the session.
    """
    rows, ignored, errors = check_rows(event, read_rows(filename, data))
    if errors:
        raise InviteeFileError(errors)
    return _store(event, rows, ImportResult(ignored_columns=ignored))


#: The columns `add_invitee` fills, named as an import file may name them.
_ONE_INVITEE = ["name", "email", "organisation", "role", "language"]


def add_invitee(
    event: Event, name: str | None, email: str | None, organisation: str | None = "", role: str | None = "",
    language: str | None = "",
) -> ImportResult:
    """Add (or update, or bring back) one invitee with the import's own checks; `InviteeFileError`
    names the bad fields by their `_ONE_INVITEE` names."""
    values = [value or "" for value in (name, email, organisation, role, language)]
    rows, _, errors = check_rows(event, [(0, _ONE_INVITEE), (1, values)])
    if errors:
        raise InviteeFileError(errors)
    return _store(event, rows, ImportResult())


def checked_address(invitee: Invitee, email: str | None) -> str:
    """The address as the import would store it, or `InviteeFileError` naming the problem ("email"):
    not an address, or another invitee's."""
    rows, _, errors = check_rows(invitee.event, [(0, _ONE_INVITEE), (1, [invitee.name, email or "", "", "", ""])])
    if errors:
        raise InviteeFileError(errors)
    address = rows[0].email
    taken = db.session.scalar(select(Invitee.name).where(
        Invitee.event_id == invitee.event_id, Invitee.email_key == address.lower(), Invitee.id != invitee.id))
    if taken is not None:
        raise InviteeFileError([_problem(1, "email", N_("'%(email)s' is already the address of %(name)s"),
                                         email=address, name=taken)])
    return address


def correct_address(invitee: Invitee, email: str | None) -> None:
    """Give the invitee a corrected address (checked by `checked_address`) and forget what the old
    one's bounces said: rounds and reminders reach them again."""
    address = checked_address(invitee, email)
    invitee.email, invitee.email_key = address, address.lower()
    invitee.undeliverable_at, invitee.undeliverable_reason = None, ""
    invitee.updated_at = utcnow()
    db.session.flush()


def _store(event: Event, rows: list[_Row], result: ImportResult) -> ImportResult:
    existing = {
        invitee.email_key: invitee
        for invitee in db.session.scalars(select(Invitee).where(Invitee.event_id == event.id))
    }
    new: list[Invitee] = []
    for row in rows:
        values = {
            "name": row.name,
            "email": row.email,
            "organisation": row.organisation,
            "role_id": row.role_id,
            "language": row.language,
        }
        invitee = existing.get(row.email_key)
        if invitee is None:
            new.append(Invitee(event_id=event.id, email_key=row.email_key, **values))
            result.created += 1
            continue
        changed = {name: value for name, value in values.items() if getattr(invitee, name) != value}
        restored = invitee.removed_at is not None
        if restored:
            # Back on the list, with their answer; a place given away meanwhile puts them on its waiting list.
            put_back = put_back_on_list(invitee)
            if put_back is not None:
                queue_put_back_emails(invitee, put_back)
        for name, value in changed.items():
            setattr(invitee, name, value)
        if changed or restored:
            invitee.updated_at = utcnow()
            result.updated += 1
        else:
            result.unchanged += 1
    db.session.add_all(new)
    db.session.flush()
    return result
