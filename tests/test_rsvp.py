"""The answer page over HTTP: links that work and links that don't, what GET and POST
may change, the deadline, contradictions, the waiting list, headers and limits."""

import datetime as dt
import logging
import re
import urllib.request

import icalendar
import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select

from service.db import utcnow
from service.extensions import db
from service.links import SALTS, issue_new_link, make_token
from service.models import (
    HotelNight,
    Outbox,
    Response,
    ResponseChange,
    ResponseDay,
    TransportOption,
)

from .conftest import add_invitee, link_path
from .support.helpers import csrf_token, database_state, page_text

TABLES = ("event", "invitee", "response", "response_day", "response_meal", "response_diet",
          "response_hotel_night", "response_change", "outbox")




def answer_form(token, **fields) -> dict:
    data = {"csrf_token": token, "day_day1": "yes", "transport_day1": "bus", "day_day2": "no"}
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}


# --- Links that cannot be used ------------------------------------------------------------


def tampered(token: str) -> str:
    payload, stamp, signature = token.split(".")
    return f"{payload}.{stamp}.{signature[:-2]}{'AB' if signature[-2:] != 'AB' else 'CD'}"


def other_purpose(app, invitee) -> str:
    return URLSafeTimedSerializer(list(reversed(app.config["SECRET_KEYS"])), salt=SALTS["hotel"]).dumps(
        [invitee.id, invitee.link_version]
    )


@pytest.mark.parametrize(
    "case, status, heading",
    [
        ("tampered", 400, "Länken fungerar inte"),
        ("garbage", 400, "Länken fungerar inte"),
        ("other purpose", 400, "Länken fungerar inte"),
        ("forged payload", 400, "Länken fungerar inte"),
        ("revoked", 403, "This link has been replaced"),
        ("removed", 410, "Länken fungerar inte längre"),
        ("expired", 410, "Länken har gått ut"),
    ],
)
def test_a_link_that_cannot_be_used_gets_a_clear_page_and_changes_nothing(
    before_deadline, app, client, event, case, status, heading
):
    invitee = add_invitee(event)
    english = add_invitee(event, "John Smith", "john.smith@example.org", "official", "en")
    token = make_token(invitee)
    if case == "tampered":
        url = f"/r/{tampered(token)}"
    elif case == "garbage":
        url = "/r/not-a-link-at-all"
    elif case == "other purpose":
        url = f"/r/{other_purpose(app, invitee)}"
    elif case == "forged payload":
        url = f"/r/{URLSafeTimedSerializer(['test-key-new'], salt='osa.link.rsvp').dumps({'id': invitee.id})}"
    elif case == "revoked":
        old = make_token(english)
        issue_new_link(english)
        db.session.commit()
        url = f"/r/{old}"
    elif case == "removed":
        invitee.removed_at = utcnow()
        db.session.commit()
        url = f"/r/{token}"
    else:
        before_deadline.move_to(dt.datetime(2021, 11, 27, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))))
        url = f"/r/{token}"
    before = database_state(db.session, TABLES)

    got = client.get(url)
    posted = client.post(url, data={"day_day1": "no", "day_day2": "no"})

    assert got.status_code == status
    assert posted.status_code in (status, 400)
    shown = page_text(got)
    assert heading in shown
    assert shown.count("sekretariatet@example.se") == 1 and "070-174 06 05" in shown  # said once, not twice
    assert "Traceback" not in shown
    assert database_state(db.session, TABLES) == before


@pytest.mark.parametrize("language, words", [("sv", "Den här adressen fungerar inte så"),
                                             ("en", "This address does not work that way")])
def test_a_link_used_in_a_way_no_page_takes_says_what_to_do_in_the_readers_language(
        before_deadline, event, client, language, words):
    anna = add_invitee(event, "Anna Andersson", "anna.andersson@example.se", language=language)
    before = database_state(db.session, TABLES)
    refused = client.delete(link_path(anna), headers={"Accept-Language": language})
    assert refused.status_code == 405
    shown = page_text(refused)
    assert words in shown and "method" not in shown.lower()
    assert f'<html lang="{language}">' in refused.get_data(as_text=True)  # read aloud in the language it is in
    assert database_state(db.session, TABLES) == before


