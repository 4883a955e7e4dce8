"""OSA under hostile input and careless clients: text that must never be stored raw, exports
that cannot break, logs without personal data, sessions that end, sign-in limits, size limits,
and tokens that never reach a log, whatever the request line looks like."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import socket
import unicodedata

import openpyxl
import pytest
from flask import current_app, request
from sqlalchemy import select, text

from service.eventfile import read_event_file
from service.events import store_event
from service.extensions import csrf, db
from service.links import make_token
from service.models import Response

from .conftest import (
    ADMIN_PASSWORD,
    BUNDLED_EVENT,
    add_admin,
    add_invitee,
    database_restarting,
    import_finished,
    link_path,
)
from .support.helpers import csrf_token, database_state, page_text, wait_for

TABLES = ("admin_user", "invitee", "response", "response_day", "response_meal", "response_diet",
          "response_hotel_night", "response_change", "outbox")

#: Every character no free text may hold: C0 controls but tab and line breaks, DEL, C1 controls,
#: and the bidirectional embeddings, overrides and isolates.
INVISIBLE = [chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0),
                              *range(0x202A, 0x202F), *range(0x2066, 0x206A))]
#: The answer form's free-text fields (on the bundled event), with a value each that is fine alone.
ANSWER_TEXTS = {"allergies": "Nötter", "comment": "Kommer med tåget", "flight_number_day1": "SK 2014",
                "flight_arrival_day1": "09:10"}
REFUSED = "Texten innehåller ett osynligt tecken"


def answer(token: str, **fields) -> dict:
    data = {"csrf_token": token, "day_day1": "yes", "transport_day1": "airport", "day_day2": "no",
            **ANSWER_TEXTS}
    data.update(fields)
    return data


# --- Text that is never stored raw ----------------------------------------------------------


@pytest.mark.both_backends
def test_an_invisible_character_in_any_answer_text_is_refused_beside_the_field_and_nothing_is_stored(
    before_deadline, client, invitee
):
    path = link_path(invitee)
    token = csrf_token(client.get(path))
    before = database_state(db.session, TABLES)
    for name, value in ANSWER_TEXTS.items():
        for character in INVISIBLE:
            posted = client.post(path, data=answer(token, **{name: value[:2] + character + value[2:]}))
            assert posted.status_code == 400, (name, hex(ord(character)))
            html = posted.get_data(as_text=True)
            assert f'id="{name}-error">{REFUSED} (U+{ord(character):04X})' in html, (name, hex(ord(character)))
    assert database_state(db.session, TABLES) == before

    # A line break is fine where the field spans lines, and the text is stored composed (NFC).
    decomposed = unicodedata.normalize("NFD", "Åsa tar med\nnötfri kaka")
    saved = client.post(path, data=answer(token, comment=decomposed))
    assert saved.status_code == 303
    db.session.rollback()
    response = db.session.scalar(select(Response).where(Response.invitee_id == invitee.id))
    assert response.comment == "Åsa tar med\nnötfri kaka" == unicodedata.normalize("NFC", response.comment)
    on_one_line = client.post(path, data=answer(token, flight_number_day1="SK\n2014"))
    assert on_one_line.status_code == 400 and f"{REFUSED} (U+000A)" in page_text(on_one_line)


def test_the_admin_forms_refuse_invisible_characters_too(before_deadline, event, admin_client):
    anna = add_invitee(event)
    before = database_state(db.session, TABLES)
    form = admin_client.get(f"/admin/invitees/{anna.id}/answer")
    posted = admin_client.post(f"/admin/invitees/{anna.id}/answer",
                               data=answer(csrf_token(form), allergies="Nöt\x00ter"))
    assert posted.status_code == 400 and f"{REFUSED} (U+0000)" in page_text(posted)

    token = csrf_token(admin_client.get("/admin/invitees/new"))
    fine = {"name": "Bo Berg", "email": "bo@example.se", "organisation": "Luleå kommun"}
    for field, value in fine.items():
        for character in INVISIBLE:
            values = {**fine, field: value[:2] + character + value[2:]}
            refused = admin_client.post("/admin/invitees/new", data={"csrf_token": token, **values})
            assert refused.status_code == 400, (field, hex(ord(character)))
            assert "innehåller en radbrytning eller ett annat styrtecken" in page_text(refused), field
    assert database_state(db.session, TABLES) == before


def test_a_nul_in_the_sign_in_name_is_refused_with_a_note(app, client):
    add_admin()
    page = client.get("/admin/login")
    refused = client.post("/admin/login", data={"csrf_token": csrf_token(page), "username": "sekre\x00tariatet",
                                                "password": ADMIN_PASSWORD})
    assert refused.status_code == 400 and f"{REFUSED} (U+0000)" in page_text(refused)


@pytest.mark.both_backends
def test_an_old_answer_holding_control_characters_still_exports_to_xlsx_and_csv(before_deadline, event, admin_client):
    anna = add_invitee(event)
    db.session.add(Response(invitee=anna, allergies="ok", comment="x"))
    db.session.commit()
    # Written before OSA checked texts (or by hand): ESC, BEL, VT and a right-to-left override.
    db.session.execute(text("UPDATE response SET comment = :comment, allergies = :allergies"),
                       {"comment": "Kommer\x1b sent\x07", "allergies": "Nöt\x0bter \u202eokat"})
    db.session.commit()

    workbook = admin_client.get("/admin/export/answers.xlsx")
    assert workbook.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.data)).active
    row = dict(zip(*[list(r) for r in sheet.iter_rows(values_only=True)]))
    assert (row["Kommentar"], row["Allergier"]) == ("Kommer sent", "Nötter okat")

    exported = admin_client.get("/admin/export/answers.csv", buffered=True)  # read as it streams
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.data.decode("utf-8-sig")), delimiter=";"))
    assert (rows[0]["Kommentar"], rows[0]["Allergier"]) == ("Kommer sent", "Nötter okat")


def test_an_unexpected_error_logs_where_and_which_fields_never_what_was_written(app, other_app, caplog):
    app = other_app()

    @app.post("/fails")
    def fails():
        raise ValueError(f"could not use {request.form['comment']}")

    csrf.exempt(fails)

    with caplog.at_level(logging.ERROR, logger="service.errors"):
        response = app.test_client().post("/fails", data={"comment": "Åsa Öberg har celiaki"})
    assert response.status_code == 500
    assert "Något gick fel" in page_text(response) and "celiaki" not in page_text(response)
    assert "unhandled ValueError in POST fails (fields sent: comment)" in caplog.text
    assert "raise ValueError" in caplog.text  # where it happened
    assert "celiaki" not in caplog.text and "Öberg" not in caplog.text


@pytest.fixture
def failing_task(app):
    """A task with a fault nobody foresaw, whose error quotes what it was working on (as a
    PostgreSQL error's DETAIL quotes a row); registered before the worker starts."""

    @app.extensions["celery"].task(name="osa.test.fails", ignore_result=True, shared=False)
    def fails(address: str) -> None:
        raise ValueError(f"could not use {address}")

    return fails.name


def test_a_task_that_fails_logs_its_error_type_and_where_never_its_message(failing_task, celery_worker, caplog):
    with caplog.at_level(logging.ERROR):
        current_app.extensions["celery"].send_task(failing_task, args=["asa.oberg@example.se"], ignore_result=True)
        wait_for(lambda: "raised unexpected" in caplog.text, 30, "the worker to report the failure")
    assert "unhandled ValueError in task osa.test.fails" in caplog.text
    assert 'raise ValueError(f"could not use {address}")' in caplog.text  # where it happened
    assert "oberg" not in caplog.text


# --- Sessions and sign-in ------------------------------------------------------------------


def test_signing_out_makes_a_copied_session_cookie_useless(app, admin_client):
    copied = admin_client.get_cookie("session").value
    admin_client.post("/admin/logout", data={"csrf_token": csrf_token(admin_client.get("/admin/"))})

    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/admin/invitees").location.startswith("/admin/login")


def test_the_eleventh_wrong_password_for_one_account_is_refused_from_any_address(app, other_app):
    app = other_app(LOGIN_ACCOUNT_RATE_LIMIT="10 per hour", LOGIN_RATE_LIMIT="10 per minute")
    with app.app_context():
        add_admin()
        add_admin("ekonomi")

    def sign_in(address: str, username: str, password: str):
        client = app.test_client()
        environ = {"REMOTE_ADDR": address}
        token = csrf_token(client.get("/admin/login", environ_base=environ))
        return client.post("/admin/login", environ_base=environ,
                           data={"csrf_token": token, "username": username, "password": password})

    assert [sign_in(f"198.51.100.{n}", "sekretariatet", "gissning").status_code for n in range(10)] == [401] * 10
    refused = sign_in("203.0.113.7", "sekretariatet", ADMIN_PASSWORD)  # even the right password, for now
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "Vänta en minut" in page_text(refused) or "För många" in page_text(refused)
    assert sign_in("203.0.113.7", "ekonomi", ADMIN_PASSWORD).status_code == 302  # other accounts sign in


def test_an_unknown_user_name_costs_the_same_password_hashing_as_a_known_one(app, client, monkeypatch):
    add_admin()
    token = csrf_token(client.get("/admin/login"))
    client.post("/admin/login", data={"csrf_token": token, "username": "ingen", "password": "x"})  # warm up
    calls = []
    scrypt = hashlib.scrypt

    def counted(*args, **kwargs):
        calls.append(kwargs.get("n"))
        return scrypt(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counted)
    work = {}
    for username in ("sekretariatet", "ingen-sadan"):
        calls.clear()
        response = client.post("/admin/login", data={"csrf_token": token, "username": username, "password": "fel"})
        assert response.status_code == 401
        work[username] = list(calls)
    assert work["sekretariatet"] == work["ingen-sadan"] and len(work["ingen-sadan"]) == 1


def test_a_next_address_with_a_line_break_signs_in_to_the_dashboard(app, client):
    add_admin()
    token = csrf_token(client.get("/admin/login"))
    for target in ("/admin/invitees\r\nSet-Cookie: x=1", "/admin/\nx", "/admin\t/x", "/admin//evil.example.org"):
        response = client.post("/admin/login", query_string={"next": target},
                               data={"csrf_token": token, "username": "sekretariatet", "password": ADMIN_PASSWORD})
        assert response.status_code == 302 and response.location == "/admin/", target
        client.post("/admin/logout", data={"csrf_token": csrf_token(client.get("/admin/"))})
        token = csrf_token(client.get("/admin/login"))
    kept = client.post("/admin/login", query_string={"next": "/admin/invitees?q=%C3%85sa"},
                       data={"csrf_token": token, "username": "sekretariatet", "password": ADMIN_PASSWORD})
    assert kept.location == "/admin/invitees?q=%C3%85sa"


# --- Limits --------------------------------------------------------------------------------


def test_a_10_mb_form_to_an_invitee_page_gets_413_and_changes_nothing(before_deadline, client, invitee):
    path = link_path(invitee)
    before = database_state(db.session, TABLES)
    body = "comment=" + "x" * (10 * 1024 * 1024)
    refused = client.post(path, data=body, content_type="application/x-www-form-urlencoded")
    assert refused.status_code == 413
    assert "För mycket att skicka" in page_text(refused)
    assert database_state(db.session, TABLES) == before


def test_the_import_takes_a_file_larger_than_a_form(event, admin_client, celery_worker):
    rows = "".join(f"Inbjuden {n};inbjuden{n}@example.se;Skellefteå kommun\r\n" for n in range(3000))
    data = ("Namn;E-post;Kommun\r\n" + rows).encode("utf-8")
    assert len(data) > 65536
    page = admin_client.get("/admin/import")
    imported = admin_client.post("/admin/import", data={"csrf_token": csrf_token(page),
                                                        "file": (io.BytesIO(data), "inbjudna.csv")})
    assert "3000 tillagda" in import_finished(admin_client, imported)


def test_a_rate_limited_page_says_when_to_come_back(before_deadline, other_app, event):
    path = link_path(add_invitee(event))
    client = other_app(LINK_RATE_LIMIT="2 per minute").test_client()
    statuses = [client.get(path) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert 0 < int(statuses[-1].headers["Retry-After"]) <= 60


def test_https_pages_ask_browsers_to_stay_on_https(app, other_app):
    secure = other_app(BASE_URL="https://osa.example.se").test_client().get("/admin/login")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    plain = other_app().test_client().get("/admin/login")
    assert "Strict-Transport-Security" not in plain.headers


# --- Tokens never in a log -----------------------------------------------------------------


def test_no_request_line_puts_a_link_token_in_the_log(before_deadline, live_server, invitee, caplog):
    token = make_token(invitee)
    host = live_server.url.removeprefix("http://")
    escaped = token.replace(".", "%2E")
    targets = [
        f"{live_server.url}/r/{token}",  # absolute form
        f"/R/{token}", f"/a/r/{token}", f"/r//{token}", f"/%72/{token}", f"/r/{escaped}",
        f"/hotel/{token}", f"/admin/login?next=/r/{token}", f"/r/{token}/thanks?lang=en",
    ]
    with caplog.at_level(logging.INFO):
        for target in targets:
            with socket.create_connection(("127.0.0.1", int(host.split(":")[1])), timeout=10) as connection:
                connection.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                assert connection.recv(64).startswith(b"HTTP/1.1 ")
    lines = [record.getMessage() for record in caplog.records if record.name == "werkzeug"]
    assert len(lines) >= len(targets)
    signature = token.split(".")[-1]
    assert not [line for line in lines if signature in line or signature[:12] in line]
    assert sum("[link]" in line for line in lines) >= len(targets)


# --- Redis away ----------------------------------------------------------------------------


def test_with_redis_stopped_pages_answers_and_sign_in_keep_working_and_healthz_says_so(
    before_deadline, app, other_app, own_redis, event, caplog
):
    anna = add_invitee(event)
    add_admin()
    path = link_path(anna)
    served = other_app(REDIS_URL=own_redis.url, BROKER_URL=own_redis.url, RESULT_BACKEND=own_redis.url)
    client = served.test_client()
    assert client.get(path).status_code == 200  # counted in Redis
    assert served.test_client().get("/healthz").get_json()["redis"] == "ok"

    own_redis.stop()
    with caplog.at_level(logging.WARNING):
        page = client.get(path)
        assert page.status_code == 200 and "Anna Andersson" in page_text(page)
        saved = client.post(path, data={"csrf_token": csrf_token(page), "day_day1": "yes", "transport_day1": "bus",
                                        "day_day2": "no"})
        assert saved.status_code == 303
        admin = served.test_client()
        signed_in = admin.post("/admin/login", data={"csrf_token": csrf_token(admin.get("/admin/login")),
                                                     "username": "sekretariatet", "password": ADMIN_PASSWORD})
        assert signed_in.status_code == 302 and signed_in.location == "/admin/"
        assert admin.get("/admin/").status_code == 200
        health = served.test_client().get("/healthz")
    # The broker is that Redis too, as in production: pages work, so a load balancer keeps sending people.
    assert health.status_code == 200
    assert health.get_json() == {"status": "degraded", "database": "ok", "broker": "unreachable", "redis": "unreachable"}
    assert caplog.text.count("falling back to in-memory storage") == 1  # the outage, logged once
    db.session.rollback()
    assert db.session.scalar(select(Response).where(Response.invitee_id == anna.id)).attending


# --- The database away -------------------------------------------------------------------


def test_while_the_database_restarts_invitees_and_the_secretariat_are_asked_to_try_again_and_nothing_is_saved(
    before_deadline, pg_app, postgres_url, caplog
):
    event = store_event(read_event_file(BUNDLED_EVENT)).event
    db.session.commit()
    anna = add_invitee(event)
    add_admin()
    path = link_path(anna)
    invitee, admin = pg_app.test_client(), pg_app.test_client()
    token = csrf_token(invitee.get(path))
    admin.post("/admin/login", data={"csrf_token": csrf_token(admin.get("/admin/login")),
                                     "username": "sekretariatet", "password": ADMIN_PASSWORD})
    answer = {"csrf_token": token, "day_day1": "yes", "transport_day1": "bus", "day_day2": "no"}
    db.session.rollback()  # the test's own connection back in the pool, where the restart's cut is found

    with database_restarting(postgres_url), caplog.at_level(logging.WARNING):
        pages = [invitee.get(path), invitee.post(path, data=answer), admin.get("/admin/"), admin.get("/admin/invitees")]
    for page in pages:
        assert page.status_code == 503 and page.headers["Retry-After"] == "30"
        assert page_text(page) == page_text(pages[0])
    assert ("Försök igen om en minut Anmälningstjänsten når inte sina uppgifter just nu, så inget lästes eller "
            "sparades. Försök igen om en minut; om det fortsätter, kontakta sekretariatet.") in page_text(pages[0])
    assert "Anna" not in caplog.text and "Traceback" not in caplog.text
    assert caplog.text.count("the database did not answer") == len(pages)

    assert db.session.scalar(select(Response).where(Response.invitee_id == anna.id)) is None
    assert invitee.post(path, data=answer).status_code == 303  # back: the same answer saves
    assert admin.get("/admin/").status_code == 200  # still signed in
    db.session.rollback()
    assert db.session.scalar(select(Response).where(Response.invitee_id == anna.id)).attending


# --- Notes that say what is wrong ------------------------------------------------------------


def test_a_tampered_hotel_link_is_called_broken_not_replaced(app, event, client):
    broken = client.get("/hotel/garbage")
    assert broken.status_code == 400
    assert "Länken fungerar inte Länken är ofullständig eller ändrad" in page_text(broken)
    assert "ersatt" not in page_text(broken)


def test_a_landing_time_that_is_no_time_of_day_is_named_in_the_note(before_deadline, client, invitee):
    path = link_path(invitee)
    posted = client.post(path, data=answer(csrf_token(client.get(path)), flight_arrival_day1="25:99"))
    assert posted.status_code == 400
    assert "'25:99' är inte en tid på dygnet: skriv när flyget landar som 09.30." in page_text(posted)
