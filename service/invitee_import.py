"""Importing invitees from the files secretariats really have: CSV and XLSX.

CSV may be UTF-8 (with or without BOM), Windows-1252 or Mac Roman (Excel's
Swedish "CSV" on Windows and on a Mac) or UTF-16 (Excel's "Unicode text"),
separated by commas, semicolons or tabs.
Headers may be Swedish or English. Every row is checked first; if any row is
bad, every bad row is reported with its line and column and nothing is
imported. Otherwise the whole file goes in one transaction: new addresses are
added, known ones updated in the columns the file has (a later list of names and
addresses leaves roles and languages alone), and an unchanged file changes nothing.
A problem on many lines is reported once, with its first lines.

The file is read row by row as it is checked, and the good rows go to a temporary
file; only if every row passed are they read back and stored, a chunk at a time.
Memory holds the file and one address per row (to find an address given twice),
never every row at once. A file uploaded in the admin becomes an `ImportJob` that
a worker checks (reporting its progress) and imports (`run_import_job`).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import itertools
import logging
import pickle
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, NamedTuple

from babel.numbers import format_decimal
from email_validator import EmailNotValidError, validate_email
from flask_babel import force_locale, gettext, ngettext
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from tasks import queue_task

from .answers import put_back_on_list
from .db import among, utcnow, write_transaction
from .extensions import N_, db
from .mail.compose import queue_put_back_emails
from .models import Event, ImportJob, ImportState, Invitee
from .ops import log_unexpected
from .text import address_reason, normalized, unsafe_character

#: Accepted headers (compared lower-cased, spaces collapsed) for each field.
HEADERS: dict[str, tuple[str, ...]] = {
    "name": ("namn", "name", "fullständigt namn", "full name", "för- och efternamn"),
    "email": ("e-post", "epost", "e-postadress", "epostadress", "mejl", "mejladress", "e-mail", "email", "mail",
              "mailadress", "e-mailadress", "email address", "e-mail address"),
    "organisation": ("organisation", "organization", "kommun", "municipality", "organisation/kommun",
                     "kommun/organisation", "myndighet", "region",
                     # Outlook's contacts, exported to CSV in Swedish and in English.
                     "företag", "company"),
    "role": ("roll", "role"),
    "language": ("språk", "language", "lang"),
    # Many address lists split the name: without a name column, first and last name make it.
    "first_name": ("förnamn", "first name", "firstname", "given name"),
    "last_name": ("efternamn", "last name", "lastname", "surname", "family name"),
}

LANGUAGE_NAMES = {
    "sv": "sv", "svenska": "sv", "swedish": "sv", "se": "sv",
    "en": "en", "engelska": "en", "english": "en",
}

_SPACES = re.compile(r"\s+")
log = logging.getLogger(__name__)


#: How a message names each field, translated with the message.
FIELD_NAMES = {
    "name": N_("the name"),
    "email": N_("the email address"),
    "organisation": N_("the organisation"),
    "role": N_("the role"),
    "language": N_("the language"),
    "first_name": N_("the first name"),
    "last_name": N_("the last name"),
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
            # A field's name is a message of its own (FIELD_NAMES), translated like the template, and so is
            # the reason an address is not one.
            translate = {"field": gettext, "address_reason": address_reason}
            params = {name: translate.get(name, str)(value) for name, value in self.params}
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


#: A problem found on more lines than this names its first lines only.
SHOWN_LINES = 20


@dataclass
class ErrorGroup:
    """One problem (the same column and message) with the lines it is on (the first `SHOWN_LINES`)."""

    error: RowError
    lines: list[int]
    count: int = 1

    def describe(self, language: str) -> str:
        """As `RowError.describe` for one line; for many, "roll: okänd roll 'x' … på 13 333 rader:
        3, 6, 9, … (de 20 första visas)"."""
        if self.count == 1:
            return self.error.describe(language)
        with force_locale(language):
            lines = ", ".join(str(line) for line in self.lines[:SHOWN_LINES])
            if self.count > SHOWN_LINES:
                lines += ", … " + gettext("(the first %(shown)d shown)", shown=SHOWN_LINES)
            text = gettext("%(message)s on %(count)s lines: %(lines)s", message=self.error.message_in(language),
                           count=format_decimal(self.count, locale=language), lines=lines)
        return f"{self.error.column}: {text}" if self.error.column else text

    def as_data(self) -> dict:
        error = self.error
        return {"line": error.line, "column": error.column, "template": error.template,
                "params": [list(pair) for pair in error.params], "lines": self.lines, "count": self.count}

    @classmethod
    def from_data(cls, data: dict) -> ErrorGroup:
        error = RowError(data["line"], data["column"], data["template"], tuple(tuple(pair) for pair in data["params"]))
        return cls(error, data["lines"], data["count"])