def test_a_link_keeps_working_after_the_signing_key_is_rotated(before_deadline, other_app, event, client):
    invitee = add_invitee(event)
    old_app = other_app(SECRET_KEYS=["test-key-old"])
    with old_app.app_context():
        token = make_token(db.session.get(type(invitee), invitee.id))
    assert client.get(f"/r/{token}").status_code == 200  # the app verifies with ["test-key-new", "test-key-old"]
    retired = other_app(SECRET_KEYS=["test-key-new"]).test_client()
    assert retired.get(f"/r/{token}").status_code == 400


# --- GET never writes; POST saves once, with history -----------------------------------------


def test_a_mail_scanner_opening_the_link_changes_nothing(before_deadline, app, invitee):
    before = database_state(db.session, TABLES)
    scanner = app.test_client(use_cookies=False)
    for path in (link_path(invitee), link_path(invitee) + "/thanks", link_path(invitee) + "?lang=en"):
        assert scanner.get(path).status_code in (200, 302)
        scanner.head(path)
    assert database_state(db.session, TABLES) == before


def test_meal_on_a_day_not_attended_is_refused_beside_the_field(before_deadline, client, invitee):
    path = link_path(invitee)
    token = csrf_token(client.get(path))
    before = database_state(db.session, TABLES)
    posted = client.post(path, data=answer_form(token, **{"meal_lunch-day2": "y"}))
    assert posted.status_code == 400
    html = posted.get_data(as_text=True)
    assert 'id="meal_lunch-day2-error">Du har valt måltiden men inte att komma fredag 26 november 2021.</p>' in html
    assert "Inget är sparat ännu" in page_text(posted)
    assert database_state(db.session, TABLES) == before


def test_a_flight_that_lands_after_the_pickup_is_refused(before_deadline, client, invitee):
    path = link_path(invitee)
    token = csrf_token(client.get(path))
    posted = client.post(path, data=answer_form(
        token, transport_day1="airport", flight_number_day1="SK 2014", flight_arrival_day1="10:15",
    ))
    assert posted.status_code == 400
    assert "Flyget landar efter upphämtningen (ca 09.30)" in page_text(posted)
    # The example in the landing time's field is written as the reader writes times.
    assert 'placeholder="09.30"' in posted.get_data(as_text=True)
    english = client.get(f"{path}?lang=en").get_data(as_text=True)
    assert 'placeholder="09:30"' in english and 'placeholder="09.30"' not in english


def test_post_without_csrf_token_is_refused(before_deadline, client, invitee):
    before = database_state(db.session, TABLES)
    posted = client.post(link_path(invitee), data={"day_day1": "no", "day_day2": "no"})
    assert posted.status_code == 400
    assert "Försök igen" in page_text(posted)
    assert database_state(db.session, TABLES) == before


@pytest.mark.both_backends
def test_saving_the_same_answer_twice_writes_one_history_row(before_deadline, client, invitee):
    path = link_path(invitee)
    token = csrf_token(client.get(path))
    for _ in range(2):
        assert client.post(path, data=answer_form(token, **{"meal_dinner-day1": "y"})).status_code == 303
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(ResponseChange)) == 1


def test_the_language_can_be_switched_on_the_page(before_deadline, client, invitee):
    path = link_path(invitee)
    english = client.get(path + "?lang=en")
    assert "Hello Anna Andersson!" in page_text(english)
    assert "Thursday 25 – Friday 26 November 2021" in page_text(english)
    posted = client.post(path + "?lang=en", data=answer_form(csrf_token(english)))
    thanks = client.get(posted.headers["Location"])
    assert "Thank you, Anna Andersson!" in page_text(thanks)
    assert "The bus from The Wood Hotel: 09:00" in page_text(thanks)
    db.session.rollback()
    assert invitee.language == "en"


