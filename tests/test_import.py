"""Importing invitees from the files a Swedish secretariat really has."""

import io
import re
import zipfile

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.answers import Answer, DayAnswer, save_answer, take_off_list
from service.db import PendingChanges, write_transaction
from service.eventfile import parse_event, read_event_file
from service.events import store_event
from service.extensions import db
from service.invitee_import import InviteeFileError, import_invitees
from service.models import Invitee, Outbox, Response, ResponseDay, TransportOption

from .conftest import (
    BUNDLED_EVENT,
    add_admin,
    add_invitee,
    import_finished,
    sign_in,
    start_worker_process,
    stopped_after,
    waiting_on_a_lock,
)
from .support.helpers import csrf_token, wait_for

SWEDISH_HEADER = ["Namn", "E-post", "Kommun", "Roll", "Språk"]
ENGLISH_HEADER = ["Name", "Email", "Organisation", "Role", "Language"]
PEOPLE = [
    ["Åsa Öberg", "asa.oberg@example.se", "Skellefteå kommun", "KSO", "sv"],
    ["Märta Ängström", "marta@example.se", "Oxelösunds kommun", "tjänsteman", ""],
    ["John Smith", "john.smith@example.org", "Sandvikens kommun", "official", "en"],
]


def csv_bytes(rows, encoding="utf-8", separator=",") -> bytes:
    lines = [separator.join(cells) for cells in rows]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def xlsx_bytes(rows) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def invitees(event) -> list[tuple[str, str, str, str | None, str]]:
    rows = db.session.scalars(select(Invitee).where(Invitee.event_id == event.id).order_by(Invitee.id))
    return [(i.name, i.email, i.organisation, i.role.key if i.role else None, i.language) for i in rows]


EXPECTED = [
    ("Åsa Öberg", "asa.oberg@example.se", "Skellefteå kommun", "kso", "sv"),
    ("Märta Ängström", "marta@example.se", "Oxelösunds kommun", "official", "sv"),
    ("John Smith", "john.smith@example.org", "Sandvikens kommun", "official", "en"),
]


@pytest.mark.parametrize(
    "encoding, separator",
    [
        ("utf-8", ","),
        ("utf-8", ";"),
        ("utf-8-sig", ";"),
        ("utf-8-sig", ","),
        ("cp1252", ";"),
        ("cp1252", ","),
        ("mac_roman", ";"),
        ("utf-16", "\t"),
    ],
    ids=["utf8-comma", "utf8-semicolon", "bom-semicolon", "bom-comma", "cp1252-semicolon", "cp1252-comma",
         "macroman-semicolon", "utf16-tab"],
)
def test_csv_in_every_encoding_and_separator_excel_writes(event, encoding, separator):
    data = csv_bytes([SWEDISH_HEADER, *PEOPLE], encoding, separator)
    result = import_invitees(event, "invitees.csv", data)
    db.session.commit()
    assert str(result) == "3 added, 0 updated, 0 unchanged"
    assert invitees(event) == EXPECTED


def test_a_mac_csv_without_capital_letters_outside_ascii_keeps_its_names(event):
    """Excel on a Mac writes its plain CSV in Mac Roman, where ö is the byte Windows-1252 reads as š:
    read as Windows-1252 this file would import "Gšran Lindqvist" of "SkellefteŒ kommun" without a word."""
    rows = [["Namn", "E-post", "Kommun"], ["Göran Lindqvist", "goran@example.se", "Skellefteå kommun"],
            ["Märta Berg", "marta@example.se", "Luleå kommun"], ["Bo Ek", "bo@example.se", "Olofströms kommun – KS"]]
    import_invitees(event, "mac.csv", csv_bytes(rows, "mac_roman", ";"))
    db.session.commit()
    assert [(name, organisation) for name, _, organisation, *_ in invitees(event)] == [
        ("Göran Lindqvist", "Skellefteå kommun"), ("Märta Berg", "Luleå kommun"), ("Bo Ek", "Olofströms kommun – KS")]
    # A Windows file with a euro sign and curly quotes (bytes of Mac Roman's letters too) stays Windows-1252.
    windows = [["Namn", "E-post", "Kommun"], ["Åsa Öberg", "asa@example.se", "Skellefteå kommun (”KS”) – 100 €"]]
    import_invitees(event, "windows.csv", csv_bytes(windows, "cp1252", ";"))
    db.session.commit()
    assert ("Åsa Öberg", "Skellefteå kommun (”KS”) – 100 €") in [(name, org) for name, _, org, *_ in invitees(event)]


