"""The email pipeline end to end: outbox, a real Celery worker, Redis and an SMTP server."""

import datetime as dt
import email
import email.policy
import re
import ssl
import sys
from collections import Counter
from email.headerregistry import Address
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import icalendar
import pytest
import time_machine
import vobject
from flask_babel import force_locale
from sqlalchemy import func, select, update

from service.answers import Answer, DayAnswer, save_answer
from service.db import utcnow, write_transaction
from service.dates import format_date_range, format_datetime
from service.eventfile import read_event_file
from service.events import store_event
from service.extensions import db
from service.mail.bounces import record_report
from service.mail.compose import queue_invitation, queue_invitations
from service.mail.delivery import build_message, deliver
from service.mail.outbox import HeaderInjection, queue_email, row_problem
from service.mail.previews import KINDS, preview_email
from service.mail.render import RenderedEmail
from service.jobs import due_times, run_due_jobs
from service.links import opt_out_url
from service.models import BULK_KINDS, EventChange, Invitee, Outbox, Response

from .conftest import (
    BEFORE_DEADLINE,
    BUNDLED_EVENT,
    SWEDISH_TERMINAL,
    add_invitee,
    all_sent,
    link_path,
    running_worker,
    use_relay,
    wait_for_outbox,
)
from .support.helpers import (
    csrf_token,
    database_state,
    free_port,
    html_text,
    page_text,
    self_signed_certificate,
    wait_for,
)
from .support.calendars import calendars_in
from .support.smtp import RecordingSMTPServer
from .support.reports import delivery_report
from .test_admin import listed_names

STOCKHOLM = ZoneInfo("Europe/Stockholm")
#: A one-click link as long as a real one on a municipality's host name.
UNSUBSCRIBE_URL = "https://osa.industrikommunerna.example.se/r/WzEyMzQsMV0.Z1x2Yw.q1w2e3r4t5y6u7i8o9p0a1s2d3f/no-reminders"


def add_invitees(event, count: int, language: str = "sv") -> list[Invitee]:
    invitees = [
        Invitee(event=event, name=f"Inbjuden {n}", email=f"inbjuden{n}@example.se", email_key=f"inbjuden{n}@example.se",
                organisation="Skellefteå kommun", language=language)
        for n in range(count)
    ]
    db.session.add_all(invitees)
    db.session.commit()
    return invitees


def parts(message) -> list[str]:
    return [part.get_content_type() for part in message.walk() if not part.is_multipart()]


@pytest.mark.both_backends
def test_inviting_200_delivers_one_each_and_again_delivers_none(before_deadline, event, mailer, celery_worker, runner):
    invitees = add_invitees(event, 200)
    result = runner.invoke(args=["invitations", "send"])
    assert result.exit_code == 0, result.output
    assert "200 invitations queued." in result.output
    assert "Invitations: 200 sent, 0 failed." in result.output
    received = Counter(mailer.recipients())
    assert received == Counter(invitee.email for invitee in invitees)

    again = runner.invoke(args=["invitations", "send"])
    assert "0 invitations queued." in again.output
    wait_for_outbox(all_sent(200), timeout=5)
    assert len(mailer.messages) == 200


def test_dry_run_previews_and_sends_nothing(before_deadline, app, event, mailer, runner):
    add_invitees(event, 3)
    result = runner.invoke(args=["invitations", "send", "--dry-run"])
    assert "3 invitations would be sent." in result.output
    assert "Subject: Inbjudan: Innovationsmötet med Svenska Industrikommuner, torsdag 25 – fredag 26 november 2021" in result.output
    assert "http://osa.example.se/r/" in result.output
    swedish = app.test_cli_runner(env=SWEDISH_TERMINAL).invoke(args=["invitations", "send", "--dry-run"]).output
    assert "3 inbjudningar skulle skickas." in swedish and "\nTill: " in swedish
    assert "\nÄmne: Inbjudan: Innovationsmötet med Svenska Industrikommuner, torsdag 25 – fredag 26 november 2021" in swedish
    assert db.session.scalar(select(Outbox.id)) is None


