"""Kept answer pages (service.rsvp.pages): a page opened again is sent as Flask sent
it, without Flask, and never once anything it shows has changed."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask import request_started
from sqlalchemy import select, text

from service.db import db, utcnow
from service.links import issue_new_link, make_token
from service.models import AnswersVersion, TransportOption

from .conftest import add_invitee, link_path
from .support.helpers import csrf_token, database_state, page_text
from .test_rsvp import TABLES, answer_form

pytestmark = pytest.mark.both_backends

STOCKHOLM = dt.timezone(dt.timedelta(hours=1))


@pytest.fixture
def flask_requests(app):
    """How many requests Flask itself has handled (a kept page is sent without it)."""
    seen: list[str] = []

    def count(sender, **extra):
        seen.append("request")

    request_started.connect(count, app)
    yield seen
    request_started.disconnect(count, app)


def opened_twice(client, path: str):
    """Open a link twice: the first from Flask, the second (when kept) from the lane."""
    first = client.get(path)
    return first, client.get(path)


def test_a_page_opened_again_is_sent_as_flask_sent_it_without_flask(before_deadline, app, invitee, flask_requests):
    scanner = app.test_client(use_cookies=False)
    path = link_path(invitee)
    first, again = opened_twice(scanner, path)
    assert len(flask_requests) == 1
    assert again.status_code == first.status_code == 200
    assert again.get_data() == first.get_data()
    assert sorted(again.headers.items()) == sorted(first.headers.items())
    assert again.headers["Cache-Control"] == "no-store"
    assert again.headers["Referrer-Policy"] == "no-referrer"
    assert "Set-Cookie" not in first.headers  # no session: a mail scanner leaves no trace, here either
    assert "Hej Anna Andersson!" in page_text(again)

    head = scanner.head(path)
    assert head.status_code == 200 and head.get_data() == b""
    assert head.headers["Content-Length"] == first.headers["Content-Length"]
    assert len(flask_requests) == 1


@pytest.mark.parametrize("query, greeting", [
    ("", "Hej Anna Andersson!"),
    ("?lang=en", "Hello Anna Andersson!"),
    ("?lang=en&lang=sv", "Hello Anna Andersson!"),
    ("?lang=&lang=en", "Hej Anna Andersson!"),
    ("?lang=fi", "Hello Anna Andersson!"),  # not one OSA speaks: the browser's language (English here)
])
def test_a_kept_page_is_in_the_language_flask_would_choose(before_deadline, app, invitee, query, greeting):
    browser = app.test_client(use_cookies=False)
    link = link_path(invitee)
    for kept in (link, link + "?lang=sv", link + "?lang=en"):  # both languages kept already
        opened_twice(browser, kept)
    for _ in range(2):
        got = browser.get(link + query, headers={"Accept-Language": "en-GB,en;q=0.8"})
        assert greeting in page_text(got)


def test_a_kept_page_follows_every_change_to_what_it_shows(before_deadline, app, event, flask_requests):
    anna = add_invitee(event)
    bo = add_invitee(event, "Bo Berg", "bo.berg@example.se")
    bus = db.session.scalar(select(TransportOption).where(TransportOption.key == "bus"))
    bus.capacity = 2
    db.session.commit()
    browser = app.test_client()
    path = link_path(anna)

    def shown() -> str:
        opened_twice(browser, path)
        return page_text(browser.get(path))

    assert "2 platser kvar" in shown()
    kept = len(flask_requests)

    # Anna's own answer: the form comes back with it.
    posted = browser.post(path, data=answer_form(csrf_token(browser.get(path)), **{"meal_dinner-day1": "y"}))
    assert posted.status_code == 303
    page = browser.get(path).get_data(as_text=True)
    assert re.search(r'name="meal_dinner-day1"[^>]*checked', page)
    assert "Ditt svar är sparat" in page_text(browser.get(path))
    assert len(flask_requests) > kept

    # Someone else takes the other seat of the bus: her page shows it (her own seat counts as hers).
    assert "2 platser kvar" in shown()
    other = app.test_client()
    other.post(link_path(bo), data=answer_form(csrf_token(other.get(link_path(bo)))))
    assert "1 plats kvar" in shown()
    db.session.rollback()  # the test's own reads began before those saves (SQLite would refuse its writes)
    assert "Fullt" in page_text(app.test_client().get(link_path(add_invitee(event, "Cia", "cia@example.se"))))

    # The secretariat renames her, then the event changes (the bus gets more seats).
    db.session.rollback()
    anna.name = "Anna Andersson-Berg"
    db.session.commit()
    assert "Hej Anna Andersson-Berg!" in shown()
    db.session.rollback()
    bus.capacity = 10
    db.session.commit()
    assert "9 platser kvar" in shown()

    # The language she answered in, and the one asked for in the link.
    assert "Hello Anna Andersson-Berg!" in page_text(browser.get(path + "?lang=en"))
    assert "Hej Anna Andersson-Berg!" in shown()


@pytest.mark.parametrize("moment", ["just before", "just after"])
def test_an_answer_saved_while_the_page_renders_is_never_hidden_by_it(before_deadline, app, invitee, monkeypatch, moment):
    """A save landing just before or just after the page's stamp is read, while the page
    renders: the page is never kept as older than its stamp (the stamp is read first)."""
    import service.rsvp.pages as pages

    path = link_path(invitee)
    saver = app.test_client()
    token = csrf_token(saver.get(path + "?lang=en"))
    read_stamp = pages.page_stamp

    def a_save_elsewhere():
        monkeypatch.setattr(pages, "page_stamp", read_stamp)
        assert saver.post(path, data=answer_form(token, **{"meal_dinner-day1": "y"})).status_code == 303

    def stamp_with_a_save(link):
        if moment == "just before":
            a_save_elsewhere()
        stamp = read_stamp(link)
        if moment == "just after":
            a_save_elsewhere()
        return stamp

    monkeypatch.setattr(pages, "page_stamp", stamp_with_a_save)
    scanner = app.test_client(use_cookies=False)
    scanner.get(path)  # rendered while the save lands
    for _ in range(2):
        page = scanner.get(path).get_data(as_text=True)
        assert re.search(r'name="meal_dinner-day1"[^>]*checked', page)


def test_a_kept_page_stops_at_the_deadline_and_at_the_links_end(before_deadline, app, invitee, flask_requests):
    scanner = app.test_client(use_cookies=False)
    path = link_path(invitee)
    before_deadline.move_to(dt.datetime(2021, 11, 15, 11, 59, tzinfo=STOCKHOLM))
    _, kept = opened_twice(scanner, path)
    assert "Spara mitt svar" in page_text(kept)

    before_deadline.move_to(dt.datetime(2021, 11, 15, 12, 1, tzinfo=STOCKHOLM))
    closed = scanner.get(path)
    assert "Sista dag att svara var måndag 15 november 2021 kl. 12.00" in page_text(closed)
    assert "Spara mitt svar" not in page_text(closed)
    assert "Sista dag att svara" in page_text(scanner.get(path))

    before_deadline.move_to(dt.datetime(2021, 11, 27, 0, 0, tzinfo=STOCKHOLM))
    expired = scanner.get(path)
    assert expired.status_code == 410
    assert "Länken har gått ut" in page_text(expired)


@pytest.mark.parametrize("change, status, heading", [
    ("new link", 403, "Länken har ersatts"),
    ("removed", 410, "Länken fungerar inte längre"),
])
def test_a_kept_page_is_never_sent_for_a_link_that_no_longer_works(before_deadline, app, invitee, change, status, heading):
    scanner = app.test_client(use_cookies=False)
    path = link_path(invitee)
    opened_twice(scanner, path)
    if change == "new link":
        issue_new_link(invitee)
    else:
        invitee.removed_at = utcnow()
    db.session.commit()
    before = database_state(db.session, TABLES)
    refused = scanner.get(path)
    assert refused.status_code == status
    assert heading in page_text(refused)
    assert "Hej Anna" not in page_text(refused)
    assert database_state(db.session, TABLES) == before


def test_kept_pages_count_against_the_link_limit_with_every_other_link_page(before_deadline, other_app, event):
    invitee = add_invitee(event)
    limited = other_app(LINK_RATE_LIMIT="4 per minute").test_client()
    path = link_path(invitee)
    token = csrf_token(limited.get(path))  # Flask
    statuses = [limited.get(path).status_code for _ in range(2)]  # kept
    statuses.append(limited.post(path, data=answer_form(token)).status_code)
    statuses.append(limited.get(path).status_code)
    assert statuses == [200, 200, 303, 429]


def test_kept_pages_count_against_every_limit_of_the_setting(before_deadline, other_app, event):
    invitee = add_invitee(event)
    limited = other_app(LINK_RATE_LIMIT="100 per hour; 3 per minute").test_client()
    assert [limited.get(link_path(invitee)).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_with_redis_every_web_process_counts_kept_pages_in_one_limit(before_deadline, other_app, event, redis_url):
    invitee = add_invitee(event)
    path = link_path(invitee)
    first, second = (other_app(LINK_RATE_LIMIT="4 per minute", REDIS_URL=redis_url).test_client() for _ in range(2))
    statuses = [first.get(path).status_code, first.get(path).status_code,  # Flask, then kept
                second.get(path).status_code, second.get(path).status_code,
                first.get(path).status_code]
    assert statuses == [200, 200, 200, 200, 429]


def test_every_saved_change_raises_the_answers_version_and_nothing_else_does(before_deadline, client, invitee):
    path = link_path(invitee)
    token = csrf_token(client.get(path))

    def version() -> int:
        db.session.rollback()
        return db.session.scalar(select(AnswersVersion.version).where(AnswersVersion.event_id == invitee.event_id)) or 0

    assert version() == 0
    client.post(path, data=answer_form(token))
    assert version() == 1
    client.post(path, data=answer_form(token))  # the same answer again: no change
    assert version() == 1
    client.post(path + "/decline", data={"csrf_token": token})
    assert version() == 2


def test_a_form_token_holds_for_its_own_link_only(before_deadline, app, event):
    anna, bo = add_invitee(event), add_invitee(event, "Bo Berg", "bo.berg@example.se")
    browser = app.test_client(use_cookies=False)  # no session is needed to answer
    annas = csrf_token(browser.get(link_path(anna)))
    before = database_state(db.session, TABLES)
    refused = browser.post(link_path(bo), data=answer_form(annas))
    assert refused.status_code == 400
    assert "Försök igen" in page_text(refused)
    assert database_state(db.session, TABLES) == before

    old_token = make_token(anna)
    issue_new_link(anna)
    db.session.commit()
    new_path = f"/r/{make_token(anna)}"
    assert browser.post(new_path, data=answer_form(annas)).status_code == 400  # made for the replaced link
    assert database_state(db.session, TABLES) != before  # only the link version changed
    assert browser.post(new_path, data=answer_form(csrf_token(browser.get(new_path)))).status_code == 303
    assert browser.get(f"/r/{old_token}").status_code == 403


def close_every_other_connection():
    db.session.execute(text(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    ))
    db.session.commit()


def forget_the_prepared_statements():
    """psycopg ends some rollbacks with DEALLOCATE ALL, on any connection of the pool."""
    from service.links import _stamp_row_postgresql

    pool = [db.engine.raw_connection() for _ in range(3)]
    for connection in pool:
        _stamp_row_postgresql(connection, 1)  # each has the statement, and knows it
        connection.driver_connection.execute("DEALLOCATE ALL")
    for connection in pool:
        connection.close()


@pytest.mark.parametrize("loss", [close_every_other_connection, forget_the_prepared_statements])
def test_a_page_is_still_sent_after_the_database_lost_the_connections_state(
    before_deadline, app, invitee, database_url, loss
):
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's connections and prepared statements; SQLite has neither on a server")
    scanner = app.test_client(use_cookies=False)
    path = link_path(invitee)
    opened_twice(scanner, path)
    loss()
    for _ in range(3):
        again = scanner.get(path)
        assert again.status_code == 200
        assert "Hej Anna Andersson!" in page_text(again)