def test_the_headers_swedish_public_bodies_write(event):
    """Språkrådet's "mejl", and a region's or an agency's list, are read without renaming a column."""
    rows = [["Förnamn", "Efternamn", "Mejladress", "Myndighet"], ["Åsa", "Öberg", "asa@example.se", "Region Västerbotten"]]
    import_invitees(event, "lista.csv", csv_bytes(rows, "utf-8-sig", ";"))
    db.session.commit()
    assert [(name, email, organisation) for name, email, organisation, *_ in invitees(event)] == [
        ("Åsa Öberg", "asa@example.se", "Region Västerbotten")]


def test_contacts_exported_from_outlook_keep_their_organisation(event):
    """Outlook exports contacts to CSV with a column for every field it has (in the system's code page,
    every cell quoted): the name, the address and the organisation ("Företag", "Company") are read,
    the rest is left."""
    swedish = ('"Förnamn","Mellannamn","Efternamn","Titel","Företag","Avdelning","Befattning","E-postadress",'
               '"E-postens visningsnamn"\r\n"Åsa","","Öberg","","Skellefteå kommun","Kommunledningskontoret",'
               '"Kommunstyrelsens ordförande","asa@example.se","Åsa Öberg (asa@example.se)"\r\n')
    english = ('"First Name","Middle Name","Last Name","Company","Department","Job Title","E-mail Address",'
               '"E-mail Display Name"\r\n"Bo","","Ek","Luleå kommun","","","bo@example.se","Bo Ek (bo@example.se)"\r\n')
    assert str(import_invitees(event, "Kontakter.CSV", swedish.encode("cp1252"))) == (
        "1 added, 0 updated, 0 unchanged (ignored columns: Mellannamn, Titel, Avdelning, Befattning, "
        "E-postens visningsnamn)")
    assert str(import_invitees(event, "contacts.csv", english.encode("cp1252"))) == (
        "1 added, 0 updated, 0 unchanged (ignored columns: Middle Name, Department, Job Title, E-mail Display Name)")
    db.session.commit()
    assert [(name, email, organisation) for name, email, organisation, *_ in invitees(event)] == [
        ("Åsa Öberg", "asa@example.se", "Skellefteå kommun"), ("Bo Ek", "bo@example.se", "Luleå kommun")]


def test_a_list_that_opens_with_a_title_is_read_from_its_header_row(event):
    """Lists kept in Excel often open with a title and a date above the header row: they are read from
    the header row down, and a problem is named at the file's own line."""
    workbook = xlsx_bytes([["Inbjudna till Innovationsmötet 2021"], ["Uppdaterad 2021-10-01"], [],
                           ["Namn", "E-post", "Kommun"], ["Åsa Öberg", "asa@example.se", "Skellefteå kommun"],
                           ["Bo Ek", "bo(at)example.se", "Luleå kommun"]])
    with pytest.raises(InviteeFileError) as caught:
        import_invitees(event, "lista.xlsx", workbook)
    assert [(e.line, e.column) for e in caught.value.errors] == [(6, "E-post")]
    exported = "Inbjudna till Innovationsmötet 2021;;\r\n;;\r\nNamn;E-post;Kommun\r\nÅsa Öberg;asa@example.se;Umeå kommun\r\n"
    assert str(import_invitees(event, "lista.csv", exported.encode("cp1252"))) == "1 added, 0 updated, 0 unchanged"
    # Written by hand: a title without separators, or with a comma, above a comma- or semicolon-separated list.
    for title, separator, result in (("Inbjudna", ",", "1 added, 0 updated, 0 unchanged"),
                                     ("Inbjudna, uppdaterad 1 oktober", ";", "0 added, 0 updated, 1 unchanged")):
        typed = f"{title}\nNamn{separator}E-post\nBo Ek{separator}bo@example.se\n"
        assert str(import_invitees(event, "lista.csv", typed.encode())) == result
    db.session.commit()
    assert [(name, organisation) for name, _, organisation, *_ in invitees(event)] == [
        ("Åsa Öberg", "Umeå kommun"), ("Bo Ek", "")]


