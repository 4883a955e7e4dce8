"""Event files: the bundled meeting reads back faithfully, and every mistake is named with its key and line."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from flask_babel import force_locale

from service.eventfile import EventFileError, parse_event, read_event_file

from .conftest import BUNDLED_EVENT

UTC = dt.timezone.utc


def bundled_text() -> str:
    return BUNDLED_EVENT.read_text(encoding="utf-8")


def problems_of(text: str) -> list[str]:
    with pytest.raises(EventFileError) as caught:
        parse_event(text, "test.toml")
    return [str(problem) for problem in caught.value.problems]


def line_of(text: str, fragment: str, after: str = "") -> int:
    """1-based line of the first line containing `fragment` (after the line containing `after`)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    return next(i for i, line in enumerate(lines[start:], start) if fragment in line) + 1


def test_bundled_event_has_the_seed_days_times_and_places():
    definition = parse_event(bundled_text())
    assert [day.date for day in definition.days] == [dt.date(2021, 11, 25), dt.date(2021, 11, 26)]
    bus = next(option for option in definition.transport if option.key == "bus")
    # 09.00 in Stockholm in November (CET, UTC+1) is 08.00 UTC.
    assert bus.departs_at == dt.datetime(2021, 11, 25, 8, 0, tzinfo=UTC)
    assert "Torggatan 3" in bus.place
    airport = next(option for option in definition.transport if option.key == "airport")
    assert airport.asks_flight and airport.approximate
    assert airport.departs_at == dt.datetime(2021, 11, 25, 8, 30, tzinfo=UTC)
    meals = {meal.key: meal.starts_at for meal in definition.meals}
    assert meals["lunch-day1"] == dt.datetime(2021, 11, 25, 11, 0, tzinfo=UTC)
    assert meals["dinner-day1"] == dt.datetime(2021, 11, 25, 17, 0, tzinfo=UTC)
    assert meals["lunch-day2"] == dt.datetime(2021, 11, 26, 11, 0, tzinfo=UTC)
    talks = [item for item in definition.days[1].items if item.for_roles]
    assert {tuple(item.for_roles) for item in talks} == {("kso",), ("official",)}


def test_bundled_event_has_no_real_addresses():
    definition = parse_event(bundled_text())
    addresses = [
        definition.fields[key] for key in ("sender_email", "reply_to", "secretariat_email", "hotel_email")
    ] + [contact.email for contact in definition.contacts]
    assert addresses and all(address.endswith(("@example.se", "@example.org")) for address in addresses)
    assert "@" not in bundled_text().replace("@example.se", "").replace("@example.org", "")


def test_unknown_key_is_named_with_its_line():
    text = bundled_text().replace('venue = "The Wood Hotel"', 'venue = "The Wood Hotel"\nvenu = "typo"', 1)
    line = line_of(text, "venu = ")
    assert problems_of(text) == [
        f"line {line}: event.venu: unknown key 'venu' (known keys: address, address_en, description, description_en, "
        "final_numbers_at, id, language, name, name_en, organiser, rsvp_deadline, timezone, venue)"
    ]


def test_unknown_key_inside_an_agenda_item():
    text = bundled_text().replace('title = "Kaffepaus"', 'title = "Kaffepaus"\nspeaker = "Nobody"', 1)
    line = line_of(text, 'speaker = "Nobody"')
    (problem,) = problems_of(text)
    assert problem.startswith(f"line {line}: days[0].items[7].speaker: unknown key 'speaker'")


def test_missing_key_names_the_table_and_its_line():
    text = bundled_text().replace('timezone = "Europe/Stockholm"\n', "", 1)
    assert problems_of(text) == [f"line {line_of(text, '[event]')}: event: missing key 'timezone'"]


def test_missing_table():
    text = bundled_text()
    start = text.index("[hotel]")
    end = text.index("[[contacts]]")
    assert problems_of(text[:start] + text[end:]) == ["missing table [hotel]"]


def test_duplicate_id():
    text = bundled_text().replace('id = "coffee-day2"', 'id = "coffee-day1"', 1)
    line = line_of(text, 'id = "coffee-day1"', after='time = 18:00:00')
    assert problems_of(text) == [
        f"line {line}: meals[3].id: duplicate id 'coffee-day1' (already used by meals[1])"
    ]


def test_meal_on_a_day_that_does_not_exist():
    text = bundled_text().replace('id = "lunch-day2"\nday = "day2"', 'id = "lunch-day2"\nday = "day3"', 1)
    line = line_of(text, 'day = "day3"')
    assert problems_of(text) == [
        f"line {line}: meals[4].day: meal on day 'day3', which does not exist (days: 'day1', 'day2')"
    ]


def test_hotel_night_outside_the_event_days():
    text = bundled_text().replace("date = 2021-11-25\ncapacity = 60", "date = 2021-11-26\ncapacity = 60", 1)
    line = line_of(text, "date = 2021-11-26", after='id = "night-25"')
    assert problems_of(text) == [
        f"line {line}: hotel_nights[1].date: the night of 2021-11-26 is outside the event days "
        "(nights: 2021-11-24, 2021-11-25)"
    ]