def test_the_thanks_page_gives_each_day_they_come_as_the_calendar_file_of_their_confirmation(
    before_deadline, client, invitee
):
    path = link_path(invitee)
    posted = client.post(path, data=answer_form(csrf_token(client.get(path)), day_day1="no", transport_day1=None,
                                                day_day2="yes", **{"meal_lunch-day2": "y"}))
    thanks = client.get(posted.headers["Location"]).get_data(as_text=True)
    links = re.findall(r'<a href="([^"]+\.ics)">([^<]+)</a>', thanks)
    assert links == [(f"{path}/calendar/day2.ics", "Lägg till Dag 2, fredag 26 november 2021 i min kalender")]

    download = client.get(links[0][0])
    assert download.status_code == 200 and "Set-Cookie" not in download.headers
    assert download.headers["Content-Type"] == "text/calendar; method=REQUEST; charset=utf-8"
    # Inline: Safari on an iPhone offers to add it to the calendar; other browsers save it by this name.
    assert download.headers["Content-Disposition"] == "inline; filename=innovationsmotet-2021-2021-11-26.ics"
    # The same entry as the confirmation's file: a calendar that has one keeps one.
    db.session.rollback()
    attachments = db.session.scalar(select(Outbox.attachments).where(Outbox.kind == "confirmation"))
    emailed = icalendar.Calendar.from_ical(attachments[0]["data"]).walk("VEVENT")[0]
    downloaded = icalendar.Calendar.from_ical(download.data).walk("VEVENT")
    assert len(downloaded) == 1
    assert {name: downloaded[0][name].to_ical() for name in ("UID", "SEQUENCE", "DTSTART", "DTEND", "DESCRIPTION")} \
        == {name: emailed[name].to_ical() for name in ("UID", "SEQUENCE", "DTSTART", "DTEND", "DESCRIPTION")}
    # A day they do not come to, a day the event does not have, a link that is not one.
    assert [client.get(f"{path}/calendar/{key}.ics").status_code for key in ("day1", "day9", "dag2")] == [404] * 3
    assert client.get("/r/not-a-link/calendar/day2.ics").status_code == 400


# --- The deadline ----------------------------------------------------------------------------


def test_after_the_deadline_the_answer_is_read_only(before_deadline, client, invitee):
    path = link_path(invitee)
    stockholm = dt.timezone(dt.timedelta(hours=1))
    before_deadline.move_to(dt.datetime(2021, 11, 15, 11, 30, tzinfo=stockholm))
    token = csrf_token(client.get(path))
    client.post(path, data=answer_form(token, **{"meal_dinner-day1": "y"}))
    before_deadline.move_to(dt.datetime(2021, 11, 15, 12, 1, tzinfo=stockholm))
    before = database_state(db.session, TABLES)

    shown = client.get(path)
    assert shown.status_code == 200
    text_ = page_text(shown)
    assert "Sista dag att svara var måndag 15 november 2021 kl. 12.00" in text_
    assert "Middag på hotellet 18.00" in text_
    assert "Spara mitt svar" not in text_
    assert "sekretariatet@example.se" in text_
    # The day she comes stays a calendar file to add.
    assert re.findall(r'<a href="([^"]+\.ics)">', shown.get_data(as_text=True)) == [f"{path}/calendar/day1.ics"]
    assert client.get(f"{path}/calendar/day1.ics").status_code == 200
    refused = client.post(path, data=answer_form(token, day_day1="no"))
    assert refused.status_code == 403
    assert database_state(db.session, TABLES) == before


# --- Capacity and the waiting list ----------------------------------------------------------