class InviteeFileError(ValueError):
    """The file has errors; nothing was imported. `errors` lists every one, `groups` the same
    problems once each with their lines."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__("the file has errors; nothing was imported")

    @property
    def groups(self) -> list[ErrorGroup]:
        groups: dict[tuple, ErrorGroup] = {}
        for error in self.errors:
            key = (error.column, error.template, error.params)
            group = groups.get(key)
            if group is None:
                groups[key] = ErrorGroup(error, [error.line])
            else:
                group.count += 1
                if len(group.lines) < SHOWN_LINES:
                    group.lines.append(error.line)
        return list(groups.values())

    def describe(self, language: str) -> str:
        with force_locale(language):
            heading = ngettext("%(num)d error; nothing was imported:", "%(num)d errors; nothing was imported:",
                               len(self.errors))
        return "\n".join([heading, *(f"  {group.describe(language)}" for group in self.groups)])


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


class _Row(NamedTuple):
    line: int
    name: str
    email: str
    email_key: str
    organisation: str
    role_id: int | None
    language: str


#: An invitee's fields a row sets; a known invitee keeps those their file has no column for.
FIELDS = frozenset({"name", "email", "organisation", "role_id", "language"})
#: The field each column gives, where it has another name.
GIVEN_BY = {"first_name": "name", "last_name": "name", "role": "role_id"}


# --- Reading the file into (line, cells) -------------------------------------------------


def _encoding(data: bytes) -> tuple[str, int]:
    """The file's encoding and where its text starts (after a byte order mark), found without
    decoding the whole file at once."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8", 3
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16", 0
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for start in range(0, len(data), 1 << 20):
            decoder.decode(data[start:start + (1 << 20)])
        decoder.decode(b"", final=True)
        return "utf-8", 0
    except UnicodeDecodeError:
        pass
    if _mac_roman(data):
        return "mac_roman", 0  # every byte is a character in it: nothing to check
    decoder = codecs.getincrementaldecoder("cp1252")()
    try:
        for start in range(0, len(data), 1 << 20):
            decoder.decode(data[start:start + (1 << 20)])
    except UnicodeDecodeError:
        raise InviteeFileError(
            [_problem(0, "", N_("the file is neither UTF-8 nor Windows-1252 text; save it as CSV UTF-8 or XLSX"))]
        ) from None
    return "cp1252", 0


#: `_encoding` has read a UTF-8 or Windows-1252 file whole, and Mac Roman has a character for every byte:
#: only UTF-16 text can fail while it is read.
_NOT_WHOLE_UTF16 = N_("the file is not whole UTF-16 text (Excel's \"Unicode text\"): it may be cut short; save it "
                      "again, or as CSV UTF-8")


#: å ä ö Å Ä Ö é as Windows-1252 writes them, and as Mac Roman does. Read in the other code page each set
#: is characters rare in names (Â ‰ ˆ ≈ ƒ ÷ È; Œ Š š € … Ž and a byte Windows-1252 lacks), so whichever set a
#: file has more of tells its code page.
_WINDOWS_LETTERS = b"\xe5\xe4\xf6\xc5\xc4\xd6\xe9"
_MAC_LETTERS = b"\x8c\x8a\x9a\x81\x80\x85\x8e"


def _mac_roman(data: bytes) -> bool:
    """Whether a file that is not UTF-8 is in Mac Roman, the code page Excel on a Mac writes its
    plain "CSV" in, rather than Windows-1252: read as Windows-1252, "Göran" would become "Gšran"."""
    return sum(map(data.count, _MAC_LETTERS)) > sum(map(data.count, _WINDOWS_LETTERS))


def _header_among(lines: list[str], delimiter: str) -> bool:
    """Whether one of these lines, split by `delimiter`, is a header row."""
    try:
        return any(_names_email(cells) for cells in csv.reader(lines, delimiter=delimiter))
    except csv.Error:  # a cell longer than csv takes: no header row's
        return False