def test_deadline_after_the_event_has_started():
    text = bundled_text().replace("rsvp_deadline = 2021-11-15T12:00:00", "rsvp_deadline = 2021-11-25T10:00:00", 1)
    assert problems_of(text) == [
        f"line {line_of(text, 'rsvp_deadline')}: event.rsvp_deadline: 2021-11-25 10:00 is not before "
        "the event starts (2021-11-25)"
    ]


def test_agenda_item_that_ends_before_it_starts():
    text = bundled_text().replace("start = 14:40:00\nend = 15:15:00", "start = 14:40:00\nend = 14:30:00", 1)
    line = line_of(text, "end = 14:30:00")
    assert problems_of(text) == [
        f"line {line}: days[0].items[6].end: ends at 14:30, not after its start at 14:40"
    ]


def test_wrong_kind_of_value():
    text = bundled_text().replace("capacity = 50", 'capacity = "fifty"', 1)
    line = line_of(text, 'capacity = "fifty"')
    assert problems_of(text) == [f"line {line}: transport[0].capacity: must be a whole number, not 'fifty'"]


def test_unknown_role_in_an_agenda_item():
    text = bundled_text().replace('for_roles = ["kso"]', 'for_roles = ["mayor"]', 1)
    line = line_of(text, 'for_roles = ["mayor"]')
    assert problems_of(text) == [f"line {line}: days[1].items[2].for_roles: unknown role 'mayor' (roles: kso, official)"]


def test_unknown_timezone_and_bad_email_are_both_reported():
    text = bundled_text().replace('"Europe/Stockholm"', '"Europe/Skelleftea"', 1)
    text = text.replace('email = "osa@example.se"', 'email = "osa.example.se"', 1)
    problems = problems_of(text)
    assert len(problems) == 2
    assert problems[0].startswith(f"line {line_of(text, 'osa.example.se')}: sender.email: 'osa.example.se' is not a valid email address")
    assert problems[1] == (
        f"line {line_of(text, 'Europe/Skelleftea')}: event.timezone: unknown timezone 'Europe/Skelleftea' "
        "(use an IANA name such as Europe/Stockholm)"
    )


def test_the_address_mail_is_sent_from_is_kept_as_smtp_carries_it_and_one_it_cannot_is_refused():
    text = bundled_text().replace('email = "osa@example.se"', 'email = "osa@håbo.se"', 1)
    assert parse_event(text).fields["sender_email"] == "osa@xn--hbo-ula.se"
    text = bundled_text().replace('email = "osa@example.se"', 'email = "åsa@example.se"', 1)
    assert problems_of(text) == [f"line {line_of(text, 'åsa@example.se')}: sender.email: 'åsa@example.se' has "
                                 "letters outside ASCII before the @, which OSA cannot send from"]


def test_a_control_character_in_any_text_is_named_before_anything_is_stored():
    text = bundled_text().replace('description = """', 'description = """Nul\\u0000 här. ', 1)
    text = text.replace('name = "Innovationsmötet', 'name = "\\u202eInnovationsmötet', 1)
    assert problems_of(text) == [
        f"line {line_of(text, 'name = ')}: event.name: must be one line without control characters",
        f"line {line_of(text, 'description = ')}: event.description: holds a control character (U+0000), "
        "which cannot be stored",
    ]


def test_a_file_saved_by_notepad_with_a_byte_order_mark_loads_and_one_in_ansi_is_refused_at_its_line(tmp_path):
    saved = tmp_path / "event.toml"
    saved.write_bytes(b"\xef\xbb\xbf" + bundled_text().encode("utf-8"))
    assert read_event_file(saved).fields["name"] == "Innovationsmötet med Svenska Industrikommuner"
    saved.write_bytes(bundled_text().encode("cp1252"))  # "ANSI": refused, at the line of the first ö
    with pytest.raises(EventFileError) as refused:
        read_event_file(saved)
    assert [str(problem) for problem in refused.value.problems] == [
        f"line {line_of(bundled_text(), 'Innovationsmötet')}: not UTF-8 text: save the file as UTF-8"]


def test_not_toml_at_all():
    (problem,) = problems_of('[event]\nname = "unterminated\n')
    assert problem == ('line 2: not valid TOML at column 21: a text in quotes is not closed on its line: end it with " '
                       '(or write one of several lines between """ and """)')


