"""Whatever a person pastes or a program sends, OSA says what is wrong and changes nothing: never an
error page (500), never a traceback. Every field of the invitee's form and of the admin's pages filled
with values that have broken forms elsewhere, then random mixes, on SQLite and on PostgreSQL (which
refuses a NUL in a text and a number beyond its integers); and the `osa` command's numbers. Hypothesis
draws the mixes from a fixed seed, so every run sends the same requests."""

from __future__ import annotations

import io
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.extensions import db

from .conftest import add_invitee, link_path
from .support.helpers import csrf_token, database_state, page_text

#: The same examples on every machine and every run, however slow the machine (no deadline, no speed check).
SAME_EVERY_RUN = settings(derandomize=True, database=None, deadline=None, max_examples=300,
                          suppress_health_check=[HealthCheck.too_slow])

#: Values that have broken forms elsewhere: NUL (which PostgreSQL refuses in a text), a direction
#: override, line breaks, wildcards, quotes, a long text, numbers out of range, a digit that is no
#: decimal ("²": `str.isdigit` says yes, `int` says no), an address cut short.
NASTY = ["", "\x00", "a\x00b", "\u202e", "no\r\n", "%", "'", "x" * 300, "-1", "99999999999999999999", "²",
         "åsa@ö"]
#: What people paste and programs send: those, the bundled event's own choices, and any text at all.
VALUES = st.one_of(
    st.sampled_from([*NASTY, "yes", "no", "y", "1", "0", "bus", "airport", "own", "kso", "official", "sv", "en",
                     "SK 123", "09:10", "25:99", "anna@example.se", "invitation", "queued", "2021-11-25"]),
    st.text(max_size=20),
)

ANSWER_FIELDS = ["day_day1", "day_day2", "transport_day1", "transport_day2", "flight_number_day1",
                 "flight_arrival_day1", "flight_number_day2", "flight_arrival_day2", "meal_lunch-day1",
                 "meal_dinner-day1", "meal_coffee-day2", "diet_vegan", "night_night-24", "night_night-25",
                 "allergies", "comment", "confirmed", "seen"]
#: An answer that saves: both days, the bus, a meal.
GOOD_ANSWER = {"day_day1": "yes", "transport_day1": "bus", "meal_lunch-day1": "y", "day_day2": "no"}
TABLES = ("invitee", "response", "response_day", "response_meal", "response_diet", "response_hotel_night",
          "response_change", "outbox")


@pytest.mark.both_backends
def test_a_refused_answer_of_any_shape_changes_nothing(before_deadline, client, invitee):
    path = link_path(invitee)
    token = csrf_token(client.get(path))

    @SAME_EVERY_RUN
    @given(st.dictionaries(st.sampled_from(ANSWER_FIELDS), st.one_of(VALUES, st.lists(VALUES, max_size=3)),
                           max_size=12),
           st.booleans(), st.sampled_from(["", "?lang=en", "?lang=xx", "/decline"]), st.booleans())
    def answer(fields, with_token, where, over_a_good_answer):
        # Over a good answer, a nasty value in one field reaches the code that saves, not only the checks.
        fields = {**GOOD_ANSWER, **fields} if over_a_good_answer else fields
        before = database_state(db.session, TABLES)
        posted = client.post(path + where, data={**fields, "csrf_token": token} if with_token else fields)
        assert posted.status_code < 500, (where, fields)
        if posted.status_code != 303:  # not saved: refused, or the decline page asking once more
            assert database_state(db.session, TABLES) == before, (where, fields)
        assert client.get(path).status_code == 200

    for value in NASTY:  # every field at once, each field alone in a good answer, then mixes
        answer.hypothesis.inner_test({field: value for field in ANSWER_FIELDS}, True, "", False)
        for field in ANSWER_FIELDS:
            answer.hypothesis.inner_test({field: value}, True, "", True)
    answer()


@pytest.mark.both_backends
@pytest.mark.parametrize("seen", ["99999999999999999999", "9223372036854775808", "²", "٣", "-1", "abc", ""])
def test_an_answer_whose_hidden_count_of_changes_was_tampered_with_is_saved_as_from_a_form_without_it(
        before_deadline, client, admin_client, invitee, seen):
    # The form's hidden `seen` (how many changes the answer had when the page was opened) only stops a
    # save that would undo another person's change unseen; a value that counts nothing stops nothing.
    path = link_path(invitee)
    saved = client.post(path, data={"csrf_token": csrf_token(client.get(path)), "seen": seen, "day_day1": "no",
                                    "day_day2": "no"})
    assert saved.status_code == 303
    assert "Ditt svar är sparat: du kommer inte." in page_text(client.get(saved.location))

    form = f"/admin/invitees/{invitee.id}/answer"
    corrected = admin_client.post(form, data={"csrf_token": csrf_token(admin_client.get(form)), "seen": seen,
                                              "day_day1": "no", "day_day2": "yes"})
    assert corrected.status_code == 302
    page = page_text(admin_client.get(f"/admin/invitees/{invitee.id}"))
    assert "Dag 1, torsdag 25 november 2021 Kommer inte Dag 2, fredag 26 november 2021 Kommer Måltider" in page
    assert "för deras räkning Dag 2: ja" in page