@pytest.mark.both_backends
def test_a_full_bus_offers_the_waiting_list_and_a_freed_seat_moves_the_first_up(before_deadline, app, client, event):
    bus = db.session.scalar(select(TransportOption).where(TransportOption.key == "bus"))
    bus.capacity = 1
    db.session.commit()
    first, second, third = (add_invitee(event, f"Person {n}", f"person{n}@example.se") for n in (1, 2, 3))

    def answer(invitee, **fields):
        browser = app.test_client()
        path = link_path(invitee)
        return browser, browser.post(path, data=answer_form(csrf_token(browser.get(path)), **fields))

    answer(first)
    assert "Fullt: välj det för att stå på väntelistan" in page_text(app.test_client().get(link_path(second)))
    browser, _ = answer(second)
    page = page_text(browser.get(link_path(second)))
    assert "Du är nummer 1 på väntelistan: vi skriver till dig om en plats blir ledig" in page
    answer(third)
    assert "Du är nummer 2 på väntelistan" in page_text(app.test_client().get(link_path(third)))

    answer(first, transport_day1="own")  # the bus seat is freed
    db.session.rollback()
    seats = dict(db.session.execute(
        select(ResponseDay.response_id, ResponseDay.transport_waitlisted_at)
        .where(ResponseDay.transport_option_id == bus.id)
    ).all())
    holder = {r.invitee_id: r.id for r in db.session.scalars(select(Response))}
    assert seats[holder[second.id]] is None  # moved up
    assert seats[holder[third.id]] is not None  # still waiting
    moved = db.session.scalars(
        select(ResponseChange).where(ResponseChange.invitee_id == second.id).order_by(ResponseChange.id)
    ).all()
    waitlisted = [
        (c.actor, c.old and c.old["days"]["day1"]["waitlisted"], c.new["days"]["day1"]["waitlisted"]) for c in moved
    ]
    assert waitlisted == [("invitee", None, True), ("system", True, False)]


@pytest.mark.both_backends
def test_a_full_hotel_night_shows_each_waiting_invitee_their_place_in_line(before_deadline, app, event):
    night = db.session.scalar(select(HotelNight).where(HotelNight.key == "night-24"))
    night.capacity = 1
    db.session.commit()
    people = [add_invitee(event, f"Person {n}", f"person{n}@example.se") for n in (1, 2, 3)]
    for person in people:
        browser = app.test_client()
        path = link_path(person)
        assert browser.post(path, data=answer_form(csrf_token(browser.get(path)), **{"night_night-24": "y"})).status_code == 303
    pages = [page_text(app.test_client().get(link_path(person))) for person in people]
    assert "Natten efter onsdag 24 november 2021 (1 rum kvar)" in pages[0]  # the room Person 1 holds
    assert "väntelistan" not in pages[0]
    assert "Natten efter onsdag 24 november 2021 (du är nummer 1 på väntelistan)" in pages[1]
    assert "Natten efter onsdag 24 november 2021 (du är nummer 2 på väntelistan)" in pages[2]
    english = page_text(app.test_client().get(link_path(people[2]) + "?lang=en"))
    assert "(you are number 2 on the waiting list)" in english


