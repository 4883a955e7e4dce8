"""The secretariat runs the invitations from the admin, in a real browser (Debian's chromium),
with a real Celery worker sending to a real SMTP server."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from service.answers import Answer, DayAnswer, save_answer
from service.db import write_transaction
from service.extensions import db
from service.models import Invitee

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
    errors = page.locator("#import-errors")
    expect(errors).to_contain_text("Filen har fel, så inget importerades")
    expect(errors).to_contain_text("rad 3, e-post: 'bo-at-example.se' är inte en giltig e-postadress")
    page.screenshot(path=shots / "02-import-error.png", full_page=True)

    # Fix it and import.
    bad.write_bytes(BAD_FILE.replace("bo-at-example.se", "bo@example.se").encode("cp1252"))
    page.get_by_role("link", name="Importera en fil till").click()
    page.get_by_label("Fil").set_input_files(bad)
    page.get_by_role("button", name="Importera").click()
    expect(page.locator("#import-result")).to_contain_text("inbjudna.csv: 2 tillagda, 0 uppdaterade, 0 oförändrade.")
    page.get_by_role("link", name="Se de inbjudna").click()
    assert page.locator("#invitees tbody tr").count() == 2

    # Preview the real invitation, for Bo.
    page.get_by_role("link", name="Skicka inbjudningar").click()
    page.get_by_label("Inbjudan till").fill("bo@example")
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
    # The chart of answers over time is drawn: the browser accepts its SVG under the policy it comes with.
    wait_for(lambda: page.locator("img.chart").evaluate("img => img.complete && img.naturalWidth > 0"))
    assert page.locator("#over-time tbody tr").last.locator("td").first.inner_text() == "1"
    # Bo answers meanwhile: the open dashboard refreshes its numbers, the answers over time and the chart.
    bo = db.session.scalar(select(Invitee).where(Invitee.email == "bo@example.se"))
    with write_transaction():
        save_answer(bo, Answer(days={"day1": DayAnswer(True, "own"), "day2": DayAnswer(True)}))
    expect(page.locator("[data-number=attending]")).to_have_text("2", timeout=30_000)
    assert page.locator("#over-time tbody tr").last.locator("td").first.inner_text() == "2"
    assert "coming=2" in page.locator("img.chart").get_attribute("src")
    wait_for(lambda: page.locator("img.chart").evaluate("img => img.complete && img.naturalWidth > 0"))
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


def test_a_large_file_is_imported_by_a_worker_with_its_progress_and_one_too_large_is_refused(
    event, app, redis_url, live_server, browser, tmp_path
):
    from celery.contrib.testing.worker import start_worker

    add_admin()
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(live_server.url + "/admin/import")
    page.get_by_label("Användarnamn").fill("sekretariatet")
    page.get_by_label("Lösenord").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Logga in").click()

    # Over the limit: refused with what to do, nothing read.
    app.config["MAX_UPLOAD_MB"] = 1
    big = tmp_path / "alla.csv"
    big.write_bytes(("namn;e-post\n" + "".join(f"Inbjuden {n};inbjuden{n}@example.se\n" for n in range(40000))).encode())
    page.get_by_label("Fil").set_input_files(big)
    page.get_by_role("button", name="Importera").click()
    assert "större än 1 MB, det mesta importen tar, så den lästes inte och inget importerades" in page.locator("main").inner_text()
    assert "Dela upp den i mindre filer" in page.locator("main").inner_text()

    # 20,000 rows: the page shows the job waiting, then how far the worker has come, then the counts.
    app.config["MAX_UPLOAD_MB"] = 20
    rows = tmp_path / "kommuner.csv"
    rows.write_bytes(("Namn;E-post;Kommun;Roll\n" + "".join(
        f"Inbjuden {n};inbjuden{n}@example.se;Kommun {n % 290};{'kso' if n % 5 == 0 else 'official'}\n"
        for n in range(20000))).encode())
    page.goto(live_server.url + "/admin/import")
    page.get_by_label("Fil").set_input_files(rows)
    page.get_by_role("button", name="Importera").click()
    expect(page.locator("h1")).to_have_text("Import av kommuner.csv")
    expect(page.locator("#import-job")).to_contain_text("Väntar på att en bakgrundsprocess ska börja.")
    seen = []
    with start_worker(app.extensions["celery"], pool="solo", perform_ping_check=False, shutdown_timeout=30):
        result = page.locator("#import-result")
        for _ in range(600):  # what the page shows, each tenth of a second, until the result
            seen.append(page.locator("#import-job").inner_text())
            if result.count():
                break
            page.wait_for_timeout(100)
        expect(result).to_contain_text("kommuner.csv: 20000 tillagda, 0 uppdaterade, 0 oförändrade.", timeout=60000)
    assert seen[0].strip() == "Väntar på att en bakgrundsprocess ska börja."
    page.get_by_role("link", name="Se de inbjudna").click()
    assert "20000" in page.locator("main").inner_text()


def test_the_dashboard_refreshes_its_numbers_only_while_it_is_in_view(event, live_server, browser):
    """A dashboard left open in a background tab asks the server nothing; shown again, it catches up at
    once. Time is Playwright's clock, and the tab's visibility the page's own `document.hidden`."""
    add_admin()
    context = browser.new_context()
    context.add_init_script("Object.defineProperty(document, 'hidden', {get: () => window.osaHidden === true});")
    page = context.new_page()
    page.clock.install()
    asked = []
    page.on("request", lambda request: asked.append(request.url) if request.url.endswith("/admin/numbers") else None)
    page.goto(live_server.url + "/admin/")
    page.get_by_label("Användarnamn").fill("sekretariatet")
    page.get_by_label("Lösenord").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    assert page.locator("h1").inner_text() == "Översikt"

    with page.expect_request("**/admin/numbers"):
        page.clock.run_for(10_000)  # in view: every 10 s
    page.evaluate("window.osaHidden = true; document.dispatchEvent(new Event('visibilitychange'))")
    seen = len(asked)
    page.clock.run_for(60_000)
    page.evaluate("1")  # a round trip: any request the minute made has been reported by now
    assert len(asked) == seen  # hidden for a minute: not one request
    with page.expect_request("**/admin/numbers"):
        page.evaluate("window.osaHidden = false; document.dispatchEvent(new Event('visibilitychange'))")
    context.close()
