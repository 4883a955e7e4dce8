"""The email pipeline end to end: outbox, a real Celery worker, Redis and an SMTP server."""

import base64
import binascii
import datetime as dt
import email
import email.policy
import re
from collections import Counter
from email.mime.nonmultipart import MIMENonMultipart
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import icalendar
import pytest
from flask_mail import BadHeaderError, Message
from sqlalchemy import select

from service.db import db
from service.emails import RenderedEmail
from service.eventfile import read_event_file
from service.mime import message_bytes
from service.models import Invitee, Outbox
from service.notifications import queue_invitation
from service.outbox import HeaderInjection, queue_email

from .conftest import BUNDLED_EVENT, add_invitee, all_sent, link_path, wait_for_outbox

STOCKHOLM = ZoneInfo("Europe/Stockholm")


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
    assert "200 invitation(s) queued." in result.output
    assert "Invitations: 200 sent, 0 failed." in result.output
    received = Counter(mailer.recipients())
    assert received == Counter(invitee.email for invitee in invitees)

    again = runner.invoke(args=["invitations", "send"])
    assert "0 invitation(s) queued." in again.output
    wait_for_outbox(all_sent(200), timeout=5)
    assert len(mailer.messages) == 200


def test_dry_run_previews_and_sends_nothing(before_deadline, event, mailer, runner):
    add_invitees(event, 3)
    result = runner.invoke(args=["invitations", "send", "--dry-run"])
    assert "3 invitation(s) would be sent." in result.output
    assert "Subject: Inbjudan: Innovationsmötet med Svenska Industrikommuner, torsdag 25 – fredag 26 november 2021" in result.output
    assert "http://osa.example.se/r/" in result.output
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
    client.post(link_path(anna) + "/decline", data={"csrf_token": re.search(
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
        kind = db.session.scalar(select(Outbox.kind).where(Outbox.message_id == message["Message-ID"]))
        kinds.setdefault(kind, []).append(message)
    assert {kind: len(messages) for kind, messages in kinds.items()} == {
        "invitation": 2, "confirmation": 2, "decline": 1, "moved_up": 1,
    }
    assert "text/calendar" not in parts(kinds["decline"][0])
    for kind in ("invitation", "confirmation", "moved_up"):
        assert "text/calendar" in parts(kinds[kind][0]), kind

    anna_confirmation = next(m for m in kinds["confirmation"] if m["To"] == "anna.andersson@example.se")
    text = anna_confirmation.get_body(("plain",)).get_content()
    assert "Bussen från The Wood Hotel, kl. 09.00 från The Wood Hotel, Torggatan 3" in text
    assert "Middag på hotellet 18.00 (The Wood Hotel)" in text
    assert "http://osa.example.se/r/" in text
    moved = kinds["moved_up"][0]
    assert moved["To"] == "bo.ek@example.se"
    assert moved["Subject"].startswith("A place is now yours")
    assert "A place has become free and is now yours: The bus from The Wood Hotel." in moved.get_body(("plain",)).get_content()


def calendar_of(message) -> icalendar.Calendar:
    attachment = next(part for part in message.walk() if part.get_content_type() == "text/calendar")
    return icalendar.Calendar.from_ical(attachment.get_payload(decode=True))


def test_invitation_ics_times_equal_the_event_file(before_deadline, event, mailer, celery_worker):
    invitee = add_invitee(event)
    queue_invitation(invitee)
    db.session.commit()
    wait_for_outbox(all_sent(1))
    calendar = calendar_of(mailer.messages[0].message)
    assert calendar["METHOD"] == "PUBLISH"
    assert [c.name for c in calendar.subcomponents][0] == "VTIMEZONE"
    definition = read_event_file(BUNDLED_EVENT)
    entries = calendar.walk("VEVENT")
    assert len(entries) == len(definition.days) == 2
    for entry, day in zip(entries, definition.days):
        assert entry.decoded("DTSTART") == day.items[0].starts_at
        assert entry.decoded("DTSTART").tzinfo.key == "Europe/Stockholm"
        assert entry.decoded("DTEND") == max(item.ends_at or item.starts_at for item in day.items)
        assert str(entry["UID"]) == f"innovationsmotet-2021-{day.key}@example.se"
    assert entries[0].decoded("DTSTART") == dt.datetime(2021, 11, 25, 9, 0, tzinfo=STOCKHOLM)


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


def test_the_secretariat_sees_a_failed_email_and_sends_it_again(before_deadline, event, mailer, celery_worker, runner):
    invitee = add_invitee(event, "Cia Berg", "cia.berg@example.se")
    mailer.rejected_recipients[invitee.email] = "550 5.2.1 Mailbox disabled"
    queue_invitation(invitee)
    db.session.commit()
    wait_for_outbox(lambda states: list(states.values()) == ["failed"])
    listed = runner.invoke(args=["outbox", "list", "--state", "failed"])
    assert "queued: 0  sending: 0  sent: 0  failed: 1" in listed.output
    assert "invitation    cia.berg@example.se  550 5.2.1 Mailbox disabled" in listed.output

    del mailer.rejected_recipients[invitee.email]  # the mailbox works again
    retried = runner.invoke(args=["outbox", "retry"])
    assert retried.output == "1 email(s) queued again.\n"
    wait_for_outbox(all_sent(1))
    assert mailer.recipients() == ["cia.berg@example.se"]


class _FlaskMailMessage(Message):
    """Flask-Mail's message with OSA's quoted-printable text parts: the reference `message_bytes` must equal."""

    def _mimetext(self, text, subtype="plain"):
        part = MIMENonMultipart("text", subtype, charset="utf-8")
        part["Content-Transfer-Encoding"] = "quoted-printable"
        part.set_payload(binascii.b2a_qp(text.encode("utf-8"), istext=True).decode("ascii"))
        return part


def _flask_mail_bytes(row) -> bytes:
    message = _FlaskMailMessage(
        subject=row.subject, recipients=[row.recipient], body=row.body_text, html=row.body_html or None,
        sender=row.sender, reply_to=row.reply_to or None, date=row.created_at.timestamp(),
        extra_headers={"Auto-Submitted": "auto-generated"} if row.auto_submitted else {},
    )
    message.msgId = row.message_id
    for attachment in row.attachments:
        data = (base64.b64decode(attachment["data"]) if attachment.get("encoding") == "base64"
                else attachment["data"].encode("utf-8"))
        content_id = attachment.get("content_id")
        message.attach(attachment["filename"], attachment["content_type"], data,
                       disposition="inline" if content_id else "attachment",
                       headers={"Content-ID": f"<{content_id}>"} if content_id else None)
    return message.as_bytes()


def _same_boundaries(data: bytes) -> bytes:
    for n, boundary in enumerate(dict.fromkeys(re.findall(rb'boundary="([^"]+)"', data))):
        data = data.replace(boundary, b"BOUNDARY-%d" % n)
    return data


def test_the_bytes_sent_are_what_flask_mail_builds(before_deadline, app, event):
    anna = add_invitee(event)
    bo = add_invitee(event, "Bo Ek", "bo.ek@example.se", "official", "en")
    queue_invitation(anna)
    queue_invitation(bo)
    db.session.commit()
    rows = list(db.session.scalars(select(Outbox).order_by(Outbox.id)))
    created = dt.datetime(2021, 11, 2, 6, 0, tzinfo=dt.timezone.utc)
    png = base64.b64encode(b"\x89PNG\r\n" + bytes(range(256)) * 8).decode("ascii")
    rows += [
        SimpleNamespace(  # a report: an inline picture and a CSV, a long plain subject, a name to encode
            subject="Daglig rapport " + "med en rubrik som är längre än en rad får vara " * 2, body_text="Rad ett\n" + "å" * 400,
            body_html="<p>Rapport</p>\n<img src=\"cid:chart@example.se\">", sender="Sekretariatet, Öst <osa@example.se>",
            recipient="sekretariatet@example.se", reply_to="Åsa Öberg <asa@example.se>", created_at=created,
            message_id="<report.1@example.se>", auto_submitted=True,
            attachments=[
                {"filename": "svar-over-tid.png", "content_type": "image/png", "encoding": "base64", "data": png,
                 "content_id": "chart@example.se"},
                {"filename": "svar.csv", "content_type": "text/csv; charset=utf-8", "data": "\ufeffNamn;E-post\nÅsa;a@example.se\n"},
            ],
        ),
        SimpleNamespace(  # text only: a single part, no Reply-To, not automated
            subject="Plain", body_text="Only text.\n.\nA line with a dot.", body_html="", attachments=[],
            sender="osa@example.se", recipient="Bo Ek <bo.ek@example.se>", reply_to="", created_at=created,
            message_id="<plain.1@example.se>", auto_submitted=False,
        ),
    ]
    for row in rows:
        sent = message_bytes(row)
        assert _same_boundaries(sent) == _same_boundaries(_flask_mail_bytes(row)), row.subject
        assert b"\n" not in sent.replace(b"\r\n", b"")  # SMTP's line endings only
        assert max(len(line) for line in sent.split(b"\r\n")) <= 78

    # A name outside ASCII is written as RFC 2231 says (Flask-Mail would label it "UTF8", not "utf-8").
    report = rows[-2]
    swedish = SimpleNamespace(**{**vars(report), "attachments": [{**report.attachments[1], "filename": "svar-över-tid.csv"}]})
    parsed = email.message_from_bytes(message_bytes(swedish), policy=email.policy.default)
    assert [part.get_filename() for part in parsed.iter_attachments()] == ["svar-över-tid.csv"]

    bad = SimpleNamespace(**{**vars(rows[-1]), "subject": "Hej\nBcc: victim@example.org"})
    with pytest.raises(BadHeaderError):
        message_bytes(bad)


def test_an_address_outside_ascii_fails_with_the_reason_and_the_rest_of_the_batch_arrives(
    before_deadline, event, mailer, celery_worker
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
    assert failed.last_error == "the address 'åsa.öberg@example.se' cannot be written in an email header"
    assert failed.attempts == 1
