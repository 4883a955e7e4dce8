"""The secretariat runs the invitations from the admin, in a real browser (Debian's chromium),
with a real Celery worker sending to a real SMTP server."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import ADMIN_PASSWORD, add_admin
from .support.helpers import wait_for

pytestmark = pytest.mark.slow

BAD_FILE = "namn;e-post;organisation;roll\nAnna Andersson;anna@example.se;Skellefteå kommun;kso\n" \
           "Bo Berg;bo-at-example.se;Luleå kommun;official\n"


def test_the_secretariat_imports_previews_sends_and_answers_for_an_invitee(
    before_deadline, event, mailer, celery_worker, live_server, browser, tmp_path
):
    add_admin()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    shots = tmp_path / "screenshots"

    # Sign in.
    page.goto(live_server.url + "/admin/")
    assert "/admin/login" in page.url
    page.get_by_label("Användarnamn").fill("sekretariatet")
    page.get_by_label("Lösenord").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    assert page.locator("h1").inner_text() == "Översikt"
    assert page.locator("[data-number=invited]").inner_text() == "0"
    page.screenshot(path=shots / "01-dashboard-empty.png", full_page=True)

    # Import a file with an error: the row's error is shown and nothing is imported.
    bad = tmp_path / "inbjudna.csv"
    bad.write_bytes(BAD_FILE.encode("cp1252"))
    page.get_by_role("link", name="Importera", exact=True).click()
    page.get_by_label("Fil").set_input_files(bad)
    page.get_by_role("button", name="Importera").click()
    errors = page.locator("#import-errors").inner_text()
    assert "Filen har 1 fel; ingenting importerades:" in errors
    assert "rad 3, e-post: 'bo-at-example.se' är inte en giltig e-postadress" in errors
    page.screenshot(path=shots / "02-import-error.png", full_page=True)

    # Fix it and import.
    bad.write_bytes(BAD_FILE.replace("bo-at-example.se", "bo@example.se").encode("cp1252"))
    page.get_by_label("Fil").set_input_files(bad)
    page.get_by_role("button", name="Importera").click()
    assert "inbjudna.csv: 2 tillagda, 0 uppdaterade, 0 oförändrade." in page.locator(".notice").inner_text()
    assert page.locator("#invitees tbody tr").count() == 2

    # Preview the real invitation, for Bo.
    page.get_by_role("link", name="Skicka inbjudningar").click()
    page.get_by_label("Inbjudan till").select_option(label="Bo Berg <bo@example.se>")
    page.get_by_role("button", name="Visa").click()
    assert page.locator(".recipient").inner_text() == "bo@example.se"
    assert page.locator(".subject").inner_text().startswith("Inbjudan: Innovationsmötet med Svenska Industrikommuner")
    assert "Hej Bo Berg!" in page.locator(".text-part").inner_text()
    frame = page.frame_locator("iframe.html-part")
    assert "Hej Bo Berg!" in frame.locator("body").inner_text()
    page.screenshot(path=shots / "03-preview.png", full_page=True)

    # Send, and watch the progress reach 100 %.
    page.get_by_role("button", name="Skicka 2 inbjudningar").click()
    assert "2 inbjudningar är på väg." in page.locator(".notice").inner_text()
    expect(page.locator("#progress-text")).to_contain_text("2 av 2 skickade (100 %)", timeout=60_000)
    assert page.locator("#progress-bar").get_attribute("value") == "100"
    page.screenshot(path=shots / "04-sent.png", full_page=True)
    assert sorted(mailer.recipients()) == ["anna@example.se", "bo@example.se"]

    # Open Anna, answer for her: day 1 with the bus and the dinner, not day 2.
    page.get_by_role("link", name="Översikt").click()
    dinner_row = page.locator("#meals tr", has_text="Middag på hotellet")
    assert dinner_row.locator("td").first.inner_text() == "0"
    page.get_by_role("link", name="Inbjudna", exact=True).click()
    page.get_by_role("link", name="Anna Andersson").click()
    page.get_by_role("link", name="Svara för deras räkning").click()
    day1 = page.locator("fieldset.day[data-day=day1]")
    day1.get_by_label("Ja, jag kommer").check()
    day1.get_by_label(re.compile("Bussen från The Wood Hotel")).check()
    day1.get_by_label(re.compile("Middag på hotellet")).check()
    page.locator("fieldset.day[data-day=day2]").get_by_label("Nej, jag kommer inte").check()
    page.screenshot(path=shots / "05-answer-for.png", full_page=True)
    page.get_by_role("button", name="Spara svaret").click()
    assert "Svaret är sparat, och Anna Andersson får en bekräftelse med e-post." in page.locator(".notice").inner_text()
    assert "sekretariatet (sekretariatet) för deras räkning" in page.locator("#history").inner_text()

    # The dashboard has changed.
    page.get_by_role("link", name="Översikt").click()
    assert page.locator("[data-number=attending]").inner_text() == "1"
    assert page.locator("#meals tr", has_text="Middag på hotellet").locator("td").first.inner_text() == "1"
    assert page.locator("#transport tr", has_text="Bussen").locator("td").first.inner_text().startswith("1 / 50")
    page.screenshot(path=shots / "06-dashboard.png", full_page=True)

    # The secretariat on a phone: every page fits the width.
    page.set_viewport_size({"width": 375, "height": 740})
    for link in ("Översikt", "Inbjudna", "Skicka inbjudningar", "E-postlogg", "Listor och export"):
        with page.expect_navigation():
            page.get_by_role("link", name=link, exact=True).click()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (link, page.evaluate(
            "Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right))"))
    page.screenshot(path=shots / "07-phone.png", full_page=True)

    wait_for(lambda: mailer.recipients().count("anna@example.se") == 2)
    confirmation = [m for m in mailer.messages if m.rcpt_tos == ["anna@example.se"]][-1]
    assert "Bekräftelse" in confirmation.message["Subject"]
    assert len(list(shots.glob("*.png"))) == 7
    context.close()