def test_english_headers(event):
    import_invitees(event, "invitees.csv", csv_bytes([ENGLISH_HEADER, *PEOPLE]))
    db.session.commit()
    assert invitees(event) == EXPECTED


def test_xlsx(event):
    result = import_invitees(event, "invitees.xlsx", xlsx_bytes([SWEDISH_HEADER, *PEOPLE]))
    db.session.commit()
    assert result.created == 3
    assert invitees(event) == EXPECTED


def test_a_workbook_that_begins_with_a_sheet_of_instructions_is_read_from_the_sheet_with_the_list(event):
    workbook = Workbook()
    workbook.active.title = "Instruktioner"
    workbook.active.append(["Fyll i deltagarna på bladet Deltagare, en per rad."])
    sheet = workbook.create_sheet("Deltagare")
    for row in [SWEDISH_HEADER, *PEOPLE]:
        sheet.append(row)
    workbook.create_sheet("Blad3")
    buffer = io.BytesIO()
    workbook.save(buffer)
    result = import_invitees(event, "lista.xlsx", buffer.getvalue())
    db.session.commit()
    assert str(result) == "3 added, 0 updated, 0 unchanged"
    assert invitees(event) == EXPECTED


def test_stray_spaces_empty_rows_and_extra_columns_are_tolerated(event):
    data = (
        " Namn ;E-post  ;Organisation;Telefon;Roll\r\n"
        "  Åsa   Öberg ; asa.oberg@example.se ; Skellefteå kommun;070-174 06 50; kso \r\n"
        ";;;;\r\n"
        ";;;;\r\n"
    ).encode("utf-8-sig")
    result = import_invitees(event, "lista.csv", data)
    db.session.commit()
    assert str(result) == "1 added, 0 updated, 0 unchanged (ignored columns: Telefon)"
    assert invitees(event) == [("Åsa Öberg", "asa.oberg@example.se", "Skellefteå kommun", "kso", "sv")]


def test_an_address_list_with_first_and_last_name_in_columns_of_their_own(event):
    data = (
        "Förnamn;Efternamn;E-post;Kommun\r\n"
        "Åsa;Öberg;asa.oberg@example.se;Skellefteå kommun\r\n"
        " Märta ; Ängström ;marta@example.se;Oxelösunds kommun\r\n"
        "Prince;;prince@example.org;\r\n"
    ).encode("cp1252")
    assert str(import_invitees(event, "adresser.csv", data)) == "3 added, 0 updated, 0 unchanged"
    db.session.commit()
    assert [name for name, *_ in invitees(event)] == ["Åsa Öberg", "Märta Ängström", "Prince"]

    # Beside a column with the whole name, the parts are not used (and said to be ignored).
    both = "Namn,Förnamn,Efternamn,E-post\r\nBo Ek,Bosse,Eklund,bo@example.se\r\n".encode()
    assert str(import_invitees(event, "x.csv", both)) == \
        "1 added, 0 updated, 0 unchanged (ignored columns: Förnamn, Efternamn)"
    db.session.commit()
    assert invitees(event)[-1][0] == "Bo Ek"

    with pytest.raises(InviteeFileError) as caught:  # a row with neither part
        import_invitees(event, "x.csv", "First name,Last name,Email\r\n,,cia@example.se\r\n".encode())
    assert [str(e) for e in caught.value.errors] == ["line 2, First name, Last name: the name is missing"]
    with pytest.raises(InviteeFileError) as caught:  # a first name alone is not a name column
        import_invitees(event, "x.csv", "Förnamn,E-post\r\nCia,cia@example.se\r\n".encode())
    assert caught.value.errors[0].describe("sv") == (
        "rad 1: ingen kolumn för namnet; rubrikraden måste ha en av 'namn', 'name', 'fullständigt namn', 'full name', "
        "'för- och efternamn', eller både en kolumn för förnamn ('förnamn', 'first name', 'firstname', 'given name') "
        "och en för efternamn ('efternamn', 'last name', 'lastname', 'surname', 'family name')")
    assert len(invitees(event)) == 4


def fifty_rows_with_three_bad():
    rows = [SWEDISH_HEADER]
    for n in range(1, 51):
        rows.append([f"Person {n}", f"person{n}@example.se", "Skellefteå kommun", "official", "sv"])
    rows[7][1] = "person7(at)example.se"  # line 8
    rows[20][3] = "borgmästare"  # line 21
    rows[41][1] = "PERSON3@example.se"  # line 42, the same address as line 4
    return rows