@pytest.mark.both_backends
def test_removing_an_invitee_frees_their_seat_and_putting_them_back_puts_them_last_in_line(
    before_deadline, app, event, admin_client
):
    bus = db.session.scalar(select(TransportOption).where(TransportOption.key == "bus"))
    bus.capacity = 1
    db.session.commit()
    anna, bo, cia, dan = (
        add_invitee(event, name, f"{name.split()[0].lower()}@example.se")
        for name in ("Anna Andersson", "Bo Berg", "Cia Carlsson", "Dan Dahl")
    )
    for invitee in (anna, bo, cia):  # Anna takes the seat; Bo, then Cia, wait for it
        browser = app.test_client()
        browser.post(link_path(invitee), data=answer_form(csrf_token(browser.get(link_path(invitee)))))

    def page(invitee) -> str:
        return page_text(app.test_client().get(link_path(db.session.get(type(invitee), invitee.id))))

    def act(invitee, action: str) -> str:
        form = admin_client.get(f"/admin/invitees/{invitee.id}")
        done = admin_client.post(
            f"/admin/invitees/{invitee.id}/{action}", data={"csrf_token": csrf_token(form), "confirmed": "yes"},
            follow_redirects=True,
        )
        db.session.rollback()
        return page_text(done)

    def emails(invitee) -> list[str]:
        return list(db.session.scalars(select(Outbox.kind).where(Outbox.invitee_id == invitee.id).order_by(Outbox.id)))

    waiting = "på väntelistan: vi skriver till dig"
    assert "Du är nummer 1 " + waiting in page(bo) and "Du är nummer 2 " + waiting in page(cia)

    assert "Anna Andersson är borttagen från listan. Flyttade upp från väntelistan: Bo Berg." in act(anna, "remove")
    assert waiting not in page(bo) and "Du är nummer 1 " + waiting in page(cia)
    assert emails(bo) == ["confirmation", "moved_up"]
    assert "Fullt" in page(dan)

    back = act(anna, "restore")
    assert "Anna Andersson står på listan igen. En plats eller ett rum som de hade gick till någon annan" in back
    assert "Du är nummer 2 " + waiting in page(anna) and waiting not in page(bo)  # behind Cia
    assert emails(anna) == ["confirmation", "confirmation"]
    told = db.session.scalars(select(Outbox).where(Outbox.invitee_id == anna.id).order_by(Outbox.id.desc())).first()
    assert "Du står på listan igen, med ditt svar. En plats som du hade gick till någon annan" in told.body_text
    assert "på väntelistan" in told.body_text and ">Du står på listan igen</h1>" in told.body_html
    last = db.session.scalars(
        select(ResponseChange).where(ResponseChange.invitee_id == anna.id).order_by(ResponseChange.id.desc())
    ).first()
    assert (last.actor, last.old["days"]["day1"]["waitlisted"], last.new["days"]["day1"]["waitlisted"]) == (
        "system", False, True,
    )

    # Cia waited longer than Anna, but a removed invitee waits for nothing.
    assert "Flyttade upp" not in act(cia, "remove")
    assert "Du är nummer 1 " + waiting in page(anna)
    assert "Flyttade upp från väntelistan: Anna Andersson." in act(bo, "remove")
    assert waiting not in page(anna)
    assert "Fullt" in page(dan)
    act(anna, "remove")
    assert "1 plats kvar" in page(dan)


# --- Headers, limits and logs ---------------------------------------------------------------


def test_pages_send_strict_headers(before_deadline, client, invitee):
    got = client.get(link_path(invitee))
    assert got.headers["Referrer-Policy"] == "no-referrer"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["Cache-Control"] == "no-store"
    policy = got.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert not re.search(r'(src|href)="(https?:)?//', got.get_data(as_text=True))


