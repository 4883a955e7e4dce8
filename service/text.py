"""Free text that people type into OSA: what may be stored, how stored text is made safe for files,
the order a Swedish list puts names in, and why a typed email address is not one, in the reader's words.

Every text an invitee or the secretariat submits (form fields, imported cells) is
put in Unicode NFC, its tabs become spaces, the zero-width spaces a paste brings
are dropped, and it is refused when it holds a
character that has no place in it: NUL and other control characters (line breaks
are allowed only in fields that span lines) and the bidirectional embeddings,
overrides and isolates that make a text read differently from what it holds.
Exports pass every stored value through `cleaned`, so a row written before
these checks (or by hand) cannot break a CSV or an XLSX file.
"""

from __future__ import annotations

import re
import unicodedata

from flask_babel import lazy_gettext as _l
from wtforms.validators import ValidationError

#: Never in a stored text: C0 and C1 controls but tab and line breaks, and the bidirectional controls
#: (a tab never reaches storage either: `normalized` makes it a space).
_NEVER = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
_NOT_IN_LINE = re.compile(f"[{_NEVER}\n\r\u2028\u2029]")
_NOT_IN_LINES = re.compile(f"[{_NEVER}]")
_LINE_BREAKS = re.compile("\r\n|[\r\u2028\u2029]")
#: Tabs as spaces (a paste from a spreadsheet), and no zero-width space, word joiner or byte order mark: a
#: paste from a web page or a mail program brings them, unseen, and an address holding one is not one.
_PASTED = str.maketrans({"\t": " ", "\u200b": None, "\u2060": None, "\ufeff": None})


def normalized(text: str | None) -> str | None:
    """`text` in Unicode NFC, without what a paste brings unseen (`_PASTED`), line breaks as \\n."""
    if text is None:
        return None
    return _LINE_BREAKS.sub("\n", unicodedata.normalize("NFC", text).translate(_PASTED))


def unsafe_character(text: str, multiline: bool = False) -> str | None:
    """The first character of `text` that may not be stored in such a field, as `U+202E`; None if there is none."""
    found = (_NOT_IN_LINES if multiline else _NOT_IN_LINE).search(text)
    return f"U+{ord(found.group()):04X}" if found else None


#: Swedish alphabetical order: å, ä and ö are letters of their own after z (in that order, above any
#: ASCII letter), æ and ø sort as ä and ö, ü as y; every other accent is ignored (é as e).
_SWEDISH_LETTERS = str.maketrans({"å": "{", "ä": "|", "æ": "|", "ö": "}", "ø": "}", "ü": "y"})


def whole_number(text: str, most_digits: int = 18) -> int | None:
    """`text` as a number when it is ASCII digits only, at most `most_digits` of them (18 fit any database
    integer); None otherwise. `str.isdigit` alone would let "²" through to `int`, which refuses it."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= most_digits else None


def sort_key(text: str) -> str:
    """`text` as a Swedish list orders it, compared character by character: "Åsa" after "Zorn" and
    before "Ärla", "de Geer" among the d's, "Élise" among the e's."""
    folded = unicodedata.normalize("NFC", text.casefold()).translate(_SWEDISH_LETTERS)
    return "".join(c for c in unicodedata.normalize("NFD", folded) if not unicodedata.combining(c))


def cleaned(value):
    """`value` without control or direction characters but tabs and line breaks: what a CSV or XLSX cell
    may hold, and what a database may be asked to search for."""
    return _NOT_IN_LINES.sub("", value) if isinstance(value, str) else value


#: email_validator's reasons for the slips people make typing an address, in OSA's words and so in the
#: reader's language (the library writes English only); `%(found)s` is what follows a reason that lists
#: the characters at fault. Any other reason is shown as the library words it.
_ADDRESS_REASONS = (
    ("An email address must have an @-sign.", _l("an email address must have an @")),
    ("A display name and angle brackets around the email address are not permitted here.",
     _l("write the address alone, without a name or < >")),
    ("An open angle bracket at the start of the email address", _l("write the address alone, without a name or < >")),
    ("The email address contains unsafe characters: ",
     _l("it has characters that cannot be seen or cannot stand in an address: %(found)s")),
    ("The email address contains invalid characters before the @-sign: ",
     _l("it has characters an address cannot have before the @: %(found)s")),
    ("The part after the @-sign contains invalid characters: ",
     _l("it has characters an address cannot have after the @: %(found)s")),
    ("An email address cannot have two periods in a row.", _l("an email address cannot have two periods in a row")),
    ("An email address cannot end with a period.", _l("an email address cannot end with a period")),
    ("An email address cannot have a period immediately before the @-sign.",
     _l("an email address cannot have a period just before the @")),
    ("An email address cannot start with a period.", _l("an email address cannot begin with a period")),
    ("An email address cannot have a period immediately after the @-sign.",
     _l("an email address cannot have a period just after the @")),
    ("An email address cannot have a hyphen immediately after the @-sign.",
     _l("an email address cannot have a hyphen just after the @")),
    ("An email address cannot end with a hyphen.", _l("an email address cannot end with a hyphen")),
    ("An email address cannot have a period and a hyphen next to each other.",
     _l("an email address cannot have a period and a hyphen next to each other")),
    ("There must be something before the @-sign.", _l("something must come before the @")),
    ("There must be something after the @-sign.", _l("something must come after the @")),
    ("The part after the @-sign is not valid. It should have a period.",
     _l("the part after the @ must have a period, as in example.se")),
    ("The part after the @-sign is not valid. It is not within a valid top-level domain.",
     _l("the part after the @ must end with a top-level domain, such as .se or .org")),
    ("A bracketed IP address after the @-sign is not allowed here.",
     _l("an IP address in brackets after the @ is not possible here")),
    ("The email address is too long", _l("an email address has at most 254 characters")),
    ("After the @-sign, periods cannot be separated by so many characters",
     _l("after the @, a name between periods has at most 63 characters")),
    ("The part after the @-sign is a special-use or reserved name that cannot be used with email.",
     _l("the part after the @ is a reserved name that takes no email")),
    ("Quoting the part before the @-sign is not allowed here.",
     _l("quotation marks around the part before the @ are not possible here")),
)


def address_reason(reason: str) -> str:
    """Why an address is not one (the text of email_validator's `EmailNotValidError`), in the language
    in force."""
    for english, own in _ADDRESS_REASONS:
        if reason.startswith(english):
            return str(own) % {"found": reason.removeprefix(english).removesuffix(".")}
    return reason


class PlainText:
    """WTForms validator: refuse a text holding a character `unsafe_character` finds, naming it.

    Use it with `filters=[normalized]`, so what is checked (and stored) is already in NFC.
    """

    def __init__(self, multiline: bool = False):
        self.multiline = multiline

    def __call__(self, form, field) -> None:
        character = unsafe_character(field.data or "", self.multiline)
        if character is not None:
            raise ValidationError(_l(
                "This text holds an invisible character (%(character)s) that cannot be saved: "
                "delete it, or type the text again instead of pasting it.", character=character,
            ))