def test_fifty_rows_with_three_bad_reports_all_three_and_imports_nothing(event):
    with pytest.raises(InviteeFileError) as caught:
        import_invitees(event, "invitees.csv", csv_bytes(fifty_rows_with_three_bad(), "cp1252", ";"))
    db.session.rollback()
    assert [str(error) for error in caught.value.errors] == [
        "line 8, E-post: 'person7(at)example.se' is not a valid email address: an email address must have an @",
        "line 21, Roll: unknown role 'borgmästare' (the event's roles: 'kso', 'official')",
        "line 42, E-post: 'PERSON3@example.se' is already on line 4",
    ]
    assert db.session.scalar(select(func.count()).select_from(Invitee)) == 0


def test_a_role_for_an_event_without_roles_is_refused_saying_the_event_has_none(app):
    text = re.sub(r"for_roles = .*\n", "", re.sub(r"\[\[roles\]\]\n(?:\w+ = .*\n)*", "", BUNDLED_EVENT.read_text()))
    event = store_event(parse_event(text)).event
    assert event.roles == []
    with pytest.raises(InviteeFileError) as caught:
        import_invitees(event, "x.csv", csv_bytes([SWEDISH_HEADER, PEOPLE[0], PEOPLE[1][:3]]))
    assert caught.value.describe("sv").splitlines()[1:] == [
        "  rad 2, Roll: okänd roll 'KSO': evenemanget har inga roller; lämna kolumnen tom eller ta bort den"]
    assert "line 2, Roll: unknown role 'KSO': the event has no roles; leave the column empty or remove it" \
        in caught.value.describe("en")