def _csv_rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
    encoding, start = _encoding(data)
    text = io.TextIOWrapper(io.BytesIO(data[start:] if start else data), encoding=encoding, newline="")
    try:
        first_lines = [text.readline() for _ in range(HEADER_SEARCH)]
    except UnicodeDecodeError:
        raise InviteeFileError([_problem(0, "", _NOT_WHOLE_UTF16)]) from None
    text.seek(0)
    # The separator that makes one of the first lines a header row (a title above it may hold a comma),
    # else the one the first line has most of.
    delimiters = (";", ",", "\t")
    delimiter = next((candidate for candidate in delimiters if _header_among(first_lines, candidate)),
                     max(delimiters, key=first_lines[0].count))
    reader = csv.reader(text, delimiter=delimiter)
    line = 1
    try:
        for cells in reader:
            yield line, cells
            line = reader.line_num + 1
    except csv.Error as error:
        if "field larger than field limit" in str(error):  # the one csv.Error a file read with newline="" meets
            raise InviteeFileError([_problem(line, "", N_(
                "a cell here never ends: a quotation mark (\") opens it and none closes it"))]) from None
        raise InviteeFileError([_problem(line, "", N_("not valid CSV: %(reason)s"), reason=error)]) from None
    except UnicodeDecodeError:
        raise InviteeFileError([_problem(line, "", _NOT_WHOLE_UTF16)]) from None


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds, in English, for a damaged file or another kind of ZIP
        raise InviteeFileError([_problem(0, "", N_(
            "the file cannot be read as an Excel workbook: it is damaged, or another kind of file (such as a Word "
            "document); save the list from Excel as .xlsx or CSV"))]) from None
    try:
        for number, values in enumerate(_invitee_sheet(workbook).iter_rows(values_only=True), start=1):
            yield number, [_cell_text(value) for value in values]
    finally:
        workbook.close()


def _invitee_sheet(workbook):
    """The first sheet with a column for the email address in one of its first rows (a workbook may begin
    with a sheet of instructions), else the first sheet."""
    for sheet in workbook.worksheets:
        if any(_names_email([_cell_text(value) for value in row])
               for row in sheet.iter_rows(max_row=HEADER_SEARCH, values_only=True)):
            return sheet
    return workbook.worksheets[0]


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_rows(filename: str, data: bytes) -> Iterator[tuple[int, list[str]]]:
    """The file's rows with their line (or sheet row) numbers, header first, read as they are needed."""
    if data.startswith(b"PK\x03\x04"):
        if _opendocument(data):
            raise InviteeFileError([_problem(0, "", N_(
                "this is an OpenDocument spreadsheet (.ods); save it as .xlsx or CSV (in LibreOffice: Save As)"))])
        return _xlsx_rows(data)
    if data.startswith(b"\xd0\xcf\x11\xe0"):  # Office's old format, which Excel also wraps a password-protected .xlsx in
        raise InviteeFileError([_problem(0, "", N_(
            "this is an old Excel .xls file, or a workbook protected with a password; save it as .xlsx without "
            "a password, or as CSV"))])
    if data.startswith(b"%PDF"):
        raise InviteeFileError([_problem(0, "", N_("this is a PDF, whose rows cannot be read; save the list from "
                                                   "Excel as .xlsx or CSV"))])
    if filename.lower().endswith(".xlsx"):
        raise InviteeFileError([_problem(0, "", N_("the file is named .xlsx but is not an Excel workbook"))])
    return _csv_rows(data)


