"""An invitee on a phone answers through their link, in a real browser (Debian's chromium)."""

import re
from pathlib import Path

import icalendar
import pytest
from sqlalchemy import select

from service.extensions import db
from service.models import Response, ResponseChange

from .conftest import link_path

pytestmark = pytest.mark.slow


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_invitee_answers_on_a_phone_and_finds_the_answer_prefilled(
    before_deadline, live_server, invitee, phone, tmp_path
):
    page = phone
    page.goto(live_server.url + link_path(invitee))
    assert page.locator("h1").inner_text() == "Innovationsmötet med Svenska Industrikommuner"
    assert "torsdag 25 – fredag 26 november 2021" in page.locator(".when-where").inner_text()
    assert page.locator(".greeting").inner_text() == "Hej Anna Andersson!"
    assert no_horizontal_scroll(page)
    page.screenshot(path=tmp_path / "01-answer-page.png", full_page=True)

    day1 = page.locator("fieldset.day[data-day=day1]")
    day1.get_by_label("Ja, jag kommer").check()
    day1.get_by_label(re.compile("Bussen från The Wood Hotel: 09.00")).check()
    day1.get_by_label(re.compile("Middag på hotellet 18.00")).check()
    page.locator("fieldset.day[data-day=day2]").get_by_label("Nej, jag kommer inte").check()
    page.get_by_label("Vegetarisk").check()
    page.get_by_label("Allergier eller andra behov").fill("Nötallergi")
    page.screenshot(path=tmp_path / "02-filled.png", full_page=True)
    page.get_by_role("button", name="Spara mitt svar").click()

    page.wait_for_url(re.compile(r"/thanks"))
    assert page.locator("h2").inner_text() == "Tack, Anna Andersson!"
    summary = page.locator("dl.summary").inner_text()
    assert "Dag 1, torsdag 25 november 2021\nKommer" in summary
    assert "Bussen från The Wood Hotel: kl. 09.00, The Wood Hotel, Torggatan 3" in summary
    assert "Middag på hotellet 18.00" in summary
    assert "Dag 2, fredag 26 november 2021\nKommer inte" in summary
    assert "Vegetarisk" in summary and "Nötallergi" in summary
    assert no_horizontal_scroll(page)
    page.screenshot(path=tmp_path / "03-thanks.png", full_page=True)
    # Day 1, the one day she comes, as a calendar file her phone opens.
    with page.expect_download() as download:
        page.get_by_role("link", name="Lägg till Dag 1, torsdag 25 november 2021 i min kalender").click()
    assert download.value.suggested_filename == "innovationsmotet-2021-2021-11-25.ics"
    entries = icalendar.Calendar.from_ical(Path(download.value.path()).read_bytes()).walk("VEVENT")
    assert [str(entry["UID"]) for entry in entries] == [f"innovationsmotet-2021-day1-{invitee.id}@example.se"]
    assert page.get_by_role("link", name=re.compile("i min kalender")).count() == 1

    page.goto(live_server.url + link_path(invitee))
    day1 = page.locator("fieldset.day[data-day=day1]")
    assert day1.get_by_label("Ja, jag kommer").is_checked()
    assert day1.get_by_label(re.compile("Bussen från The Wood Hotel")).is_checked()
    assert day1.get_by_label(re.compile("Middag på hotellet")).is_checked()
    assert not day1.get_by_label(re.compile("Lunch")).is_checked()
    assert page.locator("fieldset.day[data-day=day2]").get_by_label("Nej, jag kommer inte").is_checked()
    assert page.get_by_label("Vegetarisk").is_checked()
    assert page.get_by_label("Allergier eller andra behov").input_value() == "Nötallergi"
    assert "Ditt svar är sparat" in page.locator(".notice").inner_text()
    page.screenshot(path=tmp_path / "04-prefilled.png", full_page=True)
    assert sorted(tmp_path.glob("*.png"))