def test_cli_reports_every_bad_row_and_imports_nothing(runner, event, tmp_path):
    path = tmp_path / "inbjudna.csv"
    path.write_bytes(csv_bytes(fifty_rows_with_three_bad(), "utf-8-sig", ";"))
    result = runner.invoke(args=["invitees", "import", str(path)])
    assert result.exit_code == 1
    assert "3 errors; nothing was imported" in result.output
    assert "line 8, E-post" in result.output and "line 21, Roll" in result.output and "line 42, E-post" in result.output
    assert db.session.scalar(select(func.count()).select_from(Invitee)) == 0

    rows = fifty_rows_with_three_bad()
    rows[7][1], rows[20][3], rows[41][1] = "person7@example.se", "kso", "person41@example.se"
    path.write_bytes(csv_bytes(rows, "utf-8-sig", ";"))
    result = runner.invoke(args=["invitees", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output == "inbjudna.csv: 50 added, 0 updated, 0 unchanged.\n"


def test_an_address_typed_wrong_is_refused_with_why_in_the_secretariats_language(event):
    data = csv_bytes([["Namn", "E-post"], ["Anna Ek", "Anna Ek <anna.ek@example.se>"], ["Bo Ek", "bo ek@example.se"],
                      ["Cia Ek", "cia@example"], ["Dan Ek", "dan@example.se; dan.ek@example.se"]])
    with pytest.raises(InviteeFileError) as caught:
        import_invitees(event, "x.csv", data)
    assert caught.value.describe("sv").splitlines()[1:] == [
        "  rad 2, E-post: 'Anna Ek <anna.ek@example.se>' är inte en giltig e-postadress: skriv adressen ensam, "
        "utan namn eller < >",
        "  rad 3, E-post: 'bo ek@example.se' är inte en giltig e-postadress: den har tecken som inte kan stå före @: "
        "SPACE",
        "  rad 4, E-post: 'cia@example' är inte en giltig e-postadress: delen efter @ måste ha en punkt, som i "
        "example.se",
        "  rad 5, E-post: 'dan@example.se; dan.ek@example.se' är inte en giltig e-postadress: den har tecken som inte "
        "kan stå efter @: ';', '@', SPACE",
    ]
    assert "'cia@example' is not a valid email address: the part after the @ must have a period, as in example.se" \
        in caught.value.describe("en")


def test_no_slip_in_typing_an_address_is_explained_in_the_librarys_english(event):
    """email_validator words its reasons in English only: for each slip people make typing an address,
    a Swedish secretariat reads OSA's reason in Swedish, never the library's sentence."""
    slips = [".anna@example.se", "anna.@example.se", "anna@.example.se", "anna@-example.se", "anna@example.se-",
             "anna@example-.se", "anna@example..se", "anna@example.se.", "anna@example.123", "anna@[10.0.0.1]",
             "<anna@example.se", "Anna <anna@example.se>", "anna@@example.se", "anna @example.se", "anna@example,se",
             "anna@localhost", "anna@example.local", "@example.se", "anna@", "anna.example.se", '"anna"@example.se',
             "anna@" + "x" * 64 + ".se", "a" * 250 + "@example.se"]
    data = csv_bytes([["Namn", "E-post"], *([f"Person {n}", address] for n, address in enumerate(slips))])
    with pytest.raises(InviteeFileError) as caught:
        import_invitees(event, "x.csv", data)
    lines = caught.value.describe("sv").splitlines()[1:]
    assert len(lines) == len(slips)
    english = [line for line in lines if re.search(r"@-sign|email address|cannot|not valid|allowed", line)]
    assert not english
    assert lines[0].endswith("e-postadress: en e-postadress kan inte börja med en punkt")
    assert lines[5].endswith("e-postadress: en e-postadress kan inte ha en punkt och ett bindestreck bredvid varandra")
    assert lines[8].endswith("e-postadress: delen efter @ måste sluta med en toppdomän, som .se eller .org")


def test_what_a_paste_brings_unseen_is_dropped_and_the_address_imports(event):
    """An address copied from a web page or a mail program often carries a zero-width space or a byte
    order mark: nobody can see it, so nobody could mend it; OSA drops it. Another invisible character
    is refused, named, in the reader's language."""
    data = csv_bytes([["Namn", "E-post"], ["Anna Ek", "\u200banna@example.se"], ["Bo\u2060 Ek", "bo@example.se\ufeff"]])
    import_invitees(event, "x.csv", data)
    db.session.commit()
    assert [(name, email) for name, email, *_ in invitees(event)] == [("Anna Ek", "anna@example.se"),
                                                                      ("Bo Ek", "bo@example.se")]
    with pytest.raises(InviteeFileError) as caught:
        import_invitees(event, "x.csv", csv_bytes([["Namn", "E-post"], ["Cia Ek", "cia@example.se\u200e"]]))
    assert caught.value.describe("sv").splitlines()[1].endswith(
        "är inte en giltig e-postadress: den har tecken som inte syns eller inte kan stå i en adress: "
        "LEFT-TO-RIGHT MARK")


def test_control_characters_and_line_breaks_in_a_field_are_refused(event):
    data = (
        'Namn,E-post,Kommun\r\n'
        '"Åsa\nÖberg",asa@example.se,Skellefteå\r\n'
        'Bo Ek,bo@example.se,"Ume\x07å"\r\n'
        'Cia Ek,cia@example.se,Umeå\r\n'
    ).encode()
    with pytest.raises(InviteeFileError) as caught:
        import_invitees(event, "x.csv", data)
    assert [str(error) for error in caught.value.errors] == [
        "line 2, Namn: contains a line break or another control character",
        "line 4, Kommun: contains a line break or another control character",
    ]


def test_missing_columns_and_unknown_language(event):
    with pytest.raises(InviteeFileError) as caught:
        import_invitees(event, "x.csv", b"Namn,Kommun\r\nBo Ek,Ume\xc3\xa5\r\n")
    missing = caught.value.errors[0]
    assert str(missing).startswith("line 1: no column for the email address; the header row must have one of 'e-post'")
    assert missing.describe("sv").startswith("rad 1: ingen kolumn för e-postadressen; rubrikraden måste ha en av 'e-post'")

    with pytest.raises(InviteeFileError) as caught:
        import_invitees(event, "x.csv", "Namn,E-post,Mail\r\nBo Ek,bo@example.se,bo@example.org\r\n".encode())
    assert caught.value.errors[0].describe("sv") == "rad 1, Mail: en andra kolumn för e-postadressen (den första är 'E-post')"

    with pytest.raises(InviteeFileError) as caught:
        import_invitees(event, "x.csv", "Namn,E-post,Språk\r\nBo Ek,bo@example.se,finska\r\n".encode())
    assert [str(e) for e in caught.value.errors] == ["line 2, Språk: unknown language 'finska' (use sv or en)"]
    # A system's export writes locales: their language is what counts.
    data = "Namn,E-post,Språk\r\nBo Ek,bo@example.se,sv-SE\r\nCy Ek,cy@example.org,en_GB\r\n".encode()
    assert str(import_invitees(event, "x.csv", data)) == "2 added, 0 updated, 0 unchanged"
    db.session.commit()
    assert [(name, language) for name, *_, language in invitees(event)] == [("Bo Ek", "sv"), ("Cy Ek", "en")]
    with pytest.raises(InviteeFileError) as caught:
        import_invitees(event, "x.csv", "Namn,E-post,Språk\r\nBo Ek,bo@example.se,fi-FI\r\n".encode())
    assert [str(e) for e in caught.value.errors] == ["line 2, Språk: unknown language 'fi-FI' (use sv or en)"]


def zip_of(**entries: str) -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as written:
        for name, text in entries.items():
            written.writestr(name.replace("__", "/"), text)
    return archive.getvalue()


def test_files_that_are_not_invitee_lists(event):
    """Each says what the file is and what to do, in OSA's words (the libraries' reasons are English only)."""
    workbook = xlsx_bytes([["Namn", "E-post"], ["Anna Ek", "anna@example.se"]])
    never_closed = csv_bytes([["Namn", "E-post"], *([f"Person {n}", f"p{n}@example.se"] for n in range(6000))])
    never_closed = never_closed.replace(b"Person 3,", b'"Person 3,', 1)
    for name, data, message in [
        ("old.xls", b"\xd0\xcf\x11\xe0" + b"\0" * 100, "this is an old Excel .xls file, or a workbook protected with a "
                                                       "password; save it as .xlsx without a password, or as CSV"),
        ("fake.xlsx", b"Namn,E-post\r\n", "the file is named .xlsx but is not an Excel workbook"),
        ("lista.ods", zip_of(mimetype="application/vnd.oasis.opendocument.spreadsheet", content_xml="<x/>"),
         "this is an OpenDocument spreadsheet (.ods); save it as .xlsx or CSV (in LibreOffice: Save As)"),
        ("lista.xlsx", zip_of(**{"[Content_Types].xml": "<x/>", "word__document.xml": "<x/>"}),
         "the file cannot be read as an Excel workbook: it is damaged, or another kind of file (such as a Word "
         "document); save the list from Excel as .xlsx or CSV"),
        ("halv.xlsx", workbook[:len(workbook) // 2],
         "the file cannot be read as an Excel workbook: it is damaged, or another kind of file (such as a Word "
         "document); save the list from Excel as .xlsx or CSV"),
        ("lista.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n",
         "this is a PDF, whose rows cannot be read; save the list from Excel as .xlsx or CSV"),
        ("citat.csv", never_closed, "a cell here never ends: a quotation mark (\") opens it and none closes it"),
        ("rad1.csv", b'"' + b"x" * 200_000 + b"\nNamn;E-post\n",
         "a cell here never ends: a quotation mark (\") opens it and none closes it"),
        ("unicode.txt", csv_bytes([["Namn", "E-post"], ["Anna Ek", "anna@example.se"]], "utf-16", "\t")[:-1],
         "the file is not whole UTF-16 text (Excel's \"Unicode text\"): it may be cut short; save it again, or as "
         "CSV UTF-8"),
        ("empty.csv", b"\r\n\r\n", "the file is empty: it needs a header row and at least one invitee"),
        ("header.csv", b"Namn;E-post\r\n", "the file has a header row but no invitees"),
    ]:
        with pytest.raises(InviteeFileError) as caught:
            import_invitees(event, name, data)
        assert [e.message for e in caught.value.errors] == [message], name
        if name == "citat.csv":  # where the cell begins
            assert [e.line for e in caught.value.errors] == [5]
    assert db.session.scalar(select(func.count()).select_from(Invitee)) == 0


@pytest.mark.both_backends
def test_reimporting_changes_nothing_and_a_changed_row_updates_that_invitee(event):
    data = csv_bytes([SWEDISH_HEADER, *PEOPLE], "utf-8-sig", ";")
    import_invitees(event, "a.csv", data)
    db.session.commit()
    stamps = db.session.execute(select(Invitee.id, Invitee.updated_at).order_by(Invitee.id)).all()

    again = import_invitees(event, "a.csv", data)
    db.session.commit()
    assert str(again) == "0 added, 0 updated, 3 unchanged"
    assert db.session.execute(select(Invitee.id, Invitee.updated_at).order_by(Invitee.id)).all() == stamps

    changed = [row[:] for row in PEOPLE]
    changed[1][2] = "Nyköpings kommun"
    changed[2][1] = "JOHN.SMITH@example.org"  # the same person, written in capitals
    result = import_invitees(event, "a.csv", csv_bytes([SWEDISH_HEADER, *changed], "utf-8-sig", ";"))
    db.session.commit()
    assert str(result) == "0 added, 2 updated, 1 unchanged"
    assert [row[2] for row in invitees(event)] == ["Skellefteå kommun", "Nyköpings kommun", "Sandvikens kommun"]
    assert db.session.scalar(select(func.count()).select_from(Invitee)) == 3


@pytest.mark.both_backends
def test_ten_thousand_rows_in_one_transaction(event):
    rows = [ENGLISH_HEADER] + [
        [f"Invitee {n}", f"invitee{n}@example.se", f"Kommun {n % 290}", "official", "sv"] for n in range(10_000)
    ]
    bad = rows + [["Invitee X", "not-an-address", "Kommun", "official", "sv"]]
    with pytest.raises(InviteeFileError) as caught:
        import_invitees(event, "big.csv", csv_bytes(bad))
    db.session.rollback()
    assert [e.line for e in caught.value.errors] == [10_002]
    assert db.session.scalar(select(func.count()).select_from(Invitee)) == 0

    result = import_invitees(event, "big.csv", csv_bytes(rows))
    db.session.commit()
    assert result.created == 10_000
    assert db.session.scalar(select(func.count()).select_from(Invitee)) == 10_000


def test_reimporting_a_removed_invitee_puts_them_back_in_line_for_the_seat_given_away(runner, event, tmp_path):
    bus = db.session.scalar(select(TransportOption).where(TransportOption.key == "bus"))
    bus.capacity = 1
    db.session.commit()
    path = tmp_path / "inbjudna.csv"
    path.write_bytes(csv_bytes([SWEDISH_HEADER, *PEOPLE], "utf-8-sig", ";"))
    assert runner.invoke(args=["invitees", "import", str(path)]).exit_code == 0
    asa, marta, _ = db.session.scalars(select(Invitee).order_by(Invitee.id))
    for person in (asa, marta):  # Åsa takes the seat, Märta waits for it
        with write_transaction():
            save_answer(person, Answer(days={"day1": DayAnswer(True, "bus"), "day2": DayAnswer(False)}))
    with write_transaction():
        moved_up = take_off_list(asa)
    assert [change.invitee_id for change in moved_up] == [marta.id]

    result = runner.invoke(args=["invitees", "import", str(path)])
    assert result.output == "inbjudna.csv: 0 added, 1 updated, 2 unchanged.\n"
    db.session.rollback()
    waiting = dict(db.session.execute(
        select(Response.invitee_id, ResponseDay.transport_waitlisted_at.is_not(None))
        .join(Response, Response.id == ResponseDay.response_id)
        .where(ResponseDay.transport_option_id == bus.id)
    ).all())
    assert waiting == {asa.id: True, marta.id: False}
    assert db.session.get(Invitee, asa.id).removed_at is None
    told = db.session.scalars(select(Outbox).where(Outbox.invitee_id == asa.id)).all()
    assert [email.kind for email in told] == ["confirmation"]
    assert "Du står på listan igen" in told[0].body_text


def test_an_address_with_letters_outside_ascii_before_the_at_is_refused_at_import(event):
    rows = [SWEDISH_HEADER, *PEOPLE]
    rows[1] = ["Åsa Öberg", "åsa.öberg@example.se", "Skellefteå kommun", "KSO", "sv"]
    with pytest.raises(InviteeFileError) as caught:
        import_invitees(event, "inbjudna.csv", csv_bytes(rows, "utf-8-sig", ";"))
    db.session.rollback()
    assert [str(error) for error in caught.value.errors] == [
        "line 2, E-post: 'åsa.öberg@example.se' cannot be sent to: letters such as åö before the @ are not possible "
        "in an email address OSA sends to; ask the invitee for another address",
    ]
    assert [e.message_in("sv") for e in caught.value.errors] == [
        "'åsa.öberg@example.se' går inte att skicka till: bokstäver som åö före @ går inte i en e-postadress som "
        "OSA skickar till; be den inbjudna om en annan adress",
    ]
    assert db.session.scalar(select(func.count()).select_from(Invitee)) == 0


def test_a_write_refuses_changes_made_outside_it_and_keeps_nothing_of_one_that_fails(app, event):
    anna = add_invitee(event)
    organisation = anna.organisation
    anna.name = "Changed outside any write"
    with pytest.raises(PendingChanges), write_transaction():
        pass
    db.session.rollback()
    assert db.session.get(Invitee, anna.id).name == "Anna Andersson"

    with pytest.raises(InviteeFileError), write_transaction():
        db.session.get(Invitee, anna.id).organisation = "Half-written"
        db.session.flush()
        raise InviteeFileError([])
    assert db.session.get(Invitee, anna.id).organisation == organisation
    with write_transaction():  # the failed one left nothing behind that would stop the next
        db.session.get(Invitee, anna.id).organisation = "Umeå kommun"
    db.session.expire_all()
    assert db.session.get(Invitee, anna.id).organisation == "Umeå kommun"


@pytest.mark.slow
def test_someone_added_while_a_file_is_imported_is_updated_by_it_and_no_address_reaches_the_log(
    pg_app, redis_url, postgres_url, tmp_path
):
    """The secretariat adds Märta in the admin at the moment a worker stores a file that has her too (or
    uploads the same file twice). The import waits for that, takes her as known, and finishes at once;
    before, it failed on the address being taken, sat "saving" for ten minutes, and its worker wrote
    her address to the log."""
    pg_app.config.update(BROKER_URL=redis_url, REDIS_URL=redis_url)
    pg_app.extensions["celery"].conf.broker_url = redis_url
    event = store_event(read_event_file(BUNDLED_EVENT)).event
    db.session.commit()
    add_admin()
    client = sign_in(pg_app.test_client())
    worker_log = tmp_path / "worker.log"
    with Session(db.engine) as other, stopped_after([start_worker_process(pg_app, log=worker_log)]):
        other.add(Invitee(event_id=event.id, name="Märta Ängström", email="marta@example.se",
                          email_key="marta@example.se", language="sv"))  # the admin's form, in a transaction of its own
        other.flush()
        page = client.get("/admin/import")
        response = client.post("/admin/import", data={
            "csrf_token": csrf_token(page),
            "file": (io.BytesIO(csv_bytes([SWEDISH_HEADER, *PEOPLE], "utf-8-sig", ";")), "inbjudna.csv")},
            content_type="multipart/form-data")
        wait_for(lambda: waiting_on_a_lock(postgres_url), 60, "the import to meet Märta's row")
        other.commit()
        result = import_finished(client, response)
    assert "inbjudna.csv: 2 tillagda, 1 uppdaterade, 0 oförändrade." in result
    db.session.rollback()
    assert sorted(invitees(event)) == sorted(EXPECTED)
    logged = worker_log.read_text()
    assert "example" not in logged and "Märta" not in logged and "Traceback" not in logged


@pytest.mark.both_backends
def test_a_later_list_without_some_columns_adds_its_new_people_and_leaves_what_it_does_not_say(event):
    """The main list gave everyone a role, a language and an organisation; a later list of names and
    addresses alone, from an association, has some of the same people. Their role (which decides their
    programme), language and organisation stay as they were."""
    import_invitees(event, "kommunerna.csv", csv_bytes([SWEDISH_HEADER, *PEOPLE], "utf-8-sig", ";"))
    db.session.commit()
    later = [["Namn", "E-post"], ["John Smith", "john.smith@example.org"], ["Märta Ängström", "marta@example.se"],
             ["Nils Nyberg", "nils@example.se"]]
    result = import_invitees(event, "foreningen.csv", csv_bytes(later, "utf-8-sig", ";"))
    db.session.commit()
    assert str(result) == "1 added, 0 updated, 2 unchanged"
    assert invitees(event) == [*EXPECTED, ("Nils Nyberg", "nils@example.se", "", None, "sv")]

    renamed = [["Namn", "E-post", "Roll"], ["Märta Ängström-Berg", "marta@example.se", "KSO"]]
    result = import_invitees(event, "rättelse.csv", csv_bytes(renamed, "utf-8-sig", ";"))
    db.session.commit()
    assert str(result) == "0 added, 1 updated, 0 unchanged"
    assert invitees(event)[1] == ("Märta Ängström-Berg", "marta@example.se", "Oxelösunds kommun", "kso", "sv")