def _opendocument(data: bytes) -> bool:
    """Whether a ZIP file is an OpenDocument file (LibreOffice's .ods): its first entry says so."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.read("mimetype").startswith(b"application/vnd.oasis.opendocument")
    except (zipfile.BadZipFile, KeyError):
        return False


def row_estimate(data: bytes) -> int:
    """About how many rows the file has (its line breaks; an XLSX file says nothing cheaply), for a progress bar."""
    return 0 if data.startswith(b"PK\x03\x04") else data.count(b"\n") + (not data.endswith(b"\n"))


# --- Checking rows -----------------------------------------------------------------------


def _normal_header(text: str) -> str:
    return _SPACES.sub(" ", text.replace("\ufeff", "").strip().lower())


#: How many rows of a file may come before its header row (a title, a date, an empty line).
HEADER_SEARCH = 10


def _names_email(cells: list[str]) -> bool:
    """Whether a row names a column for the email address: a header row."""
    return any(_normal_header(cell) in HEADERS["email"] for cell in cells)


def _map_headers(header: list[str], line: int = 1) -> tuple[dict[str, int], list[str], list[RowError]]:
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
            errors.append(_problem(line, title.strip(), N_("a second column for %(field)s (the first is '%(first)s')"),
                                   field=FIELD_NAMES[name], first=header[columns[name]].strip()))
        else:
            columns[name] = index
    def aliases(name: str) -> str:
        return ", ".join(f"'{alias}'" for alias in HEADERS[name])

    if "name" in columns:  # the whole name is there: a first or last name column beside it is not used
        ignored += [header[columns.pop(part)].strip() for part in ("first_name", "last_name") if part in columns]
    elif not {"first_name", "last_name"} <= columns.keys():
        errors.append(_problem(line, "", N_(
            "no column for the name; the header row must have one of %(accepted)s, or both a first-name column "
            "(%(first)s) and a last-name column (%(last)s)"),
            accepted=aliases("name"), first=aliases("first_name"), last=aliases("last_name")))
    if "email" not in columns:
        errors.append(_problem(line, "", N_("no column for %(field)s; the header row must have one of %(accepted)s"),
                               field=FIELD_NAMES["email"], accepted=aliases("email")))
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


#: How often (in rows) the check reports its progress.
PROGRESS_EVERY = 1000


@dataclass
class _Findings:
    """What checking rows found besides the good rows: the fields the file gives, the columns OSA
    ignores, and every error."""

    given: frozenset[str] = frozenset()
    ignored: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def check_rows(event: Event, rows: Iterable[tuple[int, list[str]]]) -> tuple[list[_Row], list[str], list[RowError]]:
    """Check a few rows at once (one invitee from a form): the good rows, the ignored columns and every error."""
    found = _Findings()
    good = list(_checked_rows(event, rows, found, skip_blank=False))  # a form left empty: say what is missing
    return good, found.ignored, found.errors


def _checked_rows(event: Event, rows: Iterable[tuple[int, list[str]]], found: _Findings,
                 progress: Callable[[int], None] | None = None, skip_blank: bool = True) -> Iterator[_Row]:
    """The rows that pass every check, as they are read; the rest goes in `found`. `progress(rows)`
    is told how many rows have been checked, every `PROGRESS_EVERY` rows. Blank rows (a file's empty
    lines) are passed over unless `skip_blank` is False."""
    filled = ((line, cells) for line, cells in rows if not skip_blank or any(_clean(cell) for cell in cells))
    # A list may open with a title or a date: its header row is the first of its first rows to name an
    # email column (else its first row, whose problems are then said), and what is above it is not read.
    leading = list(itertools.islice(filled, HEADER_SEARCH))
    if not leading:
        found.errors.append(_problem(0, "", N_("the file is empty: it needs a header row and at least one invitee")))
        return
    at = next((index for index, (_, cells) in enumerate(leading) if _names_email(cells)), 0)
    header_line, header = leading[at]
    filled = itertools.chain(leading[at + 1:], filled)
    columns, found.ignored, errors = _map_headers(header, header_line)
    found.given = frozenset(GIVEN_BY.get(name, name) for name in columns)
    if errors:
        found.errors.extend(errors)
        return
    body = _counted(filled, progress)
    second = next(body, None)
    if second is None:
        found.errors.append(_problem(0, "", N_("the file has a header row but no invitees")))
        return
    body = itertools.chain([second], body)

    titles = {name: header[index].strip() for name, index in columns.items()}
    roles = _role_lookup(event)
    role_names = ", ".join(f"'{r.key}'" for r in event.roles)
    first_line_of: dict[str, int] = {}
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
            row_errors.append(_problem(line, "", N_("has more cells than the header row: %(count)s extra"),
                                       count=len(extra)))

        if "name" not in columns:  # a first-name and a last-name column
            values["name"] = f"{values['first_name']} {values['last_name']}"
        name = _SPACES.sub(" ", values["name"]).strip()
        name_columns = [titles[part] for part in ("name", "first_name", "last_name") if part in titles]
        if not name and not any(e.column in name_columns for e in row_errors):
            row_errors.append(_problem(line, ", ".join(name_columns), N_("the name is missing")))

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
                row_errors.append(_problem(line, titles["email"],
                                           N_("'%(email)s' is not a valid email address: %(address_reason)s"),
                                           email=email, address_reason=error))
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
            if role_id is None and not role_names:
                row_errors.append(_problem(line, titles["role"], N_(
                    "unknown role '%(role)s': the event has no roles; leave the column empty or remove it"),
                    role=values["role"]))
            elif role_id is None:
                row_errors.append(
                    _problem(line, titles["role"], N_("unknown role '%(role)s' (the event's roles: %(roles)s)"),
                             role=values["role"], roles=role_names)
                )

        language = event.default_language
        if values.get("language"):
            given = values["language"].lower().replace("_", "-")  # a locale such as sv-SE or en_GB: its language
            language = LANGUAGE_NAMES.get(given) or LANGUAGE_NAMES.get(given.split("-")[0], "")
            if not language:
                row_errors.append(
                    _problem(line, titles["language"], N_("unknown language '%(language)s' (use sv or en)"),
                             language=values["language"])
                )

        if row_errors:
            found.errors.extend(row_errors)
        else:
            organisation = _SPACES.sub(" ", values.get("organisation", ""))
            yield _Row(line, name, email, email_key, organisation, role_id, language)


def _counted(rows: Iterator, progress: Callable[[int], None] | None) -> Iterator:
    for count, row in enumerate(rows, start=1):
        yield row
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count)


@dataclass
class CheckedFile:
    """A file whose every row passed the checks, ready to store once (`store_checked`): the rows
    wait in a temporary file, `STORE_CHUNK` to a pickle."""

    rows: int
    ignored_columns: list[str]
    spool: IO[bytes]
    #: The fields the file has columns for (`FIELDS`, or fewer).
    given: frozenset[str]

    def read(self) -> Iterator[_Row]:
        self.spool.seek(0)
        while True:
            try:
                chunk = pickle.load(self.spool)
            except EOFError:
                return
            yield from (_Row(*row) for row in chunk)


def check_file(event: Event, filename: str, data: bytes, progress: Callable[[int], None] | None = None) -> CheckedFile:
    """Read and check every row of the file, writing nothing to the database; raise
    `InviteeFileError` with every problem (grouped when one repeats: `InviteeFileError.groups`)."""
    found = _Findings()
    rows = _checked_rows(event, read_rows(filename, data), found, progress)
    spool = tempfile.TemporaryFile()
    count = 0
    try:
        while chunk := list(itertools.islice(rows, STORE_CHUNK)):
            pickle.dump([tuple(row) for row in chunk], spool)
            count += len(chunk)
        if found.errors:
            raise InviteeFileError(found.errors)
    except BaseException:
        spool.close()
        raise
    return CheckedFile(count, found.ignored, spool, found.given)


def store_checked(event: Event, checked: CheckedFile) -> ImportResult:
    """Add and update the checked file's invitees in the current transaction (the caller commits, and
    closes `checked.spool`)."""
    return _store(event, checked.read(), ImportResult(ignored_columns=checked.ignored_columns), checked.given)


def import_invitees(event: Event, filename: str, data: bytes,
                    progress: Callable[[int], None] | None = None) -> ImportResult:
    """Import the file into `event` in the current transaction, or raise `InviteeFileError` having
    written nothing. The caller commits."""
    checked = check_file(event, filename, data, progress)
    with checked.spool:
        return store_checked(event, checked)


#: The columns `add_invitee` fills, named as an import file may name them.
_ONE_INVITEE = ["name", "email", "organisation", "role", "language"]


def add_invitee(
    event: Event, name: str | None, email: str | None, organisation: str | None = "", role: str | None = "",
    language: str | None = "",
) -> ImportResult:
    """Add one invitee, or bring back a removed one with that address, with the import's own checks;
    `InviteeFileError` names the bad fields by their `_ONE_INVITEE` names, an address already on the
    list among them (the form adds someone: it does not overwrite whoever has the address)."""
    row = _checked_one(event, name, email, organisation, role, language)
    _refuse_taken(event.id, row.email, Invitee.removed_at.is_(None))
    return _store(event, [row], ImportResult())


def change_details(invitee: Invitee, name: str | None, organisation: str | None, role: str | None,
                   language: str | None) -> None:
    """Give the invitee a corrected name, organisation, role or language with the import's own checks;
    `InviteeFileError` names the bad fields by their `_ONE_INVITEE` names. Flushes."""
    row = _checked_one(invitee.event, name, invitee.email, organisation, role, language)
    _update_known(invitee.event, [row], ImportResult(), FIELDS - {"email"})


def checked_address(invitee: Invitee, email: str | None) -> str:
    """The address as the import would store it, or `InviteeFileError` naming the problem ("email"):
    not an address, or another invitee's."""
    address = _checked_one(invitee.event, invitee.name, email).email
    _refuse_taken(invitee.event_id, address, Invitee.id != invitee.id)
    return address