ADMIN_PAGES = ["/admin/", "/admin/invitees", "/admin/invitees/new", "/admin/invitees/{id}",
               "/admin/invitees/{id}/answer", "/admin/invitees/{id}/address", "/admin/invitees/{id}/details", "/admin/invitees/{id}/erase", "/admin/invitees/{id}/new-link",
               "/admin/invitees/{id}/remove", "/admin/invitees/{id}/restore", "/admin/invitees/{id}/resend",
               "/admin/mail", "/admin/mail/{id}", "/admin/mail/{id}/html", "/admin/mail/retry", "/admin/numbers",
               "/admin/lists", "/admin/lists/day/{key}", "/admin/lists/meal/{key}", "/admin/lists/transport/{key}",
               "/admin/lists/rooms", "/admin/send",
               "/admin/send/progress", "/admin/previews", "/admin/previews/{key}/{key}",
               "/admin/previews/{key}/{key}/html", "/admin/chart.svg", "/admin/event", "/admin/hotel",
               "/admin/hotel/revoke", "/admin/privacy", "/admin/import", "/admin/import/{id}",
               "/admin/import/{id}/status", "/admin/language/{key}", "/admin/login"]  # all but signing out
ADMIN_FIELDS = ["q", "format", "status", "role", "organisation", "transport", "page", "state", "kind", "who", "invitee", "lang",
                "next", "name", "email", "language", "confirmed", "ids", "only_new", "username", "password",
                "day_day1", "day_day2", "transport_day1", "meal_lunch-day1", "night_night-24", "comment", "seen"]
PATH_PART = st.one_of(st.sampled_from(["invitation", "sv", "en", "bus", "lunch-day1", "day1", "night-24", "\x00", "a\x00b"]),
                      st.text("abcåäö-_.0123456789 ", min_size=1, max_size=12).filter(lambda part: part.strip(". ")))


@pytest.mark.both_backends
def test_the_admin_answers_any_request_with_a_page_not_an_error(before_deadline, event, admin_client):
    anna = add_invitee(event)
    token = csrf_token(admin_client.get("/admin/invitees/new"))

    @SAME_EVERY_RUN
    @given(st.sampled_from(ADMIN_PAGES), st.dictionaries(st.sampled_from(ADMIN_FIELDS), VALUES, max_size=8),
           st.sampled_from([str(anna.id), "0", "99999", "99999999999999999999"]), PATH_PART,
           st.sampled_from(["GET", "POST", "upload"]))
    def send(page, fields, id_, key, how):
        url = page.replace("{id}", id_).replace("{key}", urllib.parse.quote(key, safe=""))
        if how == "GET":
            response = admin_client.get(url, query_string=fields)
        else:
            data = {**fields, "csrf_token": token}
            if how == "upload":
                data["file"] = (io.BytesIO(fields.get("name", "").encode("utf-8", "surrogatepass")), "inbjudna.csv")
            response = admin_client.post(url, data=data)
        response.close()
        assert response.status_code < 500, (how, url, fields)

    for page in ADMIN_PAGES:  # every field of every page at once, then mixes
        for value in NASTY:
            for how in ("GET", "POST"):
                id_ = value if value.lstrip("-").isdigit() else str(anna.id)
                send.hypothesis.inner_test(page, {field: value for field in ADMIN_FIELDS}, id_, value or "x", how)
    send()
    assert admin_client.get("/admin/").status_code == 200  # still signed in: every request above reached its page


@pytest.mark.parametrize("args, name", [
    (["event", "load", "config/events/innovationsmotet-2021.toml", "--starts-in", "99999999999"], "'--starts-in'"),
    (["outbox", "retry", "99999999999999999999"], "'[IDS]...'"),
    (["outbox", "list", "--limit", "99999999999999999999"], "'--limit'"),
    (["outbox", "list", "--kind", "invitations"], "'--kind'"),
])
def test_the_osa_command_refuses_a_value_out_of_range_by_name(runner, args, name):
    result = runner.invoke(args=args)
    assert result.exit_code == 2
    assert f"Invalid value for {name}" in result.output
    assert "is not in the range" in result.output or "is not one of 'invitation', 'confirmation'" in result.output