def test_link_pages_are_rate_limited_per_address(before_deadline, other_app, event):
    invitee = add_invitee(event)
    limited = other_app(LINK_RATE_LIMIT="3 per minute").test_client()
    statuses = [limited.get(link_path(invitee)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert "Vänta en minut och försök igen" in page_text(limited.get(link_path(invitee)))


def test_every_link_page_counts_against_one_limit_and_every_limit_of_the_setting(before_deadline, other_app, event):
    invitee = add_invitee(event)
    limited = other_app(LINK_RATE_LIMIT="100 per hour; 4 per minute").test_client()
    path = link_path(invitee)
    token = csrf_token(limited.get(path))
    statuses = [limited.get(path).status_code, limited.post(path, data=answer_form(token)).status_code,
                limited.get(f"{path}/thanks").status_code, limited.get(path).status_code]
    assert statuses == [200, 303, 200, 429]


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

def test_no_invitee_page_sets_a_cookie(before_deadline, app, event):
    """An invitee needs no session: the page, an answer saved and its thanks, English, their data,
    the reminder opt-out, the accessibility statement, a bad link and the hotel's page set no cookie."""
    from service.links import hotel_url, opt_out_url

    def local(url: str) -> str:
        return url.removeprefix("http://osa.example.se")

    browser = app.test_client(use_cookies=False)
    invitee = add_invitee(event)
    path = link_path(invitee)
    responses = [browser.get(path), browser.get(path + "?lang=en"), browser.head(path)]
    responses.append(browser.post(path, data=answer_form(csrf_token(responses[0]))))
    responses += [browser.get(f"{path}/{page}") for page in ("thanks", "data", "data.json", "calendar/day1.ics")]
    responses += [browser.get(local(opt_out_url(invitee))), browser.get("/r/accessibility"),
                  browser.get("/r/not-a-link"), browser.get(local(hotel_url(event)))]
    assert [response.status_code for response in responses] == [200, 200, 200, 303, 200, 200, 200, 200, 200, 200, 400,
                                                                200]
    assert [response.request.path for response in responses if "Set-Cookie" in response.headers] == []


def test_tokens_never_reach_the_access_log(before_deadline, live_server, invitee, caplog):
    token = make_token(invitee)
    with caplog.at_level(logging.INFO):
        urllib.request.urlopen(live_server.url + f"/r/{token}").read()
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(live_server.url + f"/r/{tampered(token)}")
    assert "/r/[link]" in caplog.text
    assert token.split(".")[0] not in caplog.text


def test_i_cant_come_asks_once_more_and_keeps_diet_allergies_and_comment(before_deadline, event, client, invitee):
    page = client.get(link_path(invitee))
    assert client.post(link_path(invitee), data={
        "csrf_token": csrf_token(page), "day_day1": "yes", "transport_day1": "own", "day_day2": "yes",
        "diet_vegetarian": "y", "allergies": "Nötter", "comment": "Kommer med tåget", "meal_lunch-day1": "y",
    }).status_code == 303
    before = database_state(db.session, ["response", "response_day", "response_change", "outbox"])
    asked = client.post(link_path(invitee) + "/decline", data={"csrf_token": csrf_token(page)})
    assert asked.status_code == 200 and "Kan du inte komma?" in page_text(asked)
    assert database_state(db.session, ["response", "response_day", "response_change", "outbox"]) == before
    link = link_path(invitee)  # signed once: a link carries the second it was signed, and the clock ticks
    reloaded = client.get(link + "/decline")  # a phone's browser reloads the tab: back to the form
    assert reloaded.status_code == 302 and reloaded.headers["Location"].startswith(link + "?lang=sv")
    assert database_state(db.session, ["response", "response_day", "response_change", "outbox"]) == before
    done = client.post(link_path(invitee) + "/decline", data={"csrf_token": csrf_token(asked), "confirmed": "yes"})
    assert done.status_code == 303
    db.session.rollback()
    response = db.session.scalar(select(Response))
    assert not response.attending and not response.meals
    assert ([d.key for d in response.diets], response.allergies, response.comment) == (
        ["vegetarian"], "Nötter", "Kommer med tåget")
    again = page_text(client.get(link_path(invitee)))
    assert "Nötter" in again and "Kommer med tåget" in again


def test_every_invitee_page_links_to_the_accessibility_statement_in_the_readers_language(
    before_deadline, app, event, client, invitee
):
    for path in (link_path(invitee), link_path(invitee) + "/data", "/r/not-a-token"):
        assert '<a href="/r/accessibility?lang=sv">Tillgänglighetsredogörelse</a>' in client.get(path).get_data(as_text=True)
    swedish = page_text(client.get("/r/accessibility"))
    assert "lagen om tillgänglighet till digital offentlig service" in swedish
    assert "Anmäl ett problem" in swedish and "sekretariatet@example.se" in swedish
    assert "www.digg.se/tdosanmalan" in swedish
    english = page_text(client.get("/r/accessibility?lang=en"))
    assert "Accessibility statement" in english and "Report a problem" in english
    event.accessibility_statement = "Vår egen redogörelse.\n\nAndra stycket."
    db.session.commit()
    own = client.get("/r/accessibility").get_data(as_text=True)
    assert "<p>Vår egen redogörelse.</p>" in own and "<p>Andra stycket.</p>" in own and "Digg" not in own
    assert client.get("/favicon.ico").location == "/static/favicon.svg"
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    icon.close()