def _checked_one(event: Event, *values: str | None) -> _Row:
    """One invitee's `_ONE_INVITEE` values (those not given empty) as the import checks them, or
    `InviteeFileError` naming the bad fields."""
    cells = [value or "" for value in values] + [""] * (len(_ONE_INVITEE) - len(values))
    rows, _, errors = check_rows(event, [(0, _ONE_INVITEE), (1, cells)])
    if errors:
        raise InviteeFileError(errors)
    return rows[0]


def _refuse_taken(event_id: int, address: str, *among_whom) -> None:
    """`InviteeFileError` ("email") when the address is that of an invitee of the event (`among_whom`)."""
    taken = db.session.scalar(select(Invitee.name).where(
        Invitee.event_id == event_id, Invitee.email_key == address.lower(), *among_whom))
    if taken is not None:
        raise InviteeFileError([_problem(1, "email", N_("'%(email)s' is already the address of %(name)s"),
                                         email=address, name=taken)])


def correct_address(invitee: Invitee, email: str | None) -> None:
    """Give the invitee a corrected address (checked by `checked_address`) and forget what the old
    one's bounces said: rounds and reminders reach them again."""
    address = checked_address(invitee, email)
    invitee.email, invitee.email_key = address, address.lower()
    invitee.undeliverable_at, invitee.undeliverable_problem, invitee.undeliverable_reason = None, "", ""
    invitee.updated_at = utcnow()
    db.session.flush()