def test_invitee_changes_the_answer_to_i_cant_come(before_deadline, live_server, invitee, phone, tmp_path):
    page = phone
    page.goto(live_server.url + link_path(invitee))
    page.locator("fieldset.day[data-day=day1]").get_by_label("Ja, jag kommer").check()
    page.locator("fieldset.day[data-day=day1]").get_by_label(re.compile("Egen väg")).check()
    page.locator("fieldset.day[data-day=day2]").get_by_label("Ja, jag kommer").check()
    page.get_by_role("button", name="Spara mitt svar").click()
    page.wait_for_url(re.compile(r"/thanks"))

    page.get_by_role("link", name="Ändra mitt svar").click()
    page.get_by_label("Allergier eller andra behov").fill("Nötter")
    page.get_by_role("button", name="Spara mitt svar").click()
    page.wait_for_url(re.compile(r"/thanks"))
    page.get_by_role("link", name="Ändra mitt svar").click()
    page.get_by_role("button", name="Jag kan inte komma").click()
    # One tap only asks: nothing is saved until the second button.
    assert "Din kost, dina allergier och din kommentar sparas" in page.locator("main").inner_text()
    db.session.rollback()
    assert len(db.session.scalars(select(ResponseChange)).all()) == 2
    page.get_by_role("button", name="Ja, jag kan inte komma").click()
    page.wait_for_url(re.compile(r"/thanks"))
    assert "du kommer inte" in page.locator(".notice").inner_text()
    assert page.locator("dl.summary").inner_text().count("Kommer inte") == 2
    page.screenshot(path=tmp_path / "declined.png", full_page=True)

    page.goto(live_server.url + link_path(invitee))
    for day in ("day1", "day2"):
        assert page.locator(f"fieldset.day[data-day={day}]").get_by_label("Nej, jag kommer inte").is_checked()
    assert page.get_by_label("Allergier eller andra behov").input_value() == "Nötter"  # kept, for a change of mind
    db.session.rollback()  # end the test's own read transaction to see what the server wrote
    history = db.session.scalars(select(ResponseChange).order_by(ResponseChange.id)).all()
    assert [change.actor for change in history] == ["invitee", "invitee", "invitee"]
    assert history[2].old["days"]["day1"]["transport"] == "own"
    assert (history[2].new["allergies"], history[2].new["diets"]) == ("Nötter", [])
    assert history[2].new["days"]["day1"] == {
        "attending": False, "transport": None, "waitlisted": False, "flight_number": "", "flight_arrival": None,
    }


def test_an_airport_passenger_without_a_flight_gets_the_error_beside_the_field(
    before_deadline, live_server, invitee, phone, tmp_path
):
    page = phone
    page.goto(live_server.url + link_path(invitee))
    day1 = page.locator("fieldset.day[data-day=day1]")
    day1.get_by_label("Ja, jag kommer").check()
    day1.get_by_label(re.compile("Upphämtning på Skellefteå flygplats")).check()
    assert day1.get_by_label("Flightnummer").is_visible()
    page.locator("fieldset.day[data-day=day2]").get_by_label("Nej, jag kommer inte").check()
    page.get_by_role("button", name="Spara mitt svar").click()

    error = page.locator("#flight_number_day1-error")
    assert error.inner_text() == "Skriv ditt flightnummer, till exempel SK 2014."
    assert page.locator("#flight_arrival_day1-error").inner_text() == "Skriv när flyget landar."
    assert no_horizontal_scroll(page)
    page.screenshot(path=tmp_path / "flight-error.png", full_page=True)
    db.session.rollback()
    assert db.session.scalar(select(Response)) is None

    day1.get_by_label("Flightnummer").fill("sk 2014")
    day1.get_by_label("Landar kl.").fill("09:05")
    page.get_by_role("button", name="Spara mitt svar").click()
    page.wait_for_url(re.compile(r"/thanks"))
    assert "Ditt flyg SK 2014 landar kl. 09.05." in page.locator("dl.summary").inner_text()


def test_the_page_works_by_keyboard_alone(before_deadline, live_server, invitee, phone):
    page = phone
    page.goto(live_server.url + link_path(invitee))
    # Every input has a label the browser knows.
    unlabelled = page.evaluate(
        "[...document.querySelectorAll('input:not([type=hidden]), textarea')]"
        ".filter(e => e.labels.length === 0).map(e => e.name)"
    )
    assert unlabelled == []
    page.locator("fieldset.day[data-day=day1] input[value=no]").focus()
    page.keyboard.press("Space")
    page.locator("fieldset.day[data-day=day2] input[value=no]").focus()
    page.keyboard.press("Space")
    page.get_by_role("button", name="Spara mitt svar").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/thanks"))
    assert page.locator("dl.summary").inner_text().count("Kommer inte") == 2
