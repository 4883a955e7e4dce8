"""Pages everyone can use: every page an invitee, the hotel or the secretariat sees passes axe-core's
WCAG 2.0/2.1 A and AA rules in Swedish and English, at 1280 and 320 px, and reflows at 320 and
375 px with no sideways scroll; the answer form works by keyboard alone."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from sqlalchemy import select

from service.answers import Answer, DayAnswer, save_answer
from service.db import write_transaction
from service.extensions import db
from service.headcount import hotel_numbers
from service.links import hotel_url, make_token
from service.mail.compose import queue_invitation
from service.models import Actor, Invitee, JobRun, Outbox

from .conftest import ADMIN_PASSWORD, add_admin, add_invitee, link_path

pytestmark = pytest.mark.slow

WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
        "resultTypes": ["violations"]}
AXE = Axe()


def violations(page) -> list[str]:
    """axe-core's WCAG A/AA violations on the page, one line each with where."""
    results = AXE.run(page, options=WCAG)
    return [f"{v['id']}: {node['target']} {node.get('failureSummary', '')[:160]}"
            for v in results.response["violations"] for node in v["nodes"]]


def too_wide(page) -> int | None:
    width = page.evaluate("document.documentElement.scrollWidth")
    return width if width > page.viewport_size["width"] else None


def check(page, problems: dict, name: str) -> None:
    found = violations(page)
    wide = too_wide(page)
    # Every page: a language, a skip link to the one main landmark, and one h1.
    shape = page.evaluate("""[document.documentElement.lang, document.querySelectorAll('a.skip[href="#main"]').length,
                             document.querySelectorAll('main#main').length, document.querySelectorAll('h1').length]""")
    if found or wide or shape[0] not in ("sv", "en") or shape[1:] != [1, 1, 1]:
        problems[name] = {"axe": found, "scrollWidth": wide, "lang, skip, main, h1": shape}


def answered(event, person, comment="Hej", by=Actor.INVITEE, **extra):
    with write_transaction():
        save_answer(db.session.get(Invitee, person.id), Answer(
            days={"day1": DayAnswer(True, "airport", flight_number="SK 2014", flight_arrival=dt.time(9, 5)),
                  "day2": DayAnswer(True)},
            meals={"lunch-day1", "dinner-day1"}, diets={"vegetarian"}, allergies="Nötter", comment=comment,
            hotel_nights={"night-25"}, **extra), actor=by, actor_name="sekretariatet" if by == Actor.ADMIN else "")


@pytest.fixture
def people(before_deadline, event):
    anna = add_invitee(event, "Anna Andersson", "anna.andersson@example.se")
    bo = add_invitee(event, "Bo Berg", "bo.berg@example.se", "official", "en")
    answered(event, bo)
    with write_transaction():
        queue_invitation(db.session.get(Invitee, anna.id))
    add_admin()
    return anna, bo


def invitee_pages(page, base: str, event, anna, bo, language: str):
    """(name, how to get there) for each state of the invitee's pages."""
    lang = f"?lang={language}"
    yield "answer-empty", lambda: page.goto(base + link_path(anna) + lang)

    def with_errors():
        page.goto(base + link_path(anna) + lang)
        page.locator("fieldset.day[data-day=day1] input[value=yes]").check()
        page.locator("fieldset.day[data-day=day1] input[value=airport]").check()
        page.locator("form.answer button[type=submit]").click()
        page.wait_for_selector(".error-summary")
        page.wait_for_load_state()

    yield "answer-errors", with_errors
    yield "answer-filled", lambda: page.goto(base + link_path(bo) + lang)

    def changed_meanwhile():
        page.goto(base + link_path(bo) + lang)
        answered(event, bo, comment=f"Ändrat av sekretariatet ({language})", by=Actor.ADMIN)
        page.locator("form.answer button[type=submit]").click()
        page.wait_for_selector(".error-summary")
        page.wait_for_load_state()

    yield "answer-changed-meanwhile", changed_meanwhile

    def asked_to_confirm_a_decline():
        page.goto(base + link_path(anna) + lang)
        page.locator("form.decline button").click()
        page.wait_for_selector("input[name=confirmed]", state="attached")

    yield "decline-confirm", asked_to_confirm_a_decline

    def declined():
        asked_to_confirm_a_decline()
        page.locator("form.decline button").click()
        page.wait_for_url(re.compile(r"/thanks"))

    yield "declined", declined
    yield "answer-declined", lambda: page.goto(base + link_path(anna) + lang)
    yield "thanks", lambda: page.goto(base + link_path(bo) + "/thanks" + lang)
    yield "data", lambda: page.goto(base + link_path(bo) + "/data" + lang)
    yield "opt-out", lambda: page.goto(base + f"/r/{make_token(bo, 'optout')}/no-reminders" + lang)
    yield "bad-link", lambda: page.goto(base + "/r/not-a-token" + lang)
    yield "accessibility", lambda: page.goto(base + "/r/accessibility" + lang)
    yield "hotel", lambda: page.goto(base + hotel_url(event).removeprefix("http://osa.example.se") + lang)