def _store(event: Event, rows: Iterable[_Row], result: ImportResult,
           given: frozenset[str] = FIELDS) -> ImportResult:
    """Add or update the rows' invitees, `STORE_CHUNK` rows at a time: the known ones among a chunk
    are read by address and updated in the `given` fields, the new ones inserted as plain rows (50,000
    need no object each). Someone added meanwhile by the admin's form or another import of the same
    people makes the INSERT wait for that transaction and then fail; it is undone alone (a savepoint),
    and they are updated instead."""
    rows = iter(rows)
    while chunk := list(itertools.islice(rows, STORE_CHUNK)):
        new = _update_known(event, chunk, result, given)
        while new:
            try:
                with db.session.begin_nested():
                    db.session.execute(insert(Invitee), [
                        {"event_id": event.id, "email_key": row.email_key, **_values(row)} for row in new])
            except IntegrityError:
                still_new = _update_known(event, new, result, given)
                if len(still_new) == len(new):
                    raise  # not an address taken meanwhile
                new = still_new
            else:
                result.created += len(new)
                new = []
    return result


def _values(row: _Row) -> dict:
    return {"name": row.name, "email": row.email, "organisation": row.organisation, "role_id": row.role_id,
            "language": row.language}


def _update_known(event: Event, rows: list[_Row], result: ImportResult, given: frozenset[str]) -> list[_Row]:
    """Update the `given` fields of the invitees the rows' addresses already belong to (putting a removed
    one back on the list); return the rows whose address belongs to no one."""
    if not rows:
        return []
    known = {invitee.email_key: invitee for invitee in db.session.scalars(select(Invitee).where(
        Invitee.event_id == event.id, among(Invitee.email_key, [row.email_key for row in rows])))}
    for row in rows:
        invitee = known.get(row.email_key)
        if invitee is None:
            continue
        changed = {name: value for name, value in _values(row).items()
                   if name in given and getattr(invitee, name) != value}
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
    db.session.flush()
    return [row for row in rows if row.email_key not in known]


#: Rows stored at a time: the known invitees among them read in one query, the new ones in one INSERT.
STORE_CHUNK = 5000


# --- Imports the admin uploads, run by a worker ------------------------------------------------