def test_a_slip_in_the_toml_is_named_at_its_line_and_column_in_the_secretariats_language(app):
    """tomllib says what is wrong in English only: the secretariat, who edits the file by hand, reads
    it in Swedish, with where and how to mend it."""
    slips = {
        "name = Innovationsmötet": "vid kolumn 8: ett värde som TOML inte kan läsa: text skrivs inom citattecken",
        'name = "Innovationsmötet': "vid kolumn 25: en text inom citattecken avslutas inte på sin rad",
        'name = "a"\nname = "b"': "rad 3: inte giltig TOML vid kolumn 11: den här nyckeln står två gånger: behåll en",
        "date = 2021-11-31": "vid kolumn 8: datumet eller tiden finns inte",
        "start = 09.00": "vid kolumn 10: något står efter värdet på raden",
        'name "a"': "vid kolumn 6: en nyckel behöver = och ett värde efter sig",
        '[[days]\nkey = "x"': "vid kolumn 7: rubriken saknar sitt avslutande ]]",
        'speakers = ["a", "b"\nx = 1': "rad 3: inte giltig TOML vid kolumn 1: en lista [ … ] avslutas inte med ]",
        'path = "C:\\Users"': "ett \\ i en text inom dubbla citattecken inleder en kod",
        'name = "a\x07"': "ett tecken som inte kan stå i en text",
        '[event]\nslug = "b"': "rad 2: inte giltig TOML vid kolumn 7: den här rubriken står två gånger",
    }
    with force_locale("sv"):
        for slip, said in slips.items():
            (problem,) = problems_of(f"[event]\n{slip}\n")
            assert problem.startswith("rad ") and said in problem, (slip, problem)
            assert not re.search(r"[Ee]xpected|[Ii]nvalid|[Ii]llegal|[Cc]annot|\(at line", problem), problem


def test_times_in_summer_time_are_converted_with_the_right_offset():
    text = bundled_text().replace("2021-11-", "2021-06-")
    definition = parse_event(text)
    bus = next(option for option in definition.transport if option.key == "bus")
    # June is CEST, UTC+2.
    assert bus.departs_at == dt.datetime(2021, 6, 25, 7, 0, tzinfo=UTC)


def test_moving_the_event_by_whole_weeks_keeps_weekdays_and_local_times():
    from service.eventfile import dates_to_keep_clear, weeks_ahead

    dates = dates_to_keep_clear(bundled_text())  # the two days, the RSVP deadline, the final numbers
    assert dates == [dt.date(2021, 11, 25), dt.date(2021, 11, 26), dt.date(2021, 11, 15), dt.date(2021, 11, 18)]
    move = weeks_ahead(dates, dt.date(2026, 11, 27), 14)
    assert move % 7 == 0
    definition = parse_event(bundled_text(), move_days=move)
    first = definition.days[0].date
    assert first.weekday() == 3  # a Thursday, like 25 November 2021
    assert dt.date(2026, 12, 11) <= first < dt.date(2026, 12, 18)
    bus = next(option for option in definition.transport if option.key == "bus")
    assert bus.departs_at.astimezone(ZoneInfo("Europe/Stockholm")).time() == dt.time(9, 0)
    assert definition.fields["rsvp_deadline"] < bus.departs_at
    assert weeks_ahead([dt.date(2030, 1, 1)], dt.date(2026, 11, 27), 14) == 0
    # Two weeks from 6 December is Christmas Eve's week, and the first Thursday after the holidays would have
    # its answers due on 28 December: the demo meets when its deadline and final numbers are past them too.
    christmas = weeks_ahead(dates, dt.date(2026, 12, 6), 14)
    assert [date + dt.timedelta(days=christmas) for date in dates] == [
        dt.date(2027, 1, 21), dt.date(2027, 1, 22), dt.date(2027, 1, 11), dt.date(2027, 1, 14)]
    # A course that meets every day for a year can never be clear of the holidays: its first day is.
    year = [dt.date(2021, 11, 25) + dt.timedelta(days=n) for n in range(365)]
    course = weeks_ahead(year, dt.date(2026, 12, 6), 14)
    assert year[0] + dt.timedelta(days=course) == dt.date(2027, 1, 7)


def test_an_event_sets_its_own_retention_and_whether_the_hotel_sees_names():
    bundled = parse_event(bundled_text()).fields
    assert (bundled["hotel_names"], bundled["retention_sensitive_days"], bundled["retention_personal_days"]) == (False, 14, 90)
    text = bundled_text().replace("names = false", "names = true", 1)
    text = text.replace("sensitive_days = 14\npersonal_days = 90", "sensitive_days = 7\npersonal_days = 365", 1)
    fields = parse_event(text).fields
    assert (fields["hotel_names"], fields["retention_sensitive_days"], fields["retention_personal_days"]) == (True, 7, 365)
    text = text.replace("[retention]\nsensitive_days = 7\npersonal_days = 365\n", "", 1).replace("names = true\n", "", 1)
    plain = parse_event(text).fields  # neither given: the settings decide
    assert (plain["hotel_names"], plain["retention_sensitive_days"], plain["retention_personal_days"]) == (False, None, None)


def test_personal_data_cannot_be_kept_for_less_time_than_the_sensitive_details():
    text = bundled_text().replace("sensitive_days = 14\npersonal_days = 90", "sensitive_days = 30\npersonal_days = 10", 1)
    line = line_of(text, "personal_days")
    assert problems_of(text) == [f"line {line}: retention.personal_days: personal data cannot go before the "
                                 "sensitive details: 10 is less than sensitive_days = 30"]


def test_an_organiser_writes_their_own_accessibility_statement():
    text = bundled_text().replace("[[contacts]]", '[accessibility]\nstatement = "Vår text."\nstatement_en = "Our text."\n\n[[contacts]]', 1)
    fields = parse_event(text).fields
    assert (fields["accessibility_statement"], fields["accessibility_statement_en"]) == ("Vår text.", "Our text.")
