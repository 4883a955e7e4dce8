"""The secretariat's admin: accounts, the guard on every URL, answers on someone's
behalf, import, previews, the mail log, exports and the hotel's link."""

from __future__ import annotations

import datetime as dt
import io
import re
from xml.etree import ElementTree

import openpyxl
import pytest
import time_machine
from markupsafe import escape
from sqlalchemy import func, select
from werkzeug.routing import IntegerConverter

from service.answers import current_snapshot, take_off_list
from service.db import utcnow, write_transaction
from service.extensions import db
from service.links import hotel_url
from service.mail.compose import queue_invitation
from service.models import (
    AdminUser,
    ImportJob,
    Invitee,
    Outbox,
    Response,
    ResponseChange,
    ResponseDay,
)

from .conftest import ADMIN_PASSWORD, add_admin, add_invitee, import_finished, link_path, sign_in
from .support.helpers import csrf_token, database_state, html_text, page_text

TABLES = ("admin_user", "event", "invitee", "response", "response_day", "response_meal", "response_diet",
          "response_hotel_night", "response_change", "outbox")




def admin_urls(app) -> list[tuple[str, str]]:
    """(method, URL) of every admin view but the sign-in page, with made-up values for its parts."""
    urls = []
    adapter = app.url_map.bind("osa.example.se")
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("admin.") or rule.endpoint == "admin.login":
            continue
        values = {arg: 1 if isinstance(rule._converters[arg], IntegerConverter) else "invitation"
                  for arg in rule.arguments}
        url = adapter.build(rule.endpoint, values)
        urls += [(method, url) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return urls


def listed_names(client, query: str) -> set[str]:
    """The names in the admin's list of invitees, with these filters."""
    page = client.get("/admin/invitees" + query).get_data(as_text=True)
    return set(re.findall(r'<a href="/admin/invitees/\d+">([^<]+)</a>', page))


# --- Accounts -------------------------------------------------------------------------------


def test_create_user_prints_a_password_that_signs_in_and_stores_only_a_hash(app, runner, client):
    result = runner.invoke(args=["admin", "create-user", "eva", "--name", "Eva Ek", "--generate-password"])
    assert result.exit_code == 0, result.output
    password = re.search(r"Password: (\S+)", result.output).group(1)
    user = db.session.scalar(select(AdminUser).where(AdminUser.username == "eva"))
    assert password not in user.password_hash and user.password_hash.startswith("scrypt:")

    again = runner.invoke(args=["admin", "create-user", "eva", "--generate-password"])
    assert again.exit_code != 0 and "exists" in again.output

    page = client.get("/admin/login")
    wrong = client.post("/admin/login", data={"csrf_token": csrf_token(page), "username": "eva", "password": "nej"})
    assert wrong.status_code == 401
    assert "Användarnamnet eller lösenordet är fel." in page_text(wrong)
    signed_in = client.post("/admin/login", data={"csrf_token": csrf_token(page), "username": "eva", "password": password})
    assert signed_in.status_code == 302 and signed_in.location == "/admin/"
    assert "Översikt" in page_text(client.get("/admin/"))

    client.post("/admin/logout", data={"csrf_token": csrf_token(client.get("/admin/"))})
    assert client.get("/admin/").location.startswith("/admin/login")


def test_a_new_password_signs_out_the_sessions_of_the_old_one(app, runner, admin_client):
    assert admin_client.get("/admin/").status_code == 200
    reset = runner.invoke(args=["admin", "create-user", "sekretariatet", "--reset", "--generate-password"])
    assert reset.exit_code == 0, reset.output
    assert admin_client.get("/admin/").location.startswith("/admin/login")


def test_every_admin_url_sends_a_stranger_to_the_sign_in_page(app, event, client):
    invitee = add_invitee(event)
    before = database_state(db.session, TABLES)
    token = csrf_token(client.get("/admin/login"))  # a stranger's own valid token, so only the login check stops them
    urls = admin_urls(app)
    assert len(urls) >= 30
    for method, url in urls:
        response = client.open(url, method=method, data={"csrf_token": token, "id": "1"})
        assert response.status_code in (302, 401, 403), (method, url, response.status_code)
        if response.status_code == 302:
            assert response.location.startswith("/admin/login"), (method, url, response.location)
    assert database_state(db.session, TABLES) == before
    assert db.session.get(Invitee, invitee.id).removed_at is None


def test_with_a_session_but_no_csrf_token_every_post_is_refused(app, event, admin_client):
    add_invitee(event)
    before = database_state(db.session, TABLES)
    posts = [url for method, url in admin_urls(app) if method == "POST"]
    assert len(posts) >= 10
    for url in posts:
        response = admin_client.post(url, data={"id": "1"})
        assert response.status_code == 400, (url, response.status_code)
        assert "Försök igen" in page_text(response)
    assert database_state(db.session, TABLES) == before
    assert admin_client.get("/admin/").status_code == 200  # still signed in: nothing was logged out either


def test_signing_in_is_rate_limited(other_app, event):
    app = other_app(LOGIN_RATE_LIMIT="3 per minute")
    with app.app_context():
        add_admin()
    client = app.test_client()
    token = csrf_token(client.get("/admin/login"))
    statuses = [client.post("/admin/login", data={"csrf_token": token, "username": "sekretariatet",
                                                  "password": "gissning"}).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    refused = client.post("/admin/login", data={"csrf_token": token, "username": "sekretariatet",
                                                "password": ADMIN_PASSWORD})
    assert refused.status_code == 429


def test_a_sign_in_link_never_sends_you_to_another_site(app, client):
    add_admin()
    token = csrf_token(client.get("/admin/login"))
    response = client.post("/admin/login?next=//evil.example.org/", data={
        "csrf_token": token, "username": "sekretariatet", "password": ADMIN_PASSWORD})
    assert response.location == "/admin/"


# --- Invitees -------------------------------------------------------------------------------


def test_an_answer_on_someones_behalf_is_recorded_as_such_and_confirmed_to_them(before_deadline, event, admin_client):
    anna = add_invitee(event)
    path = f"/admin/invitees/{anna.id}/answer"
    form = admin_client.get(path)
    assert form.status_code == 200
    saved = admin_client.post(path, data={
        "csrf_token": csrf_token(form), "day_day1": "yes", "transport_day1": "bus", "meal_dinner-day1": "y",
        "day_day2": "no", "diet_vegetarian": "y",
    })
    assert saved.status_code == 302
    db.session.rollback()
    change = db.session.scalar(select(ResponseChange).where(ResponseChange.invitee_id == anna.id))
    assert (change.actor, change.actor_name) == ("admin", "sekretariatet")
    confirmation = db.session.scalar(select(Outbox).where(Outbox.invitee_id == anna.id, Outbox.kind == "confirmation"))
    assert confirmation.recipient == "anna.andersson@example.se"
    assert "Middag på hotellet" in confirmation.body_text

    page = page_text(admin_client.get(f"/admin/invitees/{anna.id}"))
    assert "sekretariatet (sekretariatet) för deras räkning" in page
    assert "Dag 1: ja, Bussen från The Wood Hotel; Dag 2: nej; +Middag på hotellet" in page
    assert "Bekräftelse: Innovationsmötet" in page
    # The email's kind and state in words, not OSA's codes.
    html = admin_client.get(f"/admin/invitees/{anna.id}").get_data(as_text=True)
    emails = re.sub(r"<[^>]+>", " ", re.search(r'id="emails">(.*?)</table>', html, re.S).group(1))
    assert "Bekräftelse av ett svar" in emails and "i kö" in emails
    assert not re.search(r"\b(confirmation|queued)\b", emails)


def seen(page) -> str:
    """How many changes the answer had when the form was made (its hidden field)."""
    return re.search(r'name="seen" type="hidden" value="(\d+)"', page.get_data(as_text=True)).group(1)


@pytest.mark.both_backends
def test_an_answer_changed_by_someone_else_while_a_form_was_open_is_not_undone_by_saving_that_form(
    before_deadline, event, client, admin_client
):
    anna = add_invitee(event)
    path = f"/admin/invitees/{anna.id}/answer"
    mine = {"day_day1": "yes", "transport_day1": "bus", "meal_lunch-day1": "y", "day_day2": "no"}
    # Anna opens her page in two tabs, and answers in the first; the second tab may still save.
    first, second = client.get(link_path(anna)), client.get(link_path(anna))
    assert client.post(link_path(anna), data={"csrf_token": csrf_token(first), "seen": seen(first), **mine}).status_code == 303
    again = {**mine, "diet_vegetarian": "y"}
    assert client.post(link_path(anna), data={"csrf_token": csrf_token(second), "seen": seen(second), **again}).status_code == 303
    # She opens it once more; meanwhile she phones the secretariat, who add the dinner for her.
    hers = client.get(link_path(anna))
    form = admin_client.get(path)
    assert admin_client.post(path, data={"csrf_token": csrf_token(form), "seen": seen(form),
                                         **again, "meal_dinner-day1": "y"}).status_code == 302
    db.session.rollback()
    confirmations = db.session.scalar(select(func.count(Outbox.id)).where(Outbox.kind == "confirmation"))
    before = database_state(db.session, TABLES)

    # Her open page, saved with a comment, would take the dinner away unseen: it is not saved.
    stale = client.post(link_path(anna), data={"csrf_token": csrf_token(hers), "seen": seen(hers), **again,
                                               "comment": "Jag kommer med tåget"})
    assert stale.status_code == 409
    text = page_text(stale)
    assert ("Sekretariatet ändrade ditt svar måndag 1 november 2021 kl. " in text
            and "Inget av det du skickade är sparat: formuläret visar nu ditt svar som det är." in text)
    assert "Ditt svar är sparat" not in text
    assert re.search(r'name="meal_dinner-day1"[^>]* checked', stale.get_data(as_text=True))  # the answer as it is
    assert database_state(db.session, TABLES) == before
    # Saved again from what the page now shows, it goes through, with the dinner.
    resent = client.post(link_path(anna), data={"csrf_token": csrf_token(stale), "seen": seen(stale), **again,
                                                "meal_dinner-day1": "y", "comment": "Jag kommer med tåget"})
    assert resent.status_code == 303
    db.session.rollback()
    assert db.session.scalar(select(func.count(Outbox.id)).where(Outbox.kind == "confirmation")) == confirmations + 1

    # The other way round: the secretariat's open form after Anna has changed her answer.
    form = admin_client.get(path)
    page = client.get(link_path(anna))
    assert client.post(link_path(anna), data={"csrf_token": csrf_token(page), "seen": seen(page), **again,
                                              "day_day2": "yes"}).status_code == 303
    refused = admin_client.post(path, data={"csrf_token": csrf_token(form), "seen": seen(form), **again})
    assert refused.status_code == 409
    assert "Anna Andersson ändrade svaret måndag 1 november 2021 kl. " in page_text(refused)
    assert re.search(r'id="day_day2-yes"[^>]* checked', refused.get_data(as_text=True))
    db.session.rollback()
    assert current_snapshot(anna.id)["days"]["day2"]["attending"] is True


def test_an_inconsistent_answer_on_someones_behalf_is_refused_and_changes_nothing(before_deadline, event, admin_client):
    anna = add_invitee(event)
    path = f"/admin/invitees/{anna.id}/answer"
    before = database_state(db.session, TABLES)
    refused = admin_client.post(path, data={
        "csrf_token": csrf_token(admin_client.get(path)), "day_day1": "no", "meal_dinner-day1": "y", "day_day2": "no",
    })
    assert refused.status_code == 400
    assert "Inget är sparat ännu." in page_text(refused)
    assert database_state(db.session, TABLES) == before


@pytest.mark.parametrize("language, name, switch", [
    ("sv", "Innovationsmötet med Svenska Industrikommuner", "In English"),
    ("en", "The Swedish Industrial Municipalities' innovation meeting", "På svenska"),
])
def test_every_admin_page_is_in_one_language_from_its_header_down(before_deadline, event, admin_client, language,
                                                                  name, switch):
    anna = add_invitee(event)
    admin_client.post(f"/admin/language/{language}", data={"csrf_token": csrf_token(admin_client.get("/admin/"))})
    for path in ("/admin/", "/admin/event", "/admin/invitees", f"/admin/invitees/{anna.id}", "/admin/invitees/new",
                 "/admin/import", "/admin/send", "/admin/previews", "/admin/mail", "/admin/lists", "/admin/hotel",
                 "/admin/privacy"):
        page = admin_client.get(path)
        markup = page.get_data(as_text=True)
        header = html_text(markup.split("</header>")[0])
        assert f'<html lang="{language}">' in markup, path
        assert name in header and switch in header, (path, header)


def test_the_dashboards_chart_writes_its_days_and_legend_in_the_admins_language(event, admin_client):
    from service.answers import Answer, DayAnswer, save_answer
    from service.db import write_transaction

    def words(language: str) -> list[str]:
        with time_machine.travel(dt.datetime(2021, 11, 7, 9, 0, tzinfo=dt.timezone.utc), tick=False):
            sign_in(admin_client)
            admin_client.post(f"/admin/language/{language}",
                              data={"csrf_token": csrf_token(admin_client.get("/admin/"))})
            chart = admin_client.get("/admin/chart.svg")
        assert chart.mimetype == "image/svg+xml"
        assert "style-src 'unsafe-inline'" in chart.headers["Content-Security-Policy"]  # its own styles, no script
        return [text.text.strip() for text in ElementTree.fromstring(chart.data).iter("{http://www.w3.org/2000/svg}text")]

    # Before anyone has answered: counts in whole people, from 0 to 1.
    assert {"kommer: 0", "kommer inte: 0", "0", "1", "7 nov."} == set(words("sv"))
    people = [add_invitee(event, name, f"{name.split()[0].lower()}@example.se")
              for name in ("Åsa Öberg", "Bo Berg", "Cia Ek")]
    for day, person, coming in ((1, people[0], True), (3, people[1], True), (6, people[2], False)):
        with time_machine.travel(dt.datetime(2021, 11, day, 9, 0, tzinfo=dt.timezone.utc), tick=False):
            with write_transaction():
                save_answer(person, Answer(days={"day1": DayAnswer(coming), "day2": DayAnswer(coming)}))

    # Words are text, set by the browser in its own font: every letter shows (a picture's font had no ö).
    swedish = words("sv")
    assert {"kommer: 2", "kommer inte: 1", "1 nov.", "7 nov."} <= set(swedish), swedish
    english = words("en")
    assert {"coming: 2", "not coming: 1", "1 Nov", "7 Nov"} <= set(english), english


@pytest.mark.both_backends
def test_the_answers_over_time_count_each_invitees_answer_as_it_stood_at_each_swedish_midnight(event, admin_client):
    from service.answers import Answer, DayAnswer, save_answer
    from service.db import write_transaction

    asa, bo = add_invitee(event, "Åsa Öberg", "asa@example.se"), add_invitee(event, "Bo Berg", "bo@example.se")
    for when, person, coming in ((dt.datetime(2021, 11, 1, 9, 0), asa, True),
                                 (dt.datetime(2021, 11, 2, 23, 30), bo, True),  # 00.30 on 3 November in Sweden
                                 (dt.datetime(2021, 11, 4, 8, 0), asa, False),  # changes her mind
                                 (dt.datetime(2021, 11, 4, 9, 0), asa, False)):  # and saves it again
        with time_machine.travel(when.replace(tzinfo=dt.timezone.utc), tick=False):
            with write_transaction():
                save_answer(person, Answer(days={"day1": DayAnswer(coming), "day2": DayAnswer(coming)}))
    with time_machine.travel(dt.datetime(2021, 11, 5, 12, 0, tzinfo=dt.timezone.utc), tick=False):
        sign_in(admin_client)
        table = admin_client.get("/admin/numbers").get_data(as_text=True).split('id="over-time">')[1].split("</table>")[0]
    rows = [(day, int(coming), int(not_coming)) for day, coming, not_coming in
            re.findall(r'<th scope="row">([^<]+)</th><td>(\d+)</td><td>(\d+)</td>', table)]
    assert rows == [("måndag 1 november 2021", 1, 0), ("tisdag 2 november 2021", 1, 0),
                    ("onsdag 3 november 2021", 2, 0), ("torsdag 4 november 2021", 1, 1), ("fredag 5 november 2021", 1, 1)]


def test_an_action_on_an_invitee_someone_else_removed_meanwhile_says_so_in_the_admins_language(
        before_deadline, event, admin_client):
    anna = add_invitee(event)
    page = admin_client.get(f"/admin/invitees/{anna.id}")  # open in one tab…
    anna.removed_at = utcnow()  # …while a colleague removes her
    db.session.commit()
    before = database_state(db.session, TABLES)
    refused = admin_client.post(f"/admin/invitees/{anna.id}/new-link", data={"csrf_token": csrf_token(page),
                                                                             "confirmed": "yes"})
    assert refused.status_code == 409
    shown = page_text(refused)
    assert "Det här har ändrats under tiden" in shown and "ladda om sidan" in shown
    assert "conflict" not in shown.lower() and "409" not in shown  # not the web server's English
    assert database_state(db.session, TABLES) == before


def test_a_new_link_revokes_the_old_and_sends_the_invitation_with_the_new(before_deadline, event, admin_client):
    anna = add_invitee(event)
    old = link_path(anna)
    page = admin_client.get(f"/admin/invitees/{anna.id}")
    asked = admin_client.post(f"/admin/invitees/{anna.id}/new-link", data={"csrf_token": csrf_token(page)})
    assert "Göra en ny länk för Anna Andersson? Länken de har nu slutar fungera" in page_text(asked)
    assert admin_client.get(old).status_code == 200  # asking changes nothing
    assert admin_client.post(f"/admin/invitees/{anna.id}/new-link", data={
        "csrf_token": csrf_token(page), "confirmed": "yes"}).status_code == 302
    db.session.rollback()
    anna = db.session.get(Invitee, anna.id)
    assert admin_client.get(old).status_code == 403
    invitation = db.session.scalar(select(Outbox).where(Outbox.invitee_id == anna.id, Outbox.kind == "invitation"))
    # The token carries the second it was signed, so the mail's link is read, not signed again here.
    sent = re.search(r"https?://[^/\s]+(/r/[\w.-]+)", invitation.body_text).group(1)
    assert sent != old
    opened = admin_client.get(sent)
    assert opened.status_code == 200
    assert "Anna Andersson" in page_text(opened)

    resend = admin_client.post(f"/admin/invitees/{anna.id}/resend", data={"csrf_token": csrf_token(page)})
    assert resend.status_code == 302
    db.session.rollback()
    assert db.session.scalar(select(func.count(Outbox.id)).where(Outbox.invitee_id == anna.id)) == 2


def test_a_removed_invitee_leaves_the_numbers_and_their_link_stops(before_deadline, event, admin_client):
    anna = add_invitee(event)
    add_invitee(event, name="Bo Berg", email="bo.berg@example.se")
    page = admin_client.get(f"/admin/invitees/{anna.id}")
    asked = admin_client.post(f"/admin/invitees/{anna.id}/remove", data={"csrf_token": csrf_token(page)})
    assert "Ta bort Anna Andersson från listan?" in page_text(asked)
    assert admin_client.get(link_path(anna)).status_code == 200  # asking changes nothing
    for action in ("remove", "new-link", "resend", "restore"):  # the question reloaded: back to their page
        again = admin_client.get(f"/admin/invitees/{anna.id}/{action}")
        assert (again.status_code, again.headers["Location"]) == (302, f"/admin/invitees/{anna.id}"), action
    assert admin_client.get(link_path(anna)).status_code == 200
    admin_client.post(f"/admin/invitees/{anna.id}/remove", data={"csrf_token": csrf_token(page), "confirmed": "yes"})
    assert admin_client.get(link_path(anna)).status_code == 410
    assert listed_names(admin_client, "") == {"Bo Berg"}
    assert listed_names(admin_client, "?status=removed") == {"Anna Andersson"}
    assert re.search(r"1 inbjudna", page_text(admin_client.get("/admin/")))


def test_the_list_filters_by_status_role_organisation_transport_and_search(before_deadline, event, admin_client):
    add_invitee(event, name="Anna Andersson", email="anna@example.se")
    add_invitee(event, name="Bo Berg", email="bo@example.se", role="official")
    new = admin_client.get("/admin/invitees/new")
    added = admin_client.post("/admin/invitees/new", data={
        "csrf_token": csrf_token(new), "name": "Cecilia Ceder", "email": "cecilia@example.org",
        "organisation": "Luleå kommun", "role": "official", "language": "en"})
    assert added.status_code == 302
    bad = admin_client.post("/admin/invitees/new", data={
        "csrf_token": csrf_token(new), "name": "", "email": "inte-en-adress", "role": "", "language": "sv"})
    assert bad.status_code == 400
    assert "namnet saknas" in page_text(bad) and "'inte-en-adress' är inte en giltig e-postadress" in page_text(bad)
    empty = admin_client.post("/admin/invitees/new", data={"csrf_token": csrf_token(new), "name": "", "email": "",
                                                           "organisation": "", "role": "", "language": ""})
    assert empty.status_code == 400  # said of the fields, not of a file without invitees
    assert "namnet saknas" in page_text(empty) and "e-postadressen saknas" in page_text(empty)
    assert "rubrikrad" not in page_text(empty)

    assert listed_names(admin_client, "") == {"Anna Andersson", "Bo Berg", "Cecilia Ceder"}
    assert listed_names(admin_client, "?role=official") == {"Bo Berg", "Cecilia Ceder"}
    assert listed_names(admin_client, "?organisation=Luleå+kommun") == {"Cecilia Ceder"}
    assert listed_names(admin_client, "?q=EXAMPLE.ORG") == {"Cecilia Ceder"}
    assert listed_names(admin_client, "?status=no_answer&q=bo") == {"Bo Berg"}
    assert listed_names(admin_client, "?transport=bus") == set()


def test_adding_someone_with_an_address_already_on_the_list_is_refused_and_changes_no_one(event, admin_client):
    """Two people share the municipality's address, or the secretariat types one already there: the form
    says whose it is, and the one on the list keeps their name, role and language."""
    anna = add_invitee(event, name="Anna Andersson", email="kommunen@example.se", role="kso", language="en")
    before = database_state(db.session, TABLES)
    new = admin_client.get("/admin/invitees/new")
    refused = admin_client.post("/admin/invitees/new", data={
        "csrf_token": csrf_token(new), "name": "Bo Berg", "email": "Kommunen@example.se", "organisation": "",
        "role": "", "language": "sv"})
    assert refused.status_code == 400
    assert "'Kommunen@example.se' är redan adressen till Anna Andersson" in page_text(refused)
    db.session.rollback()
    assert database_state(db.session, TABLES) == before

    with write_transaction():  # removed from the list: adding her address again brings her back
        take_off_list(db.session.get(Invitee, anna.id))
    added = admin_client.post("/admin/invitees/new", data={
        "csrf_token": csrf_token(new), "name": "Anna Andersson", "email": "kommunen@example.se",
        "organisation": "Umeå kommun", "role": "kso", "language": "en"})
    assert added.status_code == 302 and added.location == f"/admin/invitees/{anna.id}"
    db.session.rollback()
    anna = db.session.get(Invitee, anna.id)
    assert (anna.removed_at, anna.organisation) == (None, "Umeå kommun")


def test_the_secretariat_corrects_a_name_a_role_and_a_language_and_the_invitee_keeps_their_link_and_answer(
    before_deadline, app, event, admin_client
):
    anna = add_invitee(event, name="Ana Andersson", email="anna@example.se", role="official", language="sv")
    path, invitees_phone = link_path(anna), app.test_client()
    assert "Separata samtal mellan övriga (tjänstemän)" in page_text(invitees_phone.get(path))
    page = admin_client.get(f"/admin/invitees/{anna.id}")
    assert f'href="/admin/invitees/{anna.id}/details"' in page.get_data(as_text=True)
    form = admin_client.get(f"/admin/invitees/{anna.id}/details")
    assert "Ändra uppgifterna för Ana Andersson" in page_text(form)
    assert '<option value="official" selected>' in form.get_data(as_text=True)

    before = database_state(db.session, TABLES)
    refused = admin_client.post(f"/admin/invitees/{anna.id}/details", data={
        "csrf_token": csrf_token(form), "name": "", "organisation": "Skellefteå kommun", "role": "borgmästare",
        "language": "sv"})
    assert refused.status_code == 400
    assert "namnet saknas" in page_text(refused) and "okänd roll 'borgmästare'" in page_text(refused)
    db.session.rollback()
    assert database_state(db.session, TABLES) == before

    saved = admin_client.post(f"/admin/invitees/{anna.id}/details", data={
        "csrf_token": csrf_token(form), "name": "Anna Andersson", "organisation": "Skellefteå kommun",
        "role": "kso", "language": "en"})
    assert saved.status_code == 302 and saved.location == f"/admin/invitees/{anna.id}"
    assert "Uppgifterna för Anna Andersson är sparade." in page_text(admin_client.get(saved.location))
    answer_page = page_text(invitees_phone.get(path))  # the same link, now in English with the KSO's programme
    assert "Hello Anna Andersson!" in answer_page and "Separate talks for chairs of executive boards" in answer_page
    assert "(officials)" not in answer_page
    db.session.rollback()
    assert listed_names(admin_client, "?role=kso") == {"Anna Andersson"}


def test_the_admins_forms_say_what_is_wrong_in_the_secretariats_language_not_in_wtforms_english(app, event, admin_client):
    anna = add_invitee(event, name="Anna Andersson", email="anna@example.se")
    new = admin_client.get("/admin/invitees/new")
    long_name = admin_client.post("/admin/invitees/new", data={
        "csrf_token": csrf_token(new), "name": "Anna " + "x" * 200, "email": "anna.x@example.se", "language": "sv"})
    address = admin_client.get(f"/admin/invitees/{anna.id}/address")
    long_address = admin_client.post(f"/admin/invitees/{anna.id}/address", data={
        "csrf_token": csrf_token(address), "email": "a" * 310 + "@example.se"})
    assert long_name.status_code == 400 and "Namn Högst 200 tecken, tack." in page_text(long_name)
    assert "E-post Högst 320 tecken, tack." in page_text(long_address)

    stranger = app.test_client()
    login = stranger.get("/admin/login")
    empty = stranger.post("/admin/login", data={"csrf_token": csrf_token(login), "username": "", "password": ""})
    assert "Skriv ditt användarnamn." in page_text(empty) and "Skriv ditt lösenord." in page_text(empty)
    for page in (long_name, long_address, empty):
        assert "Field cannot be longer" not in page_text(page) and "This field is required" not in page_text(page)
    assert db.session.scalar(select(func.count()).select_from(Invitee)) == 1


@pytest.mark.both_backends
def test_the_list_pages_through_many_invitees_and_searches_them_in_the_database(event, admin_client):
    db.session.add_all(Invitee(event=event, name=f"Inbjuden {n:03d}", email=f"inbjuden{n}@example.se",
                               email_key=f"inbjuden{n}@example.se", organisation=f"Kommun {n % 7}", language="sv")
                       for n in range(250))
    db.session.add(Invitee(event=event, name="Åsa Öberg", email="asa.oberg@example.se", email_key="asa.oberg@example.se",
                           organisation="Älvsbyns kommun", language="sv"))
    db.session.commit()
    first = admin_client.get("/admin/invitees")
    assert len(listed_names(admin_client, "")) == 100
    assert "251 av 251 inbjudna" in page_text(first) and "Sida 1 av 3" in page_text(first)
    pages = [listed_names(admin_client, f"?page={n}") for n in (1, 2, 3)]
    assert [len(names) for names in pages] == [100, 100, 51] and len(set().union(*pages)) == 251
    assert "Sida 3 av 3" in page_text(admin_client.get("/admin/invitees?page=99"))
    assert listed_names(admin_client, "?q=åsa") == {"Åsa Öberg"}  # lower-case finds upper-case Å
    assert listed_names(admin_client, "?q=ÄLVSBYN") == {"Åsa Öberg"}
    assert listed_names(admin_client, "?q=100%25") == set()  # a % is a character, not a wildcard
    filtered = admin_client.get("/admin/invitees?organisation=Kommun+3&page=1")
    assert "36 av 251 inbjudna" in page_text(filtered) and "Sida" not in page_text(filtered)
    # A NUL pasted into a filter (which PostgreSQL refuses in a text) is left out, not an error page.
    pasted = admin_client.get("/admin/invitees?q=%C3%85sa%00&organisation=%C3%84lvsbyns+kommun%00&role=%00&transport=%00")
    assert pasted.status_code == 200 and "1 av 251 inbjudna" in page_text(pasted)
    assert listed_names(admin_client, "?q=%C3%85sa%00") == {"Åsa Öberg"}
    # A name is found without its accents (but å, ä and ö are letters of their own, as in the list's order).
    db.session.add(Invitee(event=event, name="José Müller", email="jm@example.org", email_key="jm@example.org",
                           organisation="Kiruna kommun", language="en"))
    db.session.commit()
    assert listed_names(admin_client, "?q=jose+m") == {"José Müller"}
    assert listed_names(admin_client, "?q=JOSÉ") == {"José Müller"}
    assert listed_names(admin_client, "?q=asa+öberg") == set()


# --- Import ---------------------------------------------------------------------------------


def test_an_import_with_an_error_reports_the_row_and_imports_nothing(event, admin_client, celery_worker):
    page = admin_client.get("/admin/import")
    bad = "namn;e-post;roll\nAnna Andersson;anna@example.se;kso\nBo Berg;bo-at-example.se;official\n"
    before = database_state(db.session, TABLES)
    response = admin_client.post("/admin/import", data={
        "csrf_token": csrf_token(page), "file": (io.BytesIO(bad.encode("cp1252")), "inbjudna.csv")},
        content_type="multipart/form-data")
    result = import_finished(admin_client, response)
    assert "Filen har fel, så inget importerades" in result
    assert "rad 3, e-post: 'bo-at-example.se' är inte en giltig e-postadress" in result
    db.session.rollback()
    assert database_state(db.session, TABLES) == before

    good = bad.replace("bo-at-example.se", "bo@example.se")
    response = admin_client.post("/admin/import", data={
        "csrf_token": csrf_token(page), "file": (io.BytesIO(good.encode("cp1252")), "inbjudna.csv")},
        content_type="multipart/form-data")
    assert "inbjudna.csv: 2 tillagda, 0 uppdaterade, 0 oförändrade." in import_finished(admin_client, response)
    db.session.rollback()
    assert db.session.scalars(select(ImportJob.data)).all() == [b"", b""]  # the files are not kept


def test_a_problem_on_many_lines_is_reported_once_with_its_first_lines(event, admin_client, celery_worker):
    rows = "".join(f"Inbjuden {n};inbjuden{n}@example.se;{'x' if n % 3 == 0 else 'kso'}\n" for n in range(3000))
    page = admin_client.get("/admin/import")
    response = admin_client.post("/admin/import", data={
        "csrf_token": csrf_token(page), "file": (io.BytesIO(("namn;e-post;roll\n" + rows).encode()), "inbjudna.csv")},
        content_type="multipart/form-data")
    result = import_finished(admin_client, response)
    assert ("roll: okänd roll 'x' (evenemangets roller: 'kso', 'official') på 1 000 rader: "
            "2, 5, 8, 11, 14, 17, 20, 23, 26, 29, 32, 35, 38, 41, 44, 47, 50, 53, 56, 59, … (visar de 20 första)") in result
    assert result.count("okänd roll") == 1
    db.session.rollback()
    assert db.session.scalar(select(func.count(Invitee.id))) == 0


def test_an_import_in_progress_shows_how_far_it_has_come(event, admin_client):
    job = ImportJob(event_id=event.id, filename="kommuner.csv", data=b"...", state="checking", rows=20001,
                    checked=5000, by="sekretariatet")
    db.session.add(job)
    db.session.commit()
    status = admin_client.get(f"/admin/import/{job.id}/status").get_data(as_text=True)
    assert '<progress max="100" value="24">' in status and "5000 av ungefär 20001 rader kontrollerade" in status
    page = admin_client.get(f"/admin/import/{job.id}")
    assert "Import av kommuner.csv" in page_text(page) and "data-finished" not in page.get_data(as_text=True)
    assert admin_client.get(f"/admin/import/{job.id + 1}").status_code == 404


def test_a_file_over_the_limit_is_refused_unread(event, other_app):
    app = other_app(MAX_UPLOAD_MB=0.25)  # a quarter of a megabyte: the test client keeps the upload in memory
    client = app.test_client()
    with app.app_context():
        add_admin()
    sign_in(client)
    page = client.get("/admin/import")
    big = ("namn;e-post\n" + "".join(f"Inbjuden {n};inbjuden{n}@example.se\n" for n in range(9000))).encode()
    assert 2**18 < len(big) < 500 * 1024
    refused = client.post("/admin/import", data={"csrf_token": csrf_token(page), "file": (io.BytesIO(big), "stor.csv")},
                          content_type="multipart/form-data")
    assert refused.status_code == 413
    assert "Filen är större än 0.25 MB, det mesta importen tar, så den lästes inte och inget importerades" in page_text(refused)
    with app.app_context():
        assert db.session.scalar(select(func.count(ImportJob.id))) == 0


# --- Mail -----------------------------------------------------------------------------------


KINDS = ("invitation", "confirmation", "decline", "moved_up", "reminder", "day_before",
         "daily_report", "hotel_final", "hotel_change")


@pytest.mark.parametrize("language", ["sv", "en"])
def test_every_kind_of_email_has_a_preview_and_writes_nothing(before_deadline, event, admin_client, language):
    add_invitee(event)
    before = database_state(db.session, TABLES)
    for kind in KINDS:
        page = admin_client.get(f"/admin/previews/{kind}/{language}")
        assert page.status_code == 200, kind
        subject = re.search(r'<dd class="subject">([^<]+)</dd>', page.get_data(as_text=True)).group(1)
        assert ("Innovationsmötet" if language == "sv" else "innovation meeting") in subject, kind
        frame = admin_client.get(f"/admin/previews/{kind}/{language}/html")
        assert frame.status_code == 200 and frame.get_data(as_text=True).lstrip().lower().startswith("<!doctype html")
        assert "frame-ancestors 'self'" in frame.headers["Content-Security-Policy"]
    assert admin_client.get("/admin/previews/nonsense/sv").status_code == 404
    assert database_state(db.session, TABLES) == before


def test_the_change_notice_preview_says_the_same_time_in_its_change_and_in_the_details(before_deadline, event,
                                                                                     admin_client):
    """The preview's sample change ends at the time the event has, which the rest of the notice shows."""
    add_invitee(event)
    text = page_text(admin_client.get("/admin/previews/event_change/sv"))
    assert "Bussen från The Wood Hotel går kl. 09.00 i stället för 09.15." in text
    assert "09.15" not in text.replace("i stället för 09.15", "")
    assert "Bussen från The Wood Hotel: kl. 09.00" in text


def test_the_hotels_change_notice_preview_before_any_numbers_shows_a_likely_change(before_deadline, event,
                                                                                 admin_client):
    """Before the cut-off the hotel has no numbers: the preview shows one person fewer on the first day,
    not every count rising from nothing."""
    answer_directly(add_invitee(event), True, True)
    text = page_text(admin_client.get("/admin/previews/hotel_change/sv"))
    assert "visar en exempeländring: en person färre den första dagen" in text
    assert "Dag 1, torsdag 25 november 2021: 2 → 1 person - Lunch torsdag 25 november 2021 kl. 12.00: 1 → 0" in text
    assert "0 →" not in text and "Dag 2" not in text


def test_the_invitation_preview_is_the_invitation_as_sent(before_deadline, event, admin_client):
    anna = add_invitee(event, language="en")
    # The personal link carries the second it was signed: preview and send happen in the same second.
    with time_machine.travel(utcnow(), tick=False):
        preview = admin_client.get(f"/admin/previews/invitation/en?invitee={anna.id}").get_data(as_text=True)
        queue_invitation(anna)
        db.session.commit()
    text_part = re.search(r'<pre class="text-part">(.*?)</pre>', preview, re.S).group(1)
    sent = db.session.scalar(select(Outbox).where(Outbox.invitee_id == anna.id))
    assert text_part == str(escape(sent.body_text))
    assert f'<dd class="subject">{escape(sent.subject)}</dd>' in preview


def test_a_round_that_cannot_reach_the_workers_says_so_and_writes_nothing(before_deadline, event, other_app):
    add_invitee(event)
    app = other_app(BROKER_URL="redis://127.0.0.1:1/0")  # the workers' queue is down
    admin_client = app.test_client()
    with app.app_context():
        add_admin()
    sign_in(admin_client)
    page = admin_client.get("/admin/send")
    assert "Skicka 1 inbjudan" in page_text(page)
    sent = admin_client.post("/admin/send", data={"csrf_token": csrf_token(page)}, follow_redirects=True)
    assert "Bakgrundsprocessernas kö går inte att nå, så utskicket har inte börjat" in page_text(sent)
    assert db.session.scalar(select(func.count(Outbox.id))) == 0


def test_the_mail_log_filters_and_retries_a_failed_email(before_deadline, app, event, admin_client):
    anna = add_invitee(event)
    bo = add_invitee(event, name="Bo Berg", email="bo@example.se")
    app.config["BROKER_URL"] = "redis://127.0.0.1:1/0"  # no broker: rows stay queued for the sweeper
    for invitee in (anna, bo):
        queue_invitation(invitee)
    db.session.commit()
    failed = db.session.scalar(select(Outbox).where(Outbox.invitee_id == bo.id))
    failed.state, failed.attempts, failed.last_error = "failed", 1, "550 5.1.1 no such user"
    db.session.commit()

    log = admin_client.get("/admin/mail?state=failed")
    text_ = page_text(log)
    assert "bo@example.se" in text_ and "550 5.1.1 no such user" in text_
    assert "anna.andersson@example.se" not in text_
    retried = admin_client.post("/admin/mail/retry", data={"csrf_token": csrf_token(log), "id": str(failed.id)})
    assert retried.status_code == 302
    db.session.rollback()
    row = db.session.get(Outbox, failed.id)
    assert (row.state, row.attempts, row.last_error) == ("queued", 0, "")
    message = page_text(admin_client.get(f"/admin/mail/{row.id}"))
    assert "1 e-postmeddelande är köat igen." in message
    assert row.message_id.strip("<>") in message and "Inbjudan: Innovationsmötet" in message


# --- Exports and the hotel ------------------------------------------------------------------


def answer_directly(invitee, day1: bool, day2: bool) -> None:
    """An answer written straight to the tables (the export reads them; how they got there is not its business)."""
    days = {day.key: day for day in invitee.event.days}
    db.session.add(Response(
        invitee=invitee, allergies="=1+1 nötter" if day1 else "",
        days=[ResponseDay(day=days["day1"], attending=day1), ResponseDay(day=days["day2"], attending=day2)],
    ))
    db.session.commit()


def test_the_invitees_page_words_their_answer_about_them_not_to_them(before_deadline, event, admin_client):
    from service.answers import Answer, DayAnswer, save_answer
    from service.db import write_transaction

    flyer = add_invitee(event, "Flora Flyg", "flora@example.se")
    with write_transaction():
        save_answer(flyer, Answer(days={"day1": DayAnswer(True, "airport", "SK 2014", dt.time(9, 5)),
                                        "day2": DayAnswer(False)}))
    page = page_text(admin_client.get(f"/admin/invitees/{flyer.id}"))
    assert "Flyget SK 2014 landar kl. 09.05." in page and "Ditt flyg" not in page
    assert "Ditt flyg SK 2014 landar kl. 09.05." in page_text(admin_client.get(link_path(flyer) + "/data"))  # to Flora


def test_the_xlsx_export_has_a_row_per_invitee_equal_to_the_database(before_deadline, event, admin_client):
    people = [add_invitee(event, name=name, email=f"{name.split()[0].lower()}@example.se")
              for name in ("Åsa Öberg", "Bo Berg", "Cecilia Ceder", "David Dahl")]
    answer_directly(people[0], True, False)
    answer_directly(people[1], False, False)
    answer_directly(people[2], True, True)
    response = admin_client.get("/admin/export/answers.xlsx")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].endswith('.xlsx"')
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    assert header[:6] == ("Namn", "E-post", "Organisation", "Roll", "Språk", "Svar")
    by_name = {row[0]: dict(zip(header, row)) for row in rows[1:]}

    db.session.rollback()
    expected = {}
    for invitee in db.session.scalars(select(Invitee).where(Invitee.event_id == event.id)):
        days = {d.day.key: d.attending for d in invitee.response.days} if invitee.response else {}
        expected[invitee.name] = (invitee.email, invitee.language,
                                  None if not days else any(days.values()), days.get("day1"), days.get("day2"),
                                  invitee.response.allergies if invitee.response else "")
    assert set(by_name) == set(expected)
    states = {None: "ej svarat", True: "kommer", False: "kommer inte"}
    yes_no = {None: None, True: "ja", False: "nej"}
    for name, (email, language, attending, day1, day2, allergies) in expected.items():
        row = by_name[name]
        assert (row["E-post"], row["Språk"], row["Svar"]) == (email, language, states[attending])
        assert (row["Dag 1"], row["Dag 2"]) == (yes_no[day1], yes_no[day2])
        assert (row["Allergier"] or "") == allergies  # "=1+1 nötter" stays text, never a formula
    assert sheet.cell(row=2, column=1).font.bold is False and sheet.cell(row=1, column=1).font.bold is True


def test_the_bus_and_pickup_lists_show_who_travels(before_deadline, event, admin_client):
    anna = add_invitee(event)
    bo = add_invitee(event, "Bo Berg", "bo.berg@example.se")
    cia = add_invitee(event, "Cia Carlsson", "cia.carlsson@example.se")
    for person, flight, lands in ((anna, "SK 2014", "09:05"), (bo, "SK 2014", "09:05"), (cia, "SK 2010", "08:40")):
        path = f"/admin/invitees/{person.id}/answer"
        admin_client.post(path, data={"csrf_token": csrf_token(admin_client.get(path)), "day_day1": "yes",
                                      "transport_day1": "airport", "flight_number_day1": flight,
                                      "flight_arrival_day1": lands, "day_day2": "no"})
    pickup = page_text(admin_client.get("/admin/lists/transport/airport"))
    assert "Anna Andersson" in pickup and "SK 2014" in pickup and "09.05" in pickup
    assert "Anna Andersson" not in page_text(admin_client.get("/admin/lists/transport/bus"))
    assert admin_client.get("/admin/lists/transport/rocket").status_code == 404
    # The dashboard lists the flights as the driver meets them: by landing time, each flight's people together.
    dashboard = page_text(admin_client.get("/admin/"))
    flights = dashboard.split("Flyg att hämta")[1]
    assert flights.index("Cia Carlsson: SK 2010 08.40") < flights.index("Anna Andersson: SK 2014 09.05") \
        < flights.index("Bo Berg: SK 2014 09.05")


def test_each_day_has_a_list_to_tick_at_the_door_and_the_hotel_a_rooming_list(before_deadline, event, admin_client):
    from service.answers import Answer, DayAnswer, save_answer
    from service.db import write_transaction

    anna = add_invitee(event)
    bo = add_invitee(event, "Bo Berg", "bo.berg@example.se", "official")
    cia = add_invitee(event, "Cia Ek", "cia.ek@example.se", "official")
    dan = add_invitee(event, "Dan Ek", "dan.ek@example.se", "official")
    next(night for night in event.hotel_nights if night.key == "night-24").capacity = 2
    db.session.commit()
    with write_transaction():
        save_answer(anna, Answer(days={"day1": DayAnswer(True, "own"), "day2": DayAnswer(False)},
                                 hotel_nights={"night-24", "night-25"}))
        save_answer(dan, Answer(days={"day1": DayAnswer(False), "day2": DayAnswer(True)},
                                hotel_nights={"night-24"}))
    with write_transaction():  # the first night is full: Bo waits for a room that night, and has the next
        save_answer(bo, Answer(days={"day1": DayAnswer(False), "day2": DayAnswer(True)},
                               hotel_nights={"night-24", "night-25"}))
        save_answer(cia, Answer.decline(event))

    lists = page_text(admin_client.get("/admin/lists"))
    assert "Deltagare per dag" in lists and "Dag 1, torsdag 25 november 2021" in lists
    assert "Rumslista, The Wood Hotel" in lists
    day1 = admin_client.get("/admin/lists/day/day1").get_data(as_text=True)
    assert "Deltagare, Dag 1" in html_text(day1) and "1 person" in html_text(day1)
    assert "<td>Anna Andersson</td><td>Skellefteå kommun</td><td>KSO (politiker)</td>" in day1
    assert "Bo Berg" not in day1 and "Cia Ek" not in day1
    day2 = admin_client.get("/admin/lists/day/day2").get_data(as_text=True)
    assert "<td>Bo Berg</td><td>Skellefteå kommun</td><td>Tjänsteman</td>" in day2 and "Anna Andersson" not in day2

    # One line a stay, from the first night to the morning after the last, as a hotel checks people in.
    rooms = admin_client.get("/admin/lists/rooms").get_data(as_text=True)
    assert "Rumslista" in html_text(rooms) and "The Wood Hotel" in html_text(rooms) and "3 personer" in html_text(rooms)
    staying, waiting = rooms.split("Väntelista")
    assert ("<td>Anna Andersson</td><td>Skellefteå kommun</td><td>anna.andersson@example.se</td>"
            "<td>24 nov.</td><td>26 nov.</td><td>2</td>") in staying
    assert "<td>Bo Berg</td><td>Skellefteå kommun</td><td>bo.berg@example.se</td><td>25 nov.</td><td>26 nov.</td><td>1</td>" \
        in staying
    assert "<td>Dan Ek</td><td>Skellefteå kommun</td><td>dan.ek@example.se</td><td>24 nov.</td><td>25 nov.</td><td>1</td>" \
        in staying
    assert "Cia Ek" not in rooms
    assert "<td>Bo Berg</td><td>Skellefteå kommun</td><td>bo.berg@example.se</td><td>24 nov.</td><td>25 nov.</td><td>1</td>" \
        in waiting and "Anna Andersson" not in waiting
    # The same list as an Excel file, to send to the hotel: the waiting list on a sheet of its own.
    assert 'href="/admin/lists/rooms?format=xlsx">Ladda ner som Excel (XLSX)</a>' in rooms
    download = admin_client.get("/admin/lists/rooms?format=xlsx")
    assert download.headers["Content-Disposition"] == 'attachment; filename="innovationsmotet-2021-rumslista.xlsx"'
    book = openpyxl.load_workbook(io.BytesIO(download.data), read_only=True)
    assert book.sheetnames == ["Lista", "Väntelista"]
    assert [list(row) for row in book["Lista"].values] == [
        ["Namn", "Organisation", "E-post", "Ankomst", "Avresa", "Nätter"],
        ["Anna Andersson", "Skellefteå kommun", "anna.andersson@example.se", "24 nov.", "26 nov.", "2"],
        ["Bo Berg", "Skellefteå kommun", "bo.berg@example.se", "25 nov.", "26 nov.", "1"],
        ["Dan Ek", "Skellefteå kommun", "dan.ek@example.se", "24 nov.", "25 nov.", "1"],
    ]
    assert [row[0] for row in book["Väntelista"].values] == ["Namn", "Bo Berg"]
    day2 = openpyxl.load_workbook(io.BytesIO(admin_client.get("/admin/lists/day/day2?format=xlsx").data), read_only=True)
    assert [list(row) for row in day2["Lista"].values] == [["Namn", "Organisation", "Roll"],
                                                           ["Bo Berg", "Skellefteå kommun", "Tjänsteman"],
                                                           ["Dan Ek", "Skellefteå kommun", "Tjänsteman"]]
    assert admin_client.get("/admin/lists/day/day9").status_code == 404

    admin_client.post("/admin/language/en", data={"csrf_token": csrf_token(admin_client.get("/admin/"))})
    day1 = page_text(admin_client.get("/admin/lists/day/day1"))
    assert "Attendees, Day 1" in day1 and "The Swedish Industrial Municipalities' innovation meeting" in day1
    assert "Thursday 25 November 2021" in day1
    assert "Official" in page_text(admin_client.get("/admin/lists/day/day2"))
    rooms = page_text(admin_client.get("/admin/lists/rooms"))
    assert "Rooming list" in rooms and "Arrives Departs Nights" in rooms and "24 Nov 26 Nov 2" in rooms


@pytest.mark.both_backends
def test_lists_by_name_follow_swedish_alphabetical_order(before_deadline, event, admin_client):
    """Å, Ä and Ö come after Z, in that order, whatever the database's own collation; a name written in
    lower case and an accent do not move a name. Some are imported (rows inserted as plain rows),
    some added one by one."""
    from service.answers import Answer, DayAnswer, save_answer
    from service.db import write_transaction
    from service.invitee_import import import_invitees

    swedish_order = ["anders Lund", "de Geer", "Élise Ek", "Olle Zorn", "Yngve Ek", "Åsa Ek", "Ärla Berg",
                     "Örjan Olsson"]
    imported = "".join(f"{name};person{n}@example.se;{('Ängelholms kommun', 'Åre kommun')[n % 2]};kso\n"
                       for n, name in enumerate(swedish_order[1::2]))
    with write_transaction():
        import_invitees(event, "invitees.csv", f"Namn;E-post;Organisation;Roll\n{imported}".encode())
    for n, name in enumerate(swedish_order[::2]):
        add_invitee(event, name, f"added{n}@example.se")
    with write_transaction():
        for invitee in db.session.scalars(select(Invitee)):
            save_answer(invitee, Answer(days={"day1": DayAnswer(True, "own"), "day2": DayAnswer(False)}))

    def names(path: str) -> list[str]:
        markup = admin_client.get(path).get_data(as_text=True)
        return [name for name in re.findall(r"<td>([^<]+)</td>", markup) if name in swedish_order]

    assert names("/admin/lists/day/day1") == swedish_order
    invitees = admin_client.get("/admin/invitees").get_data(as_text=True)
    assert sorted(swedish_order, key=invitees.index) == swedish_order
    assert re.findall(r"<option>([^<]+ kommun)</option>", invitees) == ["Skellefteå kommun", "Åre kommun",
                                                                       "Ängelholms kommun"]


def test_the_hotel_link_shows_the_numbers_until_it_is_revoked(before_deadline, app, event, admin_client):
    anna = add_invitee(event)
    answer_directly(anna, True, True)
    anna.response.days[0].transport_option = next(option for option in event.transport_options if option.key == "bus")
    db.session.commit()
    # A link carries the second it was signed, so each is read from what the secretariat sees.
    hotel_link = re.compile(re.escape(app.config["BASE_URL"]) + r"(/hotel/[\w.-]+)")
    admin_page = admin_client.get("/admin/hotel")
    link = hotel_link.search(admin_page.get_data(as_text=True)).group(1)
    page = admin_client.get(link)
    assert page.status_code == 200
    text_ = page_text(page)
    assert "The Wood Hotel" in text_ and "Antal just nu" in text_
    assert re.search(r"Dag 1, torsdag 25 november 2021 1\b", text_)
    assert re.search(r"Resa Alternativ Personer Bussen från The Wood Hotel torsdag 25 november 2021 kl\. 09\.00 1\b", text_)

    final_numbers = page_text(admin_client.get("/admin/previews/hotel_final/sv"))
    assert "Antalet som det står just nu finns alltid på " + app.config["BASE_URL"] + "/hotel/" in final_numbers
    assert admin_client.get(hotel_link.search(final_numbers).group(1)).status_code == 200
    revoked_page = admin_client.post("/admin/hotel/revoke", data={"csrf_token": csrf_token(admin_page)},
                                     follow_redirects=True)
    revoked = admin_client.get(link)
    assert revoked.status_code == 403
    assert "Länken fungerar inte längre Sekretariatet har ersatt eller stängt den här länken" in page_text(revoked)
    new_link = hotel_link.search(revoked_page.get_data(as_text=True)).group(1)
    assert new_link != link and admin_client.get(new_link).status_code == 200
    assert admin_client.get("/hotel/garbage").status_code == 400


def test_the_hotel_page_shows_the_changes_since_the_final_numbers(before_deadline, app, event, client):
    from service.headcount import hotel_numbers
    from service.models import JobRun

    db.session.add(JobRun(job="hotel-final", event_id=event.id, scheduled_for=event.final_numbers_at, state="done",
                          emails=1, numbers=hotel_numbers(event)))
    db.session.commit()
    answer_directly(add_invitee(event), True, False)
    page = page_text(client.get(hotel_url(event).removeprefix(app.config["BASE_URL"])))
    assert "Det slutliga antalet skickades" in page
    assert "Ändringar sedan det slutliga antalet" in page
    assert re.search(r"Dag 1, torsdag 25 november 2021: 0 → 1 person\b", page)  # one person, not "1 personer"
    assert "De senaste av dessa når er med e-post inom en timme." in page