#: A job in progress not touched for this long lost its worker, and is started again.
STALE_JOB = dt.timedelta(minutes=10)


def start_import(event: Event, filename: str, data: bytes, by: str) -> ImportJob:
    """Keep the uploaded file as a job for a worker, in the caller's transaction; `dispatch_import`
    after the commit."""
    job = ImportJob(event_id=event.id, filename=filename, data=data, by=by, rows=row_estimate(data))
    db.session.add(job)
    db.session.flush()
    return job


def dispatch_import(job_id: int) -> None:
    """Put the job on the Celery queue; a broker that is down loses nothing (`requeue_stale_imports`)."""
    queue_task("osa.invitees.import_file", job_id)


def run_import_job(job_id: int) -> None:
    """Check the job's file, reporting progress as it goes, then store it all in one transaction
    (or nothing, with every problem grouped). A job another worker has taken is left alone."""
    with write_transaction():
        taken = db.session.execute(
            update(ImportJob).where(ImportJob.id == job_id, ImportJob.state == ImportState.QUEUED)
            .values(state=ImportState.CHECKING, checked=0, updated_at=utcnow())
        ).rowcount
    if not taken:
        return
    job = db.session.get(ImportJob, job_id)
    event, filename, data = job.event, job.filename, job.data

    def progress(rows: int) -> None:
        with write_transaction():
            db.session.execute(update(ImportJob).where(ImportJob.id == job_id).values(checked=rows, updated_at=utcnow()))

    try:
        checked = check_file(event, filename, data, progress)
        with checked.spool:
            with write_transaction():
                db.session.execute(update(ImportJob).where(ImportJob.id == job_id).values(
                    state=ImportState.SAVING, checked=checked.rows, updated_at=utcnow()))
            with write_transaction():
                result = store_checked(db.session.get(Event, event.id), checked)
                _finish(job_id, ImportState.DONE, {"created": result.created, "updated": result.updated,
                                                   "unchanged": result.unchanged,
                                                   "ignored_columns": result.ignored_columns}, commit=False)
    except InviteeFileError as error:
        _finish(job_id, ImportState.FAILED, {"groups": [group.as_data() for group in error.groups]})
    except OperationalError:
        raise  # the database is away: the job waits for the sweeper to start it again, its file kept
    except Exception as error:
        db.session.rollback()  # the type and where, never the message: it may quote a row
        log_unexpected(log, f"import job {job_id}", error)
        stopped = ErrorGroup(_problem(0, "", N_("the import stopped unexpectedly, and nothing was imported; "
                                                "try again, or ask whoever runs OSA to read its log")), [0])
        _finish(job_id, ImportState.FAILED, {"groups": [stopped.as_data()]})


def _finish(job_id: int, state: str, result: dict, commit: bool = True) -> None:
    statement = update(ImportJob).where(ImportJob.id == job_id).values(state=state, result=result, data=b"",
                                                                        updated_at=utcnow())
    if commit:
        with write_transaction():
            db.session.execute(statement)
    else:
        db.session.execute(statement)


def requeue_stale_imports() -> int:
    """Queue again jobs whose task was lost (queued a minute ago and not begun) or whose worker was
    (in progress, not touched for `STALE_JOB`)."""
    now = utcnow()
    with write_transaction():
        stale = list(db.session.scalars(select(ImportJob.id).where(
            ((ImportJob.state == ImportState.QUEUED) & (ImportJob.updated_at < now - dt.timedelta(minutes=1)))
            | (ImportJob.state.in_([ImportState.CHECKING, ImportState.SAVING]) & (ImportJob.updated_at < now - STALE_JOB))
        )))
        if stale:
            db.session.execute(update(ImportJob).where(ImportJob.id.in_(stale)).values(
                state=ImportState.QUEUED, updated_at=now))
    for job_id in stale:
        dispatch_import(job_id)
    return len(stale)


def job_result(job: ImportJob) -> ImportResult | list[ErrorGroup] | None:
    """A finished job's counts, or its problems; None while it runs."""
    if job.state == ImportState.DONE:
        return ImportResult(created=job.result["created"], updated=job.result["updated"],
                            unchanged=job.result["unchanged"], ignored_columns=job.result["ignored_columns"])
    if job.state == ImportState.FAILED:
        return [ErrorGroup.from_data(group) for group in job.result["groups"]]
    return None