def test_every_kind_is_multipart_text_first_with_the_right_headers(
    before_deadline, event, mailer, celery_worker, client
):
    from service.models import TransportOption

    bus = db.session.scalar(select(TransportOption).where(TransportOption.key == "bus"))
    bus.capacity = 1
    db.session.commit()
    anna = add_invitee(event)
    bo = add_invitee(event, "Bo Ek", "bo.ek@example.se", "official", "en")
    queue_invitation(anna)
    queue_invitation(bo)
    db.session.commit()

    def answer(invitee, **fields):
        page = client.get(link_path(invitee))
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)
        data = {"csrf_token": token, "day_day1": "yes", "transport_day1": "bus", "day_day2": "no"}
        data.update(fields)
        assert client.post(link_path(invitee), data=data).status_code == 303

    answer(anna, **{"meal_dinner-day1": "y"})  # confirmation, with the bus seat
    answer(bo)  # confirmation, on the waiting list
    client.post(link_path(anna) + "/decline", data={"confirmed": "yes", "csrf_token": re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', client.get(link_path(anna)).get_data(as_text=True)).group(1)})
    # anna's decline frees the seat: bo moves up.
    wait_for_outbox(all_sent(6))

    kinds = {}
    for received in mailer.messages:
        message = received.message
        assert message.is_multipart()
        content = parts(message)
        assert content[:2] == ["text/plain", "text/html"]
        assert re.fullmatch(r"<[^@>]+@example\.se>", message["Message-ID"])
        assert message["Date"] and message["From"] == "Svenska industrikommuner <osa@example.se>"
        assert message["Reply-To"] == "sekretariatet@example.se"
        assert message["Auto-Submitted"] == "auto-generated"
        assert message["X-Auto-Response-Suppress"] == "OOF, AutoReply"
        kind = db.session.scalar(select(Outbox.kind).where(Outbox.message_id == message["Message-ID"]))
        kinds.setdefault(kind, []).append(message)
    assert {kind: len(messages) for kind, messages in kinds.items()} == {
        "invitation": 2, "confirmation": 2, "decline": 1, "moved_up": 1,
    }
    for kind in ("invitation", "confirmation", "decline", "moved_up"):
        assert "text/calendar" in parts(kinds[kind][0]), kind
    declined = calendars_in(kinds["decline"][0])  # the days the invitation put in the calendar
    assert [str(calendar["METHOD"]) for calendar in declined] == ["CANCEL"]  # day 1, the one she came to

    anna_confirmation = next(m for m in kinds["confirmation"] if m["To"] == "Anna Andersson <anna.andersson@example.se>")
    text = anna_confirmation.get_body(("plain",)).get_content()
    assert "Bussen från The Wood Hotel – kl. 09.00, The Wood Hotel, Torggatan 3" in text
    assert any(re.fullmatch(r"- torsdag 25 november 2021, på The Wood Hotel: .*Middag på hotellet 18\.00\.", line)
               for line in text.splitlines())  # the place once, before the meals
    assert "http://osa.example.se/r/" in text
    moved = kinds["moved_up"][0]
    assert moved["To"] == "Bo Ek <bo.ek@example.se>"
    assert moved["Subject"].startswith("A place is now yours")
    assert "A place has become free and is now yours: The bus from The Wood Hotel." in moved.get_body(("plain",)).get_content()


def attachment_names(message) -> list[tuple[str, str]]:
    return [(part.get_filename(), part.get_param("method")) for part in message.iter_attachments()]


def test_invitation_ics_times_equal_the_event_file(before_deadline, event, mailer, celery_worker):
    invitee = add_invitee(event)
    queue_invitation(invitee)
    db.session.commit()
    wait_for_outbox(all_sent(1))
    message = mailer.messages[0].message
    # One file a day, each a meeting request with one entry: Outlook reads only a file's first entry.
    assert attachment_names(message) == [("innovationsmotet-2021-2021-11-25.ics", "REQUEST"),
                                         ("innovationsmotet-2021-2021-11-26.ics", "REQUEST")]
    calendars = calendars_in(message)
    assert all(calendar["METHOD"] == "REQUEST" and len(calendar.walk("VEVENT")) == 1 for calendar in calendars)
    assert all([c.name for c in calendar.subcomponents][0] == "VTIMEZONE" for calendar in calendars)
    calendar = calendars[0]
    definition = read_event_file(BUNDLED_EVENT)
    entries = [entry for calendar in calendars for entry in calendar.walk("VEVENT")]
    assert len(entries) == len(definition.days) == 2
    for entry, day in zip(entries, definition.days):
        theirs = [item for item in day.items if not item.for_roles or "kso" in item.for_roles]
        assert entry.decoded("DTSTART") == theirs[0].starts_at
        assert entry.decoded("DTSTART").tzinfo.key == "Europe/Stockholm"
        assert entry.decoded("DTEND") == max(item.ends_at or item.starts_at for item in theirs)
        assert str(entry["UID"]) == f"innovationsmotet-2021-{day.key}-{invitee.id}@example.se"
        assert (str(entry["STATUS"]), entry["ATTENDEE"].params["PARTSTAT"]) == ("TENTATIVE", "NEEDS-ACTION")
        assert str(entry["ORGANIZER"]) == "mailto:osa@example.se"
    assert entries[0].decoded("DTSTART") == dt.datetime(2021, 11, 25, 9, 0, tzinfo=STOCKHOLM)
    # The VTIMEZONE holds the zone's rules for the event's year (not 1970 to 2038), standard and
    # summer time, and a calendar program that reads the times by it alone puts the first item at 09.00 CET.
    observances = {(c.name, c.decoded("DTSTART")) for c in calendar.walk() if c.name in ("STANDARD", "DAYLIGHT")}
    assert {name for name, _ in observances} == {"STANDARD", "DAYLIGHT"}
    assert all(dt.datetime(2021, 1, 1) <= start < dt.datetime(2022, 1, 1) for _, start in observances)
    attachment = next(part for part in message.walk() if part.get_content_type() == "text/calendar")
    first = vobject.readOne(attachment.get_payload(decode=True).decode("utf-8")).vevent.dtstart.value
    assert first.utcoffset() == dt.timedelta(hours=1) and first.astimezone(dt.timezone.utc).hour == 8


def test_each_persons_calendar_holds_the_programme_of_their_role_and_days(before_deadline, event, client):
    politician = add_invitee(event, "Karin KSO", "karin.kso@example.se", role="kso")
    official = add_invitee(event, "Olle Tjänsteman", "olle.tjansteman@example.se", role="official")
    for invitee in (politician, official):
        queue_invitation(invitee)
    db.session.commit()

    def calendars(address: str, kind: str) -> list[icalendar.Calendar]:
        db.session.rollback()
        row = db.session.scalar(select(Outbox).where(Outbox.recipient == address, Outbox.kind == kind))
        return [icalendar.Calendar.from_ical(attachment["data"]) for attachment in row.attachments]

    def programme(address: str, kind: str) -> str:
        return "\n".join(str(entry["DESCRIPTION"]) for calendar in calendars(address, kind)
                         for entry in calendar.walk("VEVENT"))

    for_politicians, for_officials = "Separata samtal mellan KSO-er", "Separata samtal mellan övriga"
    karins = programme(politician.email, "invitation")
    assert for_politicians in karins and for_officials not in karins
    olles = programme(official.email, "invitation")
    assert for_officials in olles and for_politicians not in olles

    path = link_path(politician)  # Karin comes on day 2 only: her confirmation's calendar has that day alone
    assert client.post(path, data={"csrf_token": csrf_token(client.get(path)), "day_day1": "no",
                                   "day_day2": "yes", "meal_lunch-day2": "y"}).status_code == 303
    confirmed, cancelled = calendars(politician.email, "confirmation")
    assert confirmed["METHOD"] == "REQUEST"
    assert [str(entry["UID"]) for entry in confirmed.walk("VEVENT")] == [f"innovationsmotet-2021-day2-{politician.id}@example.se"]
    # Her day ends with the programme's lunch at 13.00, the hour its agenda gives, not two hours after noon.
    day2 = confirmed.walk("VEVENT")[0]
    assert (day2.decoded("DTSTART"), day2.decoded("DTEND")) == (dt.datetime(2021, 11, 26, 9, 0, tzinfo=STOCKHOLM),
                                                                dt.datetime(2021, 11, 26, 13, 0, tzinfo=STOCKHOLM))
    assert cancelled["METHOD"] == "CANCEL"  # day 1 leaves her calendar, in a file whose name says so in Swedish
    assert [attachment["filename"] for attachment in db.session.scalar(select(Outbox.attachments).where(
        Outbox.recipient == politician.email, Outbox.kind == "confirmation"))] == [
        "innovationsmotet-2021-2021-11-26.ics", "innovationsmotet-2021-2021-11-25-inställd.ics"]
    assert [str(entry["UID"]) for entry in cancelled.walk("VEVENT")] == [f"innovationsmotet-2021-day1-{politician.id}@example.se"]
    karins = programme(politician.email, "confirmation")
    assert for_politicians in karins and for_officials not in karins


@pytest.mark.both_backends
def test_a_relay_that_answers_421_at_first_gets_everything_once(before_deadline, event, mailer, celery_worker):
    invitees = add_invitees(event, 10)
    mailer.fail_next_data = 3
    for invitee in invitees:
        queue_invitation(invitee)
    db.session.commit()
    wait_for_outbox(all_sent(10))
    assert sorted(mailer.recipients()) == sorted(invitee.email for invitee in invitees)
    attempts = db.session.scalars(select(Outbox.attempts)).all()
    assert sum(attempts) == 10 + 3
    assert mailer.fail_next_data == 0


def test_a_relay_that_refuses_osa_itself_makes_no_one_undeliverable_and_sends_once_it_is_put_right(
    before_deadline, app, event, mailer, admin_client
):
    anna, bo = add_invitee(event), add_invitee(event, "Bo Berg", "bo.berg@example.se")
    ids = [queue_invitation(anna), queue_invitation(bo)]
    db.session.commit()

    def undeliverable() -> list[str]:
        db.session.rollback()
        return db.session.scalars(select(Invitee.name).where(Invitee.undeliverable_at.is_not(None))).all()

    def first_row_after(travel_minutes: int) -> Outbox:
        before_deadline.shift(dt.timedelta(minutes=travel_minutes))  # past the row's next attempt
        counts = deliver(ids)
        assert counts["retry"] == 1 and counts["refused"] == counts["failed"] == counts["sent"] == 0, counts
        db.session.rollback()
        return db.session.get(Outbox, ids[0])

    # A wrong password (535), as Microsoft 365 answers when SMTP AUTH is off for the mailbox.
    mailer.password = "right-password"
    app.config.update(SMTP_USERNAME="osa@example.se", SMTP_PASSWORD="wrong-password")
    row = first_row_after(0)
    assert (row.state, row.problem) == ("queued", "relay_refused_osa") and row.last_error.startswith("535")
    assert "OSA kunde inte logga in på e-postservern eller skicka som avsändaren (535" in \
        page_text(admin_client.get(f"/admin/mail/{row.id}"))
    # Where the secretariat watches the round, it says why it stands still.
    waiting = admin_client.get("/admin/send/progress").get_json()["waiting"]
    assert waiting.startswith("Utskicket väntar: OSA kunde inte logga in på e-postservern eller skicka som avsändaren (535")
    assert waiting in page_text(admin_client.get("/admin/send"))
    # A sender the mailbox may not send as (Microsoft 365's 550 5.7.60, at MAIL FROM).
    app.config["SMTP_PASSWORD"] = "right-password"
    mailer.rejected_sender = "550 5.7.60 SMTP; Client does not have permissions to send as this sender"
    row = first_row_after(10)
    assert (row.state, row.problem, row.last_error) == (
        "queued", "relay_refused_osa", "550 5.7.60 SMTP; Client does not have permissions to send as this sender")
    assert undeliverable() == [] and mailer.messages == []

    # The mailbox blocked from sending (Microsoft 365, at each recipient): about OSA, not the address.
    mailer.rejected_sender = None
    mailer.rejected_recipients[anna.email] = "550 5.1.8 Access denied, bad outbound sender"
    row = first_row_after(10)
    assert (row.state, row.problem, row.last_error) == ("queued", "relay_refused_osa",
                                                        "550 5.1.8 Access denied, bad outbound sender")
    assert undeliverable() == [] and mailer.messages == []
    # No sign-in, so the relay will not pass mail on (Postfix's words): every recipient gets it.
    mailer.rejected_recipients[anna.email] = f"554 5.7.1 <{anna.email}>: Relay access denied"
    row = first_row_after(10)
    assert (row.state, row.problem) == ("queued", "relay_refused_osa") and undeliverable() == []
    del mailer.rejected_recipients[anna.email]
    # The mailbox's quota, used up by other mail from it (Microsoft 365's words, after DATA).
    mailer.rejected_sender = None
    mailer.fail_next_data, mailer.failure_reply = 1, ("554 5.2.0 STOREDRV.Submission.Exception:"
                                                      "SubmissionQuotaExceededException; Cannot submit message.")
    row = first_row_after(10)
    assert (row.state, row.problem) == ("queued", "relay_quota")
    assert "postlådans sändningskvot är slut för tillfället" in page_text(admin_client.get(f"/admin/mail/{row.id}"))
    assert undeliverable() == [] and mailer.messages == []

    # Mail that goes again silences the warning, though Anna's email still waits for its next try;
    # with nothing sent for two minutes, it speaks again.
    assert deliver([ids[1]])["sent"] == 1
    assert admin_client.get("/admin/send/progress").get_json()["waiting"] == ""
    before_deadline.shift(dt.timedelta(minutes=3))
    assert "sändningskvot" in admin_client.get("/admin/send/progress").get_json()["waiting"]

    before_deadline.shift(dt.timedelta(minutes=10))  # put right: Anna's goes too, and each went once
    assert deliver(ids)["sent"] == 1
    assert sorted(mailer.recipients()) == [anna.email, bo.email] and undeliverable() == []
    assert admin_client.get("/admin/send/progress").get_json()["waiting"] == ""


def test_microsoft_365_without_passwords_takes_a_token_from_the_deployments_command(
    before_deadline, app, event, mailer
):
    anna = add_invitee(event)
    row_id = queue_invitation(anna)
    db.session.commit()
    mailer.token = "token-from-the-command"
    app.config.update(SMTP_USERNAME="osa@example.se", SMTP_PASSWORD="",
                      SMTP_TOKEN_COMMAND=f"{sys.executable} -c 'raise SystemExit(3)'")

    def attempt(minutes: int) -> Outbox:
        before_deadline.shift(dt.timedelta(minutes=minutes))
        deliver([row_id])
        db.session.rollback()
        return db.session.get(Outbox, row_id)

    row = attempt(0)  # the command failed: no sign-in, and the email waits
    assert (row.state, row.problem, row.last_error) == (
        "queued", "relay_refused_osa", "OSA_SMTP_TOKEN_COMMAND: CalledProcessError")
    app.config["SMTP_TOKEN_COMMAND"] = f"{sys.executable} -c 'print(\"an expired token\")'"
    row = attempt(10)  # the relay refuses the token
    assert (row.state, row.problem) == ("queued", "relay_refused_osa") and row.last_error.startswith("535")
    assert mailer.sign_ins == [] and db.session.get(Invitee, anna.id).undeliverable_at is None
    app.config["SMTP_TOKEN_COMMAND"] = f"{sys.executable} -c 'print(\"token-from-the-command\")'"
    assert attempt(10).state == "sent"
    assert mailer.sign_ins == ["osa@example.se (XOAUTH2)"] and mailer.recipients() == [anna.email]


def test_a_message_the_relay_refuses_after_data_fails_alone_and_its_address_stays_good(
    before_deadline, event, mailer, admin_client
):
    anna = add_invitee(event)
    row_id = queue_invitation(anna)
    db.session.commit()
    mailer.fail_next_data, mailer.failure_reply = 1, "550 5.7.1 Message rejected as spam by Content Filtering"
    assert deliver([row_id])["failed"] == 1
    db.session.rollback()
    row = db.session.get(Outbox, row_id)
    assert (row.state, row.last_error) == ("failed", "550 5.7.1 Message rejected as spam by Content Filtering")
    assert db.session.get(Invitee, anna.id).undeliverable_at is None  # her address was not what the relay refused
    assert "E-posten når inte fram" not in page_text(admin_client.get(f"/admin/invitees/{anna.id}"))


def test_the_password_goes_to_the_relay_only_over_tls_to_a_certificate_osa_trusts(
    before_deadline, app, event, redis_url, tmp_path
):
    certificate, key = self_signed_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate, key)
    relay = RecordingSMTPServer(port=free_port(), tls_context=context)
    relay.start()
    try:
        use_relay(app, relay.host, relay.port, redis_url, SMTP_STARTTLS=True, SMTP_USERNAME="osa@example.se",
                  SMTP_PASSWORD="relay-password")
        row_id = queue_invitation(add_invitee(event))
        db.session.commit()
        # A certificate no one OSA trusts vouches for: as a server in between would show. No sign-in.
        assert deliver([row_id])["retry"] == 1
        db.session.rollback()
        row = db.session.get(Outbox, row_id)
        assert row.problem == "no_relay" and "CERTIFICATE_VERIFY_FAILED" in row.last_error
        assert relay.sign_ins == [] and relay.messages == []
        # Told to trust it (OSA_SMTP_CA_FILE): signed in over TLS, and sent.
        app.config["SMTP_CA_FILE"] = str(certificate)
        before_deadline.shift(dt.timedelta(minutes=10))
        assert deliver([row_id])["sent"] == 1
        assert relay.sign_ins == ["osa@example.se"] and len(relay.messages) == 1
    finally:
        relay.stop()


def test_a_relay_out_of_reach_is_tried_again_and_the_secretariat_reads_why_in_swedish(
    before_deadline, app, event, admin_client, redis_url
):
    use_relay(app, "127.0.0.1", free_port(), redis_url, SMTP_TIMEOUT=2.0,
              BROKER_URL="redis://127.0.0.1:1/0")  # nothing listens; no broker
    row_id = queue_invitation(add_invitee(event))
    db.session.commit()

    assert deliver([row_id])["retry"] == 1
    db.session.rollback()
    row = db.session.get(Outbox, row_id)
    assert (row.state, row.problem) == ("queued", "no_relay") and row.last_error.startswith("ConnectionRefusedError")
    page = page_text(admin_client.get(f"/admin/mail/{row_id}"))
    assert "e-postservern gick inte att nå: ConnectionRefusedError" in page
    # ... and when OSA tries again, in the event's time.
    assert f"Nästa försök {format_datetime(row.next_attempt_at, event.timezone, 'sv')}" in page

    # Its last attempt fails too: OSA gives up and says after how many.
    row.attempts, row.next_attempt_at = app.config["SEND_MAX_ATTEMPTS"] - 1, utcnow()
    db.session.commit()
    assert deliver([row_id])["retry"] == 1
    db.session.rollback()
    row = db.session.get(Outbox, row_id)
    assert (row.state, row.problem) == ("failed", "gave_up")
    attempts = app.config["SEND_MAX_ATTEMPTS"]
    assert f"gav upp efter {attempts} försök: ConnectionRefusedError" in page_text(admin_client.get("/admin/mail"))


def test_a_recipient_refused_with_550_fails_at_once_and_the_others_arrive(
    before_deadline, event, mailer, celery_worker
):
    invitees = add_invitees(event, 5)
    mailer.rejected_recipients[invitees[2].email] = "550 5.1.1 <inbjuden2@example.se>: no such user"
    for invitee in invitees:
        queue_invitation(invitee)
    db.session.commit()
    states = wait_for_outbox(lambda s: len(s) == 5 and all(v in ("sent", "failed") for v in s.values()))
    assert Counter(states.values()) == {"sent": 4, "failed": 1}
    failed = db.session.scalar(select(Outbox).where(Outbox.state == "failed"))
    assert failed.recipient == invitees[2].email
    assert failed.attempts == 1
    assert failed.last_error == "550 5.1.1 <inbjuden2@example.se>: no such user"
    assert sorted(mailer.recipients()) == sorted(i.email for i in invitees if i is not invitees[2])



def rewrite_day_one_and_remove(runner, admin_client, tmp_path, invitee: Invitee) -> None:
    """The secretariat loads the event with day 1's summary rewritten ("Bussturen går ut …"), and
    removes `invitee` from the list."""
    changed = tmp_path / "event.toml"
    changed.write_text(BUNDLED_EVENT.read_text(encoding="utf-8").replace(
        'summary = "Guidad tur ut', 'summary = "Bussturen går ut', 1), encoding="utf-8")
    assert runner.invoke(args=["event", "load", str(changed)]).exit_code == 0
    page = admin_client.get(f"/admin/invitees/{invitee.id}")
    assert admin_client.post(f"/admin/invitees/{invitee.id}/remove", data={
        "csrf_token": csrf_token(page), "confirmed": "yes"}).status_code == 302


def test_a_round_is_written_at_once_and_each_invitation_says_what_holds_when_it_is_sent(
    before_deadline, app, event, mailer, admin_client, runner, tmp_path
):
    invitees = add_invitees(event, 3)
    queue_invitations(event, invitees)  # their tasks wait in Redis: no worker runs yet
    row = db.session.scalar(select(Outbox).where(Outbox.invitee_id == invitees[0].id))
    assert row.pending_render and row.body_text == ""
    page = page_text(admin_client.get(f"/admin/mail/{row.id}"))
    assert "Inbjudan, skrivs när den skickas" in page and "Se den som den skulle bli nu" in page
    assert "Inbjudan, skrivs när den skickas" in page_text(admin_client.get("/admin/mail"))

    # Before the round goes out, the secretariat rewrites day 1's summary and removes one invitee.
    removed = invitees[2]
    rewrite_day_one_and_remove(runner, admin_client, tmp_path, removed)

    with running_worker(app):
        wait_for_outbox(lambda states: len(states) == 3 and "queued" not in states.values()
                        and "sending" not in states.values())
    assert sorted(mailer.recipients()) == [invitees[0].email, invitees[1].email]
    first = next(m.message for m in mailer.messages if m.rcpt_tos == [invitees[0].email])
    assert "Bussturen går ut till ett av Europas största industriprojekt" in first.get_body(("plain",)).get_content()
    db.session.rollback()
    stored = db.session.get(Outbox, row.id)
    assert not stored.pending_render and "Bussturen går ut" in stored.body_text  # a retry sends the same
    assert stored.message_id == first["Message-ID"] and stored.subject == first["Subject"]
    skipped = db.session.scalar(select(Outbox).where(Outbox.invitee_id == removed.id))
    assert (skipped.state, skipped.problem) == ("failed", "removed")
    # Why, in the reader's language: on the secretariat's pages, and in an English terminal.
    swedish = "inte skickad: den inbjudna togs bort innan inbjudan gick ut"
    assert swedish in page_text(admin_client.get(f"/admin/mail/{skipped.id}"))
    assert swedish in page_text(admin_client.get("/admin/mail"))
    assert f"{removed.email}  not sent: the invitee was removed before their invitation went out" in \
        runner.invoke(args=["outbox", "list", "--state", "failed"]).output


@pytest.mark.both_backends
def test_a_rounds_invitations_number_each_persons_calendar_by_their_own_changes(before_deadline, app, event, mailer):
    anna, bo = add_invitees(event, 2)
    for day2 in (False, True):  # Anna answered, then changed her answer
        with write_transaction():
            save_answer(anna, Answer(days={"day1": DayAnswer(attending=True), "day2": DayAnswer(attending=day2)}))
    db.session.add(EventChange(event_id=event.id, lines=[], notify=False))  # a load that told no one
    db.session.commit()
    queue_invitations(event, [anna, bo])  # rendered together, as one group, when sent
    with running_worker(app):
        wait_for_outbox(all_sent(2))
    sequences = {message.rcpt_tos[0]: {int(entry["SEQUENCE"]) for calendar in calendars_in(message.message)
                                          for entry in calendar.walk("VEVENT")}
                 for message in mailer.messages}
    assert sequences == {anna.email: {3}, bo.email: {1}}  # her two answers and the event's change; his one


def test_a_round_invitation_that_cannot_be_written_fails_with_its_reason_and_the_rest_go(
    before_deadline, app, event, mailer
):
    invitees = add_invitees(event, 2)
    first = invitees[0].id
    queue_invitations(event, invitees)  # their tasks wait in Redis: no worker runs yet
    # Written by hand after the round was queued, past every check OSA makes.
    db.session.execute(update(Invitee).where(Invitee.id == first).values(name="Inbjuden\nBcc: someone@example.org"))
    db.session.commit()
    with running_worker(app):
        wait_for_outbox(lambda states: sorted(states.values()) == ["failed", "sent"])
    failed = db.session.scalar(select(Outbox).where(Outbox.state == "failed"))
    assert (failed.problem, failed.last_error) == ("header_line_break", "")
    with force_locale("en"):
        assert row_problem(failed) == "not sent: a header of the email would contain a line break"
    assert failed.invitee_id == first and mailer.recipients() == ["inbjuden1@example.se"]


def test_a_round_invitation_osa_fails_to_write_fails_alone_and_the_rest_of_the_round_goes(
    before_deadline, app, event, mailer
):
    invitees = add_invitees(event, 3)
    queue_invitations(event, invitees)  # their tasks wait in Redis: no worker runs yet
    # Changed by hand after the round was written, past every check OSA makes: a language it has no words for.
    db.session.execute(update(Invitee).where(Invitee.id == invitees[1].id).values(language="xx"))
    db.session.commit()
    with running_worker(app):
        wait_for_outbox(lambda states: sorted(states.values()) == ["failed", "sent", "sent"])
    failed = db.session.scalar(select(Outbox).where(Outbox.state == "failed"))
    assert (failed.invitee_id, failed.problem, failed.last_error) == (invitees[1].id, "not_built", "UnknownLocaleError")
    assert sorted(mailer.recipients()) == [invitees[0].email, invitees[2].email]


def test_a_round_invitation_to_an_address_found_dead_meanwhile_says_why_as_the_invitees_page_does(
    before_deadline, app, event, mailer
):
    asa = add_invitee(event, "Åsa Öberg", "åsa.öberg@example.se")
    dead, bo = add_invitees(event, 2)
    queue_invitations(event, [asa, dead, bo])  # their tasks wait in Redis: no worker runs yet
    # Found while the round waited: OSA cannot write Åsa's address; the relay refused the other's.
    db.session.execute(update(Invitee).where(Invitee.id == asa.id).values(
        undeliverable_at=utcnow(), undeliverable_problem="address_not_ascii", undeliverable_reason=asa.email))
    db.session.execute(update(Invitee).where(Invitee.id == dead.id).values(
        undeliverable_at=utcnow(), undeliverable_reason="550 5.1.1 no such user"))
    db.session.commit()
    with running_worker(app):
        wait_for_outbox(lambda states: sorted(states.values()) == ["failed", "failed", "sent"])
    assert mailer.recipients() == [bo.email]
    failed = {row.recipient: row for row in db.session.scalars(select(Outbox).where(Outbox.state == "failed"))}
    with force_locale("en"):
        assert row_problem(failed[asa.email]) == "the address 'åsa.öberg@example.se' cannot be written in an email header"
        assert row_problem(failed[dead.email]) == "not sent: the address was found undeliverable (550 5.1.1 no such user)"


def test_an_address_the_relay_refuses_marks_the_invitee_and_gets_no_more_rounds_or_reminders(
    before_deadline, event, mailer, celery_worker, admin_client, runner
):
    invitees = add_invitees(event, 5)
    dead, full = invitees[1], invitees[3]
    mailer.rejected_recipients[dead.email] = "550 5.1.1 <inbjuden1@example.se>: Recipient address rejected"
    mailer.rejected_recipients[full.email] = "452 4.2.2 Mailbox full"  # temporary: tried again, not marked
    queue_invitations(event, invitees)
    wait_for_outbox(lambda s: len(s) == 5 and list(s.values()).count("sent") == 3 and "failed" in s.values(),
                    sweep=False)
    db.session.rollback()
    marked = {i.email: i.undeliverable_reason for i in db.session.scalars(
        select(Invitee).where(Invitee.undeliverable_at.is_not(None)))}
    assert marked == {dead.email: "550 5.1.1 <inbjuden1@example.se>: Recipient address rejected"}

    page = page_text(admin_client.get(f"/admin/invitees/{dead.id}"))
    assert "E-posten når inte fram" in page and "E-postserverns svar 550 5.1.1" in page
    assert listed_names(admin_client, "?status=undeliverable") == {dead.name}

    sent = runner.invoke(args=["invitations", "send", "--no-wait"])  # a new round leaves them out
    assert "0 invitations queued." in sent.output
    before_deadline.move_to(dt.datetime(2021, 11, 12, 9, 0, 30, tzinfo=STOCKHOLM))  # reminder-2
    run_due_jobs(only="reminder")
    db.session.rollback()
    reminded = set(db.session.scalars(select(Outbox.recipient).where(Outbox.kind == "reminder")))
    assert dead.email not in reminded and full.email in reminded


@pytest.mark.slow
def test_the_send_rate_is_never_exceeded(before_deadline, app, event, mailer, celery_worker):
    # At 120 a minute no second may see more than 2 messages, however the machine's speed varies:
    # each slot is a full interval after the relay's last reply.
    app.config["SEND_RATE_PER_MINUTE"] = 120
    for invitee in add_invitees(event, 20):
        queue_invitation(invitee)
    db.session.commit()
    wait_for_outbox(all_sent(20), timeout=120)
    arrivals = sorted(received.received_at for received in mailer.messages)
    busiest = max(sum(1 for t in arrivals if start <= t < start + 1.0) for start in arrivals)
    assert len(arrivals) == 20
    assert busiest <= 2, sorted(round(c - a, 3) for a, c in zip(arrivals, arrivals[2:]))[:5]


def test_the_same_email_written_twice_is_one_row(before_deadline, event, mailer):
    invitee = add_invitee(event)
    assert queue_invitation(invitee) is not None
    assert queue_invitation(invitee) is None
    db.session.commit()
    assert len(db.session.scalars(select(Outbox)).all()) == 1


def test_a_header_with_a_line_break_is_refused(before_deadline, event):
    invitee = add_invitee(event)
    rendered = RenderedEmail("Hej\r\nBcc: victim@example.org", "text", "<p>html</p>")
    with pytest.raises(HeaderInjection, match="subject contains a line break"):
        queue_email(kind="invitation", key="x", event=event, recipient=invitee.email, language="sv", rendered=rendered)
    assert db.session.scalar(select(Outbox.id)) is None


def test_the_secretariat_sees_a_failed_email_and_sends_it_again(before_deadline, app, event, mailer, celery_worker, runner):
    invitee = add_invitee(event, "Cia Berg", "cia.berg@example.se")
    mailer.rejected_recipients[invitee.email] = "550 5.2.1 Mailbox disabled"
    queue_invitation(invitee)
    db.session.commit()
    wait_for_outbox(lambda states: list(states.values()) == ["failed"])
    listed = runner.invoke(args=["outbox", "list", "--state", "failed"])
    assert "queued: 0  sending: 0  sent: 0  failed: 1" in listed.output
    assert "  failed  1  " in listed.output
    assert "Invitation  cia.berg@example.se  550 5.2.1 Mailbox disabled" in listed.output
    assert "  2021-11-01 10:" in listed.output  # 09.00 UTC is 10.00 in Skellefteå: the event's time
    # In a Swedish terminal, states and kinds in the secretariat's words, as on the admin's pages.
    swedish = app.test_cli_runner(env=SWEDISH_TERMINAL).invoke(args=["outbox", "list", "--state", "failed"]).output
    assert swedish.splitlines()[0] == "i kö: 0  skickas: 0  skickat: 0  misslyckat: 1"
    assert "  misslyckat  1  " in swedish and "Inbjudan  cia.berg@example.se  550 5.2.1 Mailbox disabled" in swedish

    del mailer.rejected_recipients[invitee.email]  # the mailbox works again
    retried = runner.invoke(args=["outbox", "retry"])
    assert retried.output == "1 email is queued again.\n"
    wait_for_outbox(all_sent(1))
    assert mailer.recipients() == ["cia.berg@example.se"]


LONG_NAME = "Svenska industrikommuners årliga möte om näringslivsfrågor och kompetensförsörjning i Västerbotten"
LONG_NAME_EN = "The Swedish Industrial Municipalities' annual meeting on business and skills in Västerbotten"


def as_sent(preview, kind: str) -> bytes:
    """A preview as the relay gets it: the bytes `build_message` makes of an outbox row holding it."""
    row = SimpleNamespace(
        subject=preview.subject, body_text=preview.text, body_html=preview.html, attachments=[],
        sender=str(Address("Svenska industrikommuner, Östra", addr_spec="osa@example.se")), recipient=preview.recipient,
        recipient_name="Åsa Öberg-Ståhl", reply_to="sekretariatet@example.se",
        created_at=dt.datetime(2021, 11, 2, 6, 0, tzinfo=dt.timezone.utc),
        message_id=f"<{kind}.1@example.se>", auto_submitted=True,
        unsubscribe_url=UNSUBSCRIBE_URL if kind in BULK_KINDS else "",
    )
    return build_message(row).as_bytes()


@pytest.mark.parametrize("language", ["sv", "en"])
def test_every_kind_parses_back_with_its_subject_parts_and_headers_intact(before_deadline, app, event, language):
    """The bytes the relay gets, read back as a mail client reads them."""
    event.name, event.name_en = LONG_NAME, LONG_NAME_EN
    add_invitee(event, "Åsa Öberg-Ståhl", "asa.oberg@example.se", "official", language)
    db.session.commit()
    for kind in KINDS:
        preview = preview_email(event, kind, language)
        assert len(preview.subject) > 78 and re.search("[åäö]", preview.subject), preview.subject
        sent = as_sent(preview, kind)
        assert b"\n" not in sent.replace(b"\r\n", b"")  # SMTP's line endings only
        # Every line folds to 78, but the one-click URL, which must stay whole (and under 998).
        unsubscribe = f"List-Unsubscribe: <{UNSUBSCRIBE_URL}>".encode()
        assert max(len(line) for line in sent.split(b"\r\n") if line != unsubscribe) <= 78
        assert (unsubscribe in sent.split(b"\r\n")) is (kind in BULK_KINDS)
        message = email.message_from_bytes(sent, policy=email.policy.default)
        assert message["Subject"] == preview.subject, kind
        assert parts(message) == ["text/plain", "text/html"], kind
        assert message.get_body(("plain",)).get_content().replace("\r\n", "\n") == preview.text
        assert message["To"].addresses[0].display_name == "Åsa Öberg-Ståhl"
        assert message["From"].addresses[0].display_name == "Svenska industrikommuner, Östra"
        assert message["X-Auto-Response-Suppress"] == "OOF, AutoReply"
        for name, value in message.items():
            assert not getattr(value, "defects", ()), (kind, name, value.defects)
        assert not message.defects, kind


def test_attachments_keep_their_names_and_a_header_with_a_line_break_is_refused(before_deadline, app):
    row = SimpleNamespace(
        subject="Rapport", body_text="Rad ett\n" + "å" * 400, body_html="<p>Rapport</p>", sender="osa@example.se",
        recipient="sekretariatet@example.se", recipient_name="", reply_to="",
        created_at=dt.datetime(2021, 11, 2, 6, 0, tzinfo=dt.timezone.utc), message_id="<r.1@example.se>",
        auto_submitted=False, unsubscribe_url="",
        attachments=[{"filename": "svar-över-tid.csv", "content_type": "text/csv; charset=utf-8", "data": "Namn\nÅsa\n"}],
    )
    message = email.message_from_bytes(build_message(row).as_bytes(), policy=email.policy.default)
    assert [part.get_filename() for part in message.iter_attachments()] == ["svar-över-tid.csv"]
    assert message["To"] == "sekretariatet@example.se" and message["Auto-Submitted"] is None
    with pytest.raises(ValueError):
        build_message(SimpleNamespace(**{**vars(row), "subject": "Hej\nBcc: victim@example.org"}))


def test_an_email_osa_cannot_write_fails_alone_with_its_reason_and_the_rest_of_its_batch_arrives(
    before_deadline, event, mailer, celery_worker, admin_client, caplog
):
    anna, bo = add_invitee(event, "Anna Ek", "anna.ek@example.se"), add_invitee(event, "Bo Ek", "bo.ek@example.se")
    first, second = queue_invitation(anna), queue_invitation(bo)
    # Changed by hand (or left by a fault of OSA's) after it was written: its calendar file has lost its content.
    db.session.execute(update(Outbox).where(Outbox.id == first).values(
        attachments=[{"filename": "innovationsmotet.ics", "content_type": "text/calendar"}]))
    db.session.commit()  # both go to the worker in one batch, the broken one first
    with caplog.at_level("WARNING"):
        wait_for_outbox(lambda states: states == {first: "failed", second: "sent"}, sweep=False)
    assert mailer.recipients() == ["bo.ek@example.se"]
    failed = db.session.get(Outbox, first)
    assert (failed.problem, failed.last_error, failed.attempts) == ("not_built", "KeyError", 1)
    with force_locale("en"):
        assert row_problem(failed) == ("not sent: OSA failed while writing this email (KeyError); whoever runs OSA "
                                       "finds why in its log, and can send it again once that is put right")
    assert "inte skickad: OSA misslyckades med att skriva e-postmeddelandet (KeyError)" in page_text(
        admin_client.get("/admin/mail"))
    assert f"unhandled KeyError in writing outbox row {first}" in caplog.text
    assert "anna" not in caplog.text.lower()
    assert db.session.get(Invitee, anna.id).undeliverable_at is None  # nothing wrong with her address


def test_an_address_outside_ascii_fails_with_the_reason_and_the_rest_of_the_batch_arrives(
    before_deadline, event, mailer, celery_worker, admin_client
):
    asa = add_invitee(event, "Åsa Öberg", "åsa.öberg@example.se")
    bo = add_invitee(event, "Bo Ek", "bo.ek@example.se")
    queue_invitation(asa)
    queue_invitation(bo)
    db.session.commit()
    states = wait_for_outbox(lambda states: sorted(states.values()) == ["failed", "sent"])
    assert mailer.recipients() == ["bo.ek@example.se"]
    failed = db.session.get(Outbox, next(row_id for row_id, state in states.items() if state == "failed"))
    assert failed.recipient == "åsa.öberg@example.se"
    assert (failed.problem, failed.last_error) == ("address_not_ascii", "åsa.öberg@example.se")
    with force_locale("en"):
        assert row_problem(failed) == "the address 'åsa.öberg@example.se' cannot be written in an email header"
    # Åsa is left out of rounds from now, and her page says why in the secretariat's language.
    marked = db.session.get(Invitee, asa.id)
    assert marked.undeliverable_at is not None
    assert (marked.undeliverable_problem, marked.undeliverable_reason) == ("address_not_ascii", "åsa.öberg@example.se")
    assert "Varför det inte går att skicka adressen 'åsa.öberg@example.se' går inte att skriva i ett e-posthuvud" \
        in page_text(admin_client.get(f"/admin/invitees/{asa.id}"))
    assert failed.attempts == 1


def test_an_address_whose_domain_has_swedish_letters_gets_its_mail_at_the_domains_ascii_name(
    before_deadline, event, mailer, celery_worker, admin_client
):
    anna = add_invitee(event, "Anna Ek", "anna.ek@håbo.se")
    queue_invitation(anna)
    db.session.commit()
    wait_for_outbox(lambda states: list(states.values()) == ["sent"])
    # The domain as DNS knows it (IDNA); the secretariat still reads the address as it was given.
    assert mailer.recipients() == ["anna.ek@xn--hbo-ula.se"]
    assert mailer.messages[0].message["To"] == "Anna Ek <anna.ek@xn--hbo-ula.se>"
    assert mailer.messages[0].message["To"].defects == ()
    assert "anna.ek@håbo.se" in page_text(admin_client.get(f"/admin/invitees/{anna.id}"))
    # A refusal that names only the address, as the relay wrote it, still finds her.
    with write_transaction():
        recorded = record_report(delivery_report("postfix", None, "anna.ek@xn--hbo-ula.se", "failed", "5.1.1",
                                                 "smtp; 550 5.1.1 unknown"))
    assert [invitee.id for invitee in recorded.undeliverable] == [anna.id]


# --- What goes first --------------------------------------------------------------------------


def at_120_a_minute(pg_app, smtp, redis_url, count: int):
    """The bundled event two weeks ahead with `count` invitees, on PostgreSQL, sending at 120 a minute
    in batches of 10 (so a round's batches are many, and a person's own email has its own batch)."""
    pg_app.config.update(SMTP_HOST=smtp.host, SMTP_PORT=smtp.port, REDIS_URL=redis_url,
                         SEND_RATE_PER_MINUTE=120, SEND_BATCH_SIZE=10)
    pg_app.extensions.pop("osa_throttle", None)
    event = store_event(read_event_file(BUNDLED_EVENT, starts_in_days=14)).event
    db.session.commit()
    return event, add_invitees(event, count)


def sent_before(smtp, is_it, kind: str) -> int:
    """How many messages whose subject starts with `kind` reached the server before the first `is_it`."""
    subjects = [m.message["Subject"] for m in smtp.messages]
    first = next(i for i, m in enumerate(smtp.messages) if is_it(m))
    return sum(1 for subject in subjects[:first] if subject.startswith(kind))


@pytest.mark.slow
def test_a_confirmation_overtakes_a_round_of_invitations_being_sent(pg_app, smtp, redis_url):
    """At 120 a minute, 300 invitations take 2.5 minutes: an invitee who answers as the 20th arrives
    gets their confirmation next, before the 23rd invitation, not after the 300th."""
    event, invitees = at_120_a_minute(pg_app, smtp, redis_url, 300)
    anna = invitees[0]
    queue_invitations(event, invitees)

    client = pg_app.test_client()
    path = link_path(anna)
    answer = {"csrf_token": csrf_token(client.get(path)), "day_day1": "yes", "transport_day1": "bus", "day_day2": "no"}
    with running_worker(pg_app):
        wait_for(lambda: len(smtp.messages) >= 20, 120, "the 20th invitation")
        saved = client.post(path, data=answer)  # the page was open already: only the click is timed
        assert saved.status_code == 303
        wait_for(lambda: any("Bekräftelse" in m.message["Subject"] for m in smtp.messages), 60, "the confirmation")
    confirmation = next(m for m in smtp.messages if "Bekräftelse" in m.message["Subject"])
    assert confirmation.rcpt_tos == [anna.email]
    assert 20 <= sent_before(smtp, lambda m: m is confirmation, "Inbjudan") <= 22


@pytest.mark.slow
def test_a_hotel_change_notice_overtakes_a_round_of_reminders_being_sent(pg_app, smtp, redis_url):
    event, invitees = at_120_a_minute(pg_app, smtp, redis_url, 300)
    anna = invitees[0]
    queue_invitations(event, invitees)
    with write_transaction():
        save_answer(anna, Answer(days={"day1": DayAnswer(attending=True), "day2": DayAnswer(attending=False)}))
    run_due_jobs(now=event.final_numbers_at + dt.timedelta(seconds=1), only="hotel-final")
    db.session.execute(update(Outbox).values(state="sent", sent_at=utcnow()))  # all that went out before
    db.session.commit()
    reminder_2 = next(due.at for due in due_times(event) if due.job == "reminder-2")
    assert run_due_jobs(now=reminder_2, only="reminder-2") == [("reminder-2", "done", 299)]

    with running_worker(pg_app):
        wait_for(lambda: len(smtp.messages) >= 20, 120, "the 20th reminder")
        with write_transaction():  # the secretariat changes Anna's answer after the final numbers
            save_answer(anna, Answer(days={"day1": DayAnswer(attending=True), "day2": DayAnswer(attending=True)}))
        changes_at = event.final_numbers_at + dt.timedelta(minutes=61)
        assert run_due_jobs(now=changes_at, only="hotel-changes")[-1] == ("hotel-changes", "done", 1)
        wait_for(lambda: any(m.rcpt_tos == [event.hotel_email] for m in smtp.messages), 60, "the change notice")
    assert 20 <= sent_before(smtp, lambda m: m.rcpt_tos == [event.hotel_email], "Påminnelse") <= 22


# --- One-click opt-out ------------------------------------------------------------------------


def test_one_click_unsubscribe_stops_reminders_and_nothing_else(before_deadline, app, event, client):
    bo = add_invitee(event, "Bo Berg", "bo.berg@example.se")
    cia = add_invitee(event, "Cia Ceder", "cia.ceder@example.se")
    with write_transaction():
        for invitee in (bo, cia):
            queue_invitation(invitee)
    invitation = email.message_from_bytes(  # as the mail program reads it
        build_message(db.session.scalar(select(Outbox).where(Outbox.recipient == bo.email))).as_bytes(),
        policy=email.policy.default)
    url = re.fullmatch(r"<(https?://\S+)>", invitation["List-Unsubscribe"]).group(1)
    assert invitation["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert url.startswith(app.config["BASE_URL"] + "/r/")
    assert url in invitation.get_body(("plain",)).get_content()  # the visible link is the same

    path = url.removeprefix(app.config["BASE_URL"])
    before = database_state(db.session, ("invitee", "response", "response_change", "outbox"))
    scanner = app.test_client(use_cookies=False)
    assert scanner.get(path).status_code == 200 and scanner.head(path).status_code == 200
    assert database_state(db.session, ("invitee", "response", "response_change", "outbox")) == before

    # What a mail program sends for "unsubscribe": no cookie, no form token.
    clicked = scanner.post(path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert clicked.status_code == 200
    assert "Klart: du får inga fler påminnelser" in page_text(clicked)
    db.session.rollback()
    assert db.session.get(Invitee, bo.id).reminders_opted_out
    assert db.session.scalar(select(Response).where(Response.invitee_id == bo.id)) is None  # never "won't come"
    assert scanner.post(path, data={"List-Unsubscribe": "Something-Else"}).status_code == 400

    before_deadline.move_to(dt.datetime(2021, 11, 12, 9, 0, 30, tzinfo=STOCKHOLM))  # reminder-2
    run_due_jobs(only="reminder")
    reminders = db.session.scalars(select(Outbox).where(Outbox.kind == "reminder")).all()
    assert [row.recipient for row in reminders] == [cia.email]
    assert build_message(reminders[0])["List-Unsubscribe"].startswith("<" + app.config["BASE_URL"] + "/r/")
    confirmations = [build_message(row) for row in db.session.scalars(select(Outbox).where(Outbox.bulk.is_(False)))]
    assert all(message["List-Unsubscribe"] is None for message in confirmations)


def test_a_reminder_waiting_its_turn_goes_only_to_those_who_still_have_not_answered(
    before_deadline, app, event, mailer, admin_client
):
    """At 30 a minute a round of reminders takes minutes (days, at the relay's daily limit): whoever answers,
    asks for no reminders or is removed before their reminder's turn does not get it, and the mail log says why."""
    anna, bo, cia, dan = (add_invitee(event, name, f"{name.lower().replace(' ', '.')}@example.se")
                          for name in ("Anna Ek", "Bo Berg", "Cia Ceder", "Dan Dahl"))
    with write_transaction():
        for invitee in (anna, bo, cia, dan):
            queue_invitation(invitee)
    db.session.execute(update(Outbox).values(state="sent", sent_at=utcnow()))  # they went out
    db.session.commit()
    before_deadline.move_to(dt.datetime(2021, 11, 12, 9, 0, 30, tzinfo=STOCKHOLM))  # reminder-2
    assert run_due_jobs(only="reminder") == [("reminder-7", "missed", 0), ("reminder-2", "done", 4)]
    assert page_text(admin_client.get("/admin/mail")).count("Påminnelse, skrivs när den skickas") == 4
    waiting = db.session.scalar(select(Outbox.id).where(Outbox.kind == "reminder", Outbox.recipient == dan.email))
    message_page = admin_client.get(f"/admin/mail/{waiting}").get_data(as_text=True)
    assert "Texten i en inbjudan eller påminnelse i ett utskick skrivs när den skickas" in html_text(message_page)
    assert f'href="/admin/previews/reminder/sv?invitee={dan.id}"' in message_page  # "Se den som den skulle bli nu"
    assert "Hej Dan Dahl!" in page_text(admin_client.get(f"/admin/previews/reminder/sv?invitee={dan.id}"))

    invitee = app.test_client(use_cookies=False)  # each on their own phone, while the reminders wait
    assert ": Påminnelse (på väg)" in page_text(invitee.get(link_path(dan) + "/data"))  # what OSA holds about Dan
    path = link_path(anna)
    assert invitee.post(path, data={"csrf_token": csrf_token(invitee.get(path)), "day_day1": "yes",
                                    "transport_day1": "bus", "day_day2": "no"}).status_code == 303
    assert invitee.post(opt_out_url(bo).removeprefix(app.config["BASE_URL"]), data="List-Unsubscribe=One-Click",
                        content_type="application/x-www-form-urlencoded").status_code == 200
    page = admin_client.get(f"/admin/invitees/{cia.id}")
    assert admin_client.post(f"/admin/invitees/{cia.id}/remove", data={
        "csrf_token": csrf_token(page), "confirmed": "yes"}).status_code == 302

    db.session.rollback()
    reminders = {row.recipient: row.id for row in db.session.scalars(select(Outbox).where(Outbox.kind == "reminder"))}
    deliver(list(reminders.values()))  # as the sending task does when their turn comes
    got = {message.rcpt_tos[0]: message.message["Subject"] for message in mailer.messages}
    assert [address for address, subject in got.items() if subject.startswith("Påminnelse")] == [dan.email]
    assert got[anna.email].startswith("Bekräftelse")  # her own answer, not a reminder
    db.session.rollback()
    outcome = {address: (row.state, row.problem) for address, row_id in reminders.items()
               for row in [db.session.get(Outbox, row_id)]}
    assert outcome == {anna.email: ("failed", "answered"), bo.email: ("failed", "opted_out"),
                       cia.email: ("failed", "removed"), dan.email: ("sent", "")}
    log = page_text(admin_client.get("/admin/mail"))
    assert "inte skickad: den inbjudna svarade innan påminnelsen gick ut" in log
    assert "inte skickad: den inbjudna bad om att slippa påminnelser innan påminnelsen gick ut" in log
    assert "inte skickad: den inbjudna togs bort innan påminnelsen gick ut" in log
    anna_data = page_text(invitee.get(link_path(anna) + "/data"))
    assert ": Påminnelse (inte skickad)" in anna_data and f": {got[anna.email]}" in anna_data  # sent: its subject


# --- The relay's daily limit ------------------------------------------------------------------


def test_a_round_larger_than_the_daily_limit_waits_for_the_window_while_a_confirmation_uses_the_reserve(
    before_deadline, app, event, mailer, celery_worker, client
):
    app.config.update(SEND_DAILY_LIMIT=100, SEND_DAILY_RESERVE=0.1)  # a round may use 90 of each 24 hours
    invitees = add_invitees(event, 250)
    anna = invitees[0]
    queue_invitations(event, invitees)

    def sent(count: int):
        return lambda states: sum(state == "sent" for state in states.values()) == count and "sending" not in set(
            states.values())

    wait_for_outbox(sent(90))
    assert len(mailer.messages) == 90
    path = link_path(anna)  # Anna answers: her confirmation is not part of the round, and goes at once
    assert client.post(path, data={"csrf_token": csrf_token(client.get(path)), "day_day1": "yes",
                                   "transport_day1": "bus", "day_day2": "no"}).status_code == 303
    wait_for_outbox(sent(91))
    assert "Bekräftelse" in mailer.messages[-1].message["Subject"] and len(mailer.messages) == 91

    arrived = [91]
    for total in (181, 251):  # the next day, when the first day's sends have left the window; then the day after
        db.session.rollback()
        latest = db.session.scalar(select(func.max(Outbox.sent_at)))
        before_deadline.move_to(latest + dt.timedelta(hours=24, seconds=1))
        wait_for_outbox(sent(total))
        arrived.append(len(mailer.messages))
    assert arrived == [91, 181, 251]
    assert sorted(mailer.recipients()) == sorted([invitee.email for invitee in invitees] + [anna.email])

    bulk_sent = sorted(db.session.scalars(select(Outbox.sent_at).where(Outbox.bulk.is_(True))))
    busiest = max(sum(1 for t in bulk_sent if start <= t < start + dt.timedelta(hours=24)) for start in bulk_sent)
    assert busiest == 90  # no 24 hours of the relay's ever held more of the round than its share


@pytest.mark.both_backends
def test_invitations_held_back_by_the_daily_limit_say_what_holds_when_they_go(
    before_deadline, app, event, mailer, celery_worker, admin_client, runner, tmp_path
):
    # A round may use 85 of each 24 hours. The worker writes a round's invitations ten at a time just before
    # they go (81-90 together), so the 86th to 90th were written when the limit held them back.
    app.config.update(SEND_DAILY_LIMIT=95, SEND_DAILY_RESERVE=0.1)
    invitees = add_invitees(event, 100)
    queue_invitations(event, invitees)
    wait_for_outbox(lambda states: list(states.values()).count("sent") == 85 and "sending" not in states.values())
    assert len(mailer.messages) == 85

    # The next morning the secretariat rewrites day 1's summary and removes the 88th invitee.
    removed = invitees[87]
    rewrite_day_one_and_remove(runner, admin_client, tmp_path, removed)

    db.session.rollback()
    before_deadline.move_to(db.session.scalar(select(func.max(Outbox.sent_at))) + dt.timedelta(hours=24, seconds=1))
    wait_for_outbox(lambda states: list(states.values()).count("sent") == 99 and "failed" in states.values()
                    and "sending" not in states.values())
    assert sorted(mailer.recipients()) == sorted(invitee.email for invitee in invitees if invitee is not removed)
    texts = {m.rcpt_tos[0]: m.message.get_body(("plain",)).get_content() for m in mailer.messages}
    assert "Bussturen går ut" in texts[invitees[86].email] and "Bussturen går ut" in texts[invitees[95].email]
    assert "Bussturen går ut" not in texts[invitees[84].email]
    skipped = db.session.scalar(select(Outbox).where(Outbox.invitee_id == removed.id))
    assert (skipped.state, skipped.problem) == ("failed", "removed")


def test_the_secretariat_is_told_when_a_round_will_be_done_at_the_relays_limits(before_deadline, event, admin_client,
                                                                                runner):
    app = admin_client.application
    app.config.update(SEND_RATE_PER_MINUTE=30, SEND_DAILY_LIMIT=100, SEND_DAILY_RESERVE=0.1)
    add_invitees(event, 250)
    # Monday 1 November, 10.00 in Skellefteå: 90 today, 90 tomorrow, and the last 70 on Wednesday,
    # one every 61/30 s from 10.00, so the last about 10.02.
    with time_machine.travel(BEFORE_DEADLINE, tick=False):
        sent = runner.invoke(args=["invitations", "send", "--no-wait"])
        assert "At the pace the mail server allows, the round is done Wednesday 3 November 2021 at about 10:02." \
            in sent.output
        assert "onsdag 3 november 2021 ca kl. 10.02" in page_text(admin_client.get("/admin/send"))
        assert admin_client.get("/admin/send/progress").get_json()["done_at"] == \
            "I den takt e-postservern tillåter är utskicket klart onsdag 3 november 2021 ca kl. 10.02."
        log = page_text(admin_client.get("/admin/mail"))
        assert "Inbjudningar: 0 av 250 skickade. I den takt e-postservern tillåter är utskicket klart onsdag" in log


def test_the_invitation_of_a_moved_event_tells_its_new_dates(app):
    from service.events import store_event as store

    moved = store(read_event_file(BUNDLED_EVENT, starts_in_days=400)).event
    db.session.commit()
    invitee = add_invitee(moved, "Bo Berg", "bo.berg@example.se")
    text = preview_email(moved, "invitation", "sv", invitee).text
    first, last = moved.days[0].date, moved.days[-1].date
    assert "2021" not in text.split("Industridagen")[1].split("för att")[0]
    assert f"möts i Skellefteå {format_date_range(first, last, 'sv')} för att" in " ".join(text.split())


@pytest.mark.parametrize("language, day1, day2", [
    ("sv", "Dag 1, torsdag 25 november 2021: 09.00–17.00, därefter 18.00 Gemensam middag på hotellet. Guidad tur",
     "Dag 2, fredag 26 november 2021: 09.00–13.00"),
    ("en", "Day 1, Thursday 25 November 2021: 09:00–17:00, then 18:00 Dinner together at the hotel. A guided tour",
     "Day 2, Friday 26 November 2021: 09:00–13:00"),
])
def test_the_invitation_gives_each_days_hours_and_an_open_ended_dinner_by_its_start(
        before_deadline, event, language, day1, day2):
    # Day 1's programme ends at 17.00 and the dinner, which has no end, begins at 18.00: the day is
    # not "09.00–18.00", which reads as if it closed as the dinner begins.
    invitee = add_invitee(event, "Bo Berg", "bo.berg@example.se", language=language)
    email_ = preview_email(event, "invitation", language, invitee)
    lines = email_.text.splitlines()
    assert any(line.startswith(f"- {day1}") for line in lines), lines
    assert f"- {day2}" in lines
    hours = day1.split(": ", 1)[1].split(". ")[0]
    assert hours in html_text(email_.html) and day2.split(": ")[1] in html_text(email_.html)


@pytest.mark.parametrize("language, where", [
    ("sv", "på The Wood Hotel, Torggatan 3, Skellefteå centrum"),
    ("en", "at The Wood Hotel, Torggatan 3, Skellefteå centre"),  # the file's address_en
])
def test_an_invitation_and_a_reminder_name_the_hotel_where_the_meeting_is(before_deadline, event, language, where):
    invitee = add_invitee(event, "Bo Berg", "bo.berg@example.se", language=language)
    for kind in ("invitation", "reminder"):
        email_ = preview_email(event, kind, language, invitee)
        assert where in " ".join(email_.text.split()), kind
        assert where in html_text(email_.html), kind


@pytest.mark.parametrize("language", ["sv", "en"])
def test_every_text_part_sets_a_link_on_its_own_line_and_names_the_secretariat_once(before_deadline, event, language):
    from service.mail.previews import INVITEE_KINDS

    invitee = add_invitee(event, "Bo Berg", "bo.berg@example.se", language=language)
    for moment in (BEFORE_DEADLINE, dt.datetime(2021, 11, 16, 12, tzinfo=dt.timezone.utc)):  # open, then closed
        before_deadline.move_to(moment)
        for kind in INVITEE_KINDS:
            text = preview_email(event, kind, language, invitee).text
            lines = text.splitlines()
            for number, line in enumerate(lines[:-1]):
                if line.startswith("http"):
                    assert lines[number + 1] == "", (kind, moment, line, lines[number + 1])
            if kind in ("confirmation", "moved_up", "event_change", "decline"):  # after the deadline, not twice
                assert text.count(event.secretariat_email) == 1, (kind, moment)


