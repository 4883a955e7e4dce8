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
from service.models import Invitee, JobRun, Outbox

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
    if found or wide:
        problems[name] = {"axe": found, "scrollWidth": wide}


def answered(event, person, **extra):
    with write_transaction():
        save_answer(db.session.get(Invitee, person.id), Answer(
            days={"day1": DayAnswer(True, "airport", flight_number="SK 2014", flight_arrival=dt.time(9, 5)),
                  "day2": DayAnswer(True)},
            meals={"lunch-day1", "dinner-day1"}, diets={"vegetarian"}, allergies="Nötter", comment="Hej",
            hotel_nights={"night-25"}, **extra))


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

    yield "answer-errors", with_errors
    yield "answer-filled", lambda: page.goto(base + link_path(bo) + lang)
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
                 f"/admin/invitees/{anna.id}/erase", "/admin/import", "/admin/send", "/admin/previews",
                 "/admin/previews/invitation/sv", "/admin/mail", f"/admin/mail/{row}", "/admin/lists",
                 "/admin/lists/meal/lunch-day1", "/admin/lists/transport/airport", "/admin/hotel", "/admin/privacy"):
        yield path, (lambda path=path: page.goto(base + path))


@pytest.mark.parametrize("width", [1280, 375, 320])
def test_every_page_passes_the_wcag_audit_and_reflows(browser, live_server, event, people, width):
    anna, bo = people
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
    print(f"\n{checked} page/language combinations checked at {width} px")
    for name, problem in problems.items():
        print(name, problem)
    assert problems == {}