def admin_pages(page, base: str, event, anna, bo, language: str):
    """(name, how to get there) for every admin page, signed in, in `language`."""
    yield "login", lambda: page.goto(base + "/admin/login")

    def sign_in():
        page.fill("#username", "sekretariatet")
        page.fill("#password", ADMIN_PASSWORD)
        page.locator("form button[type=submit]").click()
        page.wait_for_url(re.compile(r"/admin/$"))
        if language == "en":
            page.locator("form[action='/admin/language/en'] button").click()
            page.wait_for_url(re.compile(r"/admin/$"))

    yield "dashboard", sign_in
    row = db.session.scalar(select(Outbox.id).limit(1))
    for path in ("/admin/invitees", f"/admin/invitees/{anna.id}", f"/admin/invitees/{bo.id}", "/admin/invitees/new",
                 f"/admin/invitees/{anna.id}/answer", f"/admin/invitees/{anna.id}/address",
                 f"/admin/invitees/{anna.id}/details",
                 f"/admin/invitees/{anna.id}/erase", "/admin/import", "/admin/send", "/admin/previews",
                 "/admin/previews/invitation/sv", "/admin/mail", f"/admin/mail/{row}", "/admin/lists",
                 "/admin/lists/day/day1", "/admin/lists/meal/lunch-day1", "/admin/lists/transport/airport",
                 "/admin/lists/rooms", "/admin/hotel", "/admin/privacy",
                 "/admin/event"):
        yield path, (lambda path=path: page.goto(base + path))


@pytest.mark.parametrize("width", [1280, 375, 320])
def test_every_page_passes_the_wcag_audit_and_reflows(before_deadline, browser, live_server, event, people, width):
    anna, bo = people
    event.hotel_names = True  # the hotel's page with its rooming list
    db.session.add(JobRun(job="hotel-final", event_id=event.id, scheduled_for=event.final_numbers_at, state="done",
                          emails=1, numbers=hotel_numbers(event)))
    db.session.commit()
    problems: dict = {}
    checked = 0
    for language in ("sv", "en"):
        context = browser.new_context(viewport={"width": width, "height": 900}, locale="sv-SE" if language == "sv" else "en-GB")
        page = context.new_page()
        for name, go in [*invitee_pages(page, live_server.url, event, anna, bo, language),
                         *admin_pages(page, live_server.url, event, anna, bo, language)]:
            go()
            check(page, problems, f"{name} {language} {width}")
            checked += 1
        context.close()
    # After the deadline the answer page is read-only.
    before_deadline.move_to(event.rsvp_deadline + dt.timedelta(hours=1))
    for language in ("sv", "en"):
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        page.goto(live_server.url + link_path(bo) + f"?lang={language}")
        assert page.locator(".notice").count() == 1
        check(page, problems, f"answer-closed {language} {width}")
        checked += 1
        context.close()
    print(f"\n{checked} page/language combinations checked at {width} px")
    assert problems == {}


FOCUSED = "(() => { const e = document.activeElement; return e ? (e.id || e.name || e.className || e.tagName) : ''; })()"
FOCUS_SHOWN = """(() => { const e = document.activeElement; if (!e || e === document.body) return false;
  const s = getComputedStyle(e); return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2; })()"""


def tab_to(page, test: str, limit: int = 80) -> None:
    """Press Tab until `test` (JavaScript about document.activeElement) holds; focus is visible at every step."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        assert page.evaluate(FOCUS_SHOWN), f"no visible focus on {page.evaluate(FOCUSED)}"
        if page.evaluate(f"(() => {{ const e = document.activeElement; return {test}; }})()"):
            return
    raise AssertionError(f"Tab never reached {test}")


def test_the_whole_form_is_answered_by_keyboard_and_an_error_is_reached_from_the_summary(
    before_deadline, browser, live_server, invitee
):
    context = browser.new_context(viewport={"width": 375, "height": 740}, locale="sv-SE")
    page = context.new_page()
    page.goto(live_server.url + link_path(invitee))
    tab_to(page, "e.classList.contains('skip')")  # the first stop skips to the content
    tab_to(page, "e.name === 'day_day1'")
    page.keyboard.press("Space")  # yes, on day 1
    tab_to(page, "e.name === 'transport_day1'")
    while page.evaluate("document.activeElement.value") != "airport":
        page.keyboard.press("ArrowDown")  # the airport pickup, leaving the flight empty
    tab_to(page, "e.name === 'meal_lunch-day1'")
    page.keyboard.press("Space")
    tab_to(page, "e.name === 'day_day2'")
    page.keyboard.press("ArrowDown")  # no, on day 2
    assert page.evaluate("document.activeElement.value") == "no"
    tab_to(page, "e.name === 'allergies'")
    page.keyboard.type("Nötter")
    tab_to(page, "e.type === 'submit' && e.closest('form.answer') !== null")
    page.keyboard.press("Enter")

    page.wait_for_selector(".error-summary")
    page.wait_for_load_state()  # the page's deferred script, which gives the summary the focus, has run
    assert page.evaluate("document.activeElement.classList.contains('error-summary')")  # the summary has the focus
    assert page.locator(".notice").count() == 0  # no "saved" beside "nothing is saved"
    for field in ("flight_number_day1", "flight_arrival_day1"):
        described = page.locator(f"#{field}")
        assert described.get_attribute("aria-invalid") == "true"
        assert described.get_attribute("aria-describedby") == f"{field}-error"
    tab_to(page, "e.getAttribute('href') === '#flight_number_day1'")
    page.keyboard.press("Enter")
    assert page.evaluate(FOCUSED) == "flight_number_day1"  # the link led to the field
    page.keyboard.type("SK 2014")
    tab_to(page, "e.id === 'flight_arrival_day1'")
    page.keyboard.type("9.05")
    tab_to(page, "e.type === 'submit' && e.closest('form.answer') !== null")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/thanks"))
    summary = page.locator("dl.summary").inner_text()
    assert "Ditt flyg SK 2014 landar kl. 09.05." in summary and "Nötter" in summary
    context.close()
