"""The seed's whole timeline, from the invitations to the end of day 2: the clock moves
from one due time of the real beat schedule to the next, beat's task runs in a real
worker, and every email lands at the SMTP server. Each invitee, the secretariat and
the hotel get exactly what they should, once."""

import datetime as dt
import re
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from service.answers import Answer, DayAnswer, save_answer
from service.db import write_transaction
from service.extensions import db
from service.jobs import due_times
from service.mail.compose import queue_answer_emails
from service.models import Invitee, Outbox, ResponseDay

from .conftest import BUNDLED_EVENT, add_invitee, link_path, sign_in, wait_for_outbox
from .support.calendars import calendars_in
from .support.helpers import csrf_token, page_text, stored_anywhere

pytestmark = pytest.mark.both_backends

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def beat_fires(app):
    """What beat does every minute: the scheduled-jobs task, run by the worker."""
    schedule = app.extensions["celery"].conf.beat_schedule["scheduled-jobs"]
    return app.extensions["celery"].send_task(schedule["task"]).get(timeout=60)


def answer_on_the_page(client, invitee, **fields):
    page = client.get(link_path(invitee)).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    data = {"csrf_token": token}
    data.update(fields)
    assert client.post(link_path(invitee), data=data).status_code == 303


def correct_the_address(admin_client, invitee, address: str) -> None:
    """The secretariat corrects an address on the invitee's page, and confirms."""
    path = f"/admin/invitees/{invitee.id}/address"
    page = admin_client.get(path)
    asked = admin_client.post(path, data={"csrf_token": csrf_token(page), "email": address})
    done = admin_client.post(path, data={"csrf_token": csrf_token(asked), "email": address, "confirmed": "yes"})
    assert done.status_code == 302


def test_the_whole_timeline(before_deadline, app, event, mailer, celery_worker, admin_client, runner, tmp_path):
    client = admin_client  # the invitees' pages need no session; the secretariat's do
    bus = add_invitee(event, "Bo Buss", "bo.buss@example.se")
    flyer = add_invitee(event, "Flora Flyg", "flora.flyg@example.se", "official", "en")
    declines = add_invitee(event, "Nils Nej", "nils.nej@example.se")
    silent = add_invitee(event, "Tyra Tyst", "tyra.tyst@example.se", "official")
    # Two addresses from a stale list: the relay refuses both. One is corrected on 2 November.
    gone = add_invitee(event, "Rut Retur", "rut.retur@example.se")
    moved = add_invitee(event, "Ulf Flytt", "ulf.flytt@example.se", "official")
    for invitee in (gone, moved):
        mailer.rejected_recipients[invitee.email] = f"550 5.1.1 <{invitee.email}>: Recipient address rejected"
    assert "Invitations: 4 sent, 2 failed." in runner.invoke(args=["invitations", "send"]).output
    old_link = link_path(moved)

    answer_on_the_page(client, bus, day_day1="yes", transport_day1="bus", **{"meal_dinner-day1": "y"}, day_day2="yes")
    answer_on_the_page(client, flyer, day_day1="yes", transport_day1="airport", flight_number_day1="SK 2014",
                       flight_arrival_day1="09:05", day_day2="no", allergies="Nötter och skaldjur",
                       comment="Kommer med min rullator")
    answer_on_the_page(client, declines, day_day1="no", day_day2="no")

    down_at = None
    for due in list(due_times(event)):
        if due.job.startswith("remove-"):
            continue  # after the event: below
        if due.job == "hotel-changes" and due.at.astimezone(STOCKHOLM).date() != dt.date(2021, 11, 20):
            continue  # hourly checks with nothing to find; one day of them is enough
        if due.job == "day-before-day1":
            down_at = due.at  # the workers are down at 14.00 and back at 15.30
            continue
        if down_at and due.at >= down_at + dt.timedelta(minutes=90):
            before_deadline.move_to(down_at + dt.timedelta(minutes=90))
            beat_fires(app)
            down_at = None
        before_deadline.move_to(due.at + dt.timedelta(seconds=20))
        beat_fires(app)
        if due.job == "daily-report-2021-11-02":
            before_deadline.move_to(dt.datetime(2021, 11, 2, 10, 0, tzinfo=STOCKHOLM))
            correct_the_address(admin_client, moved, "ulf.flytt@example.org")
        if due.job == "daily-report-2021-11-22":
            before_deadline.move_to(dt.datetime(2021, 11, 22, 10, 0, tzinfo=STOCKHOLM))
            later_bus = tmp_path / "event.toml"  # the secretariat moves the bus a quarter earlier
            later_bus.write_text(BUNDLED_EVENT.read_text(encoding="utf-8").replace("time = 09:00:00", "time = 08:45:00"),
                                 encoding="utf-8")
            assert "1 person gets one email" in runner.invoke(args=["event", "load", str(later_bus)]).output
        if due.job == "reminder-2":
            beat_fires(app)  # two beats in the same minute
        if due.job == "hotel-changes" and due.at == dt.datetime(2021, 11, 20, 10, 0, tzinfo=STOCKHOLM):
            before_deadline.move_to(dt.datetime(2021, 11, 20, 10, 15, tzinfo=STOCKHOLM))
            with write_transaction():  # the secretariat adds a night for Bo on his behalf
                result = save_answer(db.session.get(Invitee, bus.id), Answer(
                    days={"day1": DayAnswer(True, "bus"), "day2": DayAnswer(True)}, meals={"dinner-day1"},
                    hotel_nights={"night-25"},
                ), actor="admin", actor_name="sekretariatet")
                queue_answer_emails(db.session.get(Invitee, bus.id), result)
    before_deadline.move_to(dt.datetime(2021, 11, 26, 18, 0, tzinfo=STOCKHOLM))
    beat_fires(app)
    wait_for_outbox(lambda states: list(states.values()).count("failed") == 2
                    and all(state in ("sent", "failed") for state in states.values()))

    received = Counter()
    for message in mailer.messages:
        kind = db.session.scalar(select(Outbox.kind).where(Outbox.message_id == message.message["Message-ID"]))
        received[(message.rcpt_tos[0], kind)] += 1
    reports = 25  # every morning from 2 to 26 November
    assert received == Counter({
        (bus.email, "invitation"): 1, (bus.email, "confirmation"): 2, (bus.email, "event_change"): 1,
        (bus.email, "day_before"): 2,
        (flyer.email, "invitation"): 1, (flyer.email, "confirmation"): 1, (flyer.email, "day_before"): 1,
        (declines.email, "invitation"): 1, (declines.email, "decline"): 1,
        (silent.email, "invitation"): 1, (silent.email, "reminder"): 2,
        ("ulf.flytt@example.org", "invitation"): 1, ("ulf.flytt@example.org", "reminder"): 2,
        ("sekretariatet@example.se", "daily_report"): reports,
        ("hotell@example.se", "hotel_final"): 1, ("hotell@example.se", "hotel_change"): 1,
    })

    # The bus moved on 22 November: Bo was told once, and the day before he reads the new time.
    def text_of(kind: str, recipient: str) -> list[str]:
        return [m.message.get_body(("plain",)).get_content() for m in mailer.messages if m.rcpt_tos == [recipient]
                and db.session.scalar(select(Outbox.kind).where(Outbox.message_id == m.message["Message-ID"])) == kind]
    assert "- Bussen från The Wood Hotel går kl. 08.45 i stället för 09.00." in text_of("event_change", bus.email)[0]
    assert "08.45" in text_of("day_before", bus.email)[0]

    # Rut's address stays dead: no reminder was even written for her.
    reminded = set(db.session.scalars(select(Outbox.recipient).where(Outbox.kind == "reminder")))
    assert reminded == {silent.email, "ulf.flytt@example.org"}
    # The first report after the round names both, with what to do; the next names neither again.
    reports = [m.message.get_body(("plain",)).get_content() for m in mailer.messages
               if m.rcpt_tos == ["sekretariatet@example.se"]]
    heading = "E-POST SOM INTE NÅR FRAM"
    assert heading in reports[0] and "rätta den sedan på deras sida i administrationen" in reports[0]
    assert f"- Rut Retur (Skellefteå kommun), rut.retur@example.se: 550 5.1.1 <rut.retur@example.se>: " \
           f"Recipient address rejected\r\n  http://osa.example.se/admin/invitees/{gone.id}" in reports[0]
    assert "- Ulf Flytt (Skellefteå kommun), ulf.flytt@example.se: 550 5.1.1" in reports[0]
    assert all(heading not in report for report in reports[1:])
    assert "E-posten når inte fram: 1" in reports[-1]
    # Ulf's new invitation carries a new link; the old one says it was replaced.
    invitation = next(m.message for m in mailer.messages if m.rcpt_tos == ["ulf.flytt@example.org"])
    new_link = re.search(r"http://osa\.example\.se(/r/[^/\s]+)\s", invitation.get_body(("plain",)).get_content())[1]
    assert new_link != old_link
    assert "Länken har ersatts" in page_text(client.get(old_link))

    # Every calendar file sent: per person and entry, SEQUENCE only grows; a decline cancels every entry.
    entries: dict[tuple[str, str], list[tuple[int, str, object]]] = {}
    for message in mailer.messages:
        for calendar in calendars_in(message.message):
            for entry in calendar.walk("VEVENT"):
                entries.setdefault((message.rcpt_tos[0], str(entry["UID"])), []).append(
                    (int(entry["SEQUENCE"]), str(calendar["METHOD"]), entry))
    for (recipient, uid), sent in entries.items():
        sequences = [sequence for sequence, _, _ in sent]
        assert sequences == sorted(set(sequences)), (recipient, uid, sequences)
    nils = {uid: sent for (recipient, uid), sent in entries.items() if recipient == declines.email}
    assert len(nils) == 2 and all(sent[-1][1] == "CANCEL" and sent[-1][0] > sent[0][0] for sent in nils.values())
    bos = [entry for (recipient, _), sent in entries.items() if recipient == bus.email for _, _, entry in sent]
    assert bos and all("Separata samtal mellan övriga" not in str(entry["DESCRIPTION"]) for entry in bos)
    day1 = [entry for (recipient, uid), sent in entries.items() if recipient == bus.email and "-day1-" in uid
            for _, method, entry in sent if method == "REQUEST" and str(entry["STATUS"]) == "CONFIRMED"]
    assert day1 and all(entry.decoded("DTEND") > dt.datetime(2021, 11, 25, 18, 0, tzinfo=STOCKHOLM) for entry in day1)

    # After the event: first the sensitive details go, then every person; the numbers stay.
    numbers = counted(client)
    removals = {due.job: due.at for due in due_times(event) if due.job.startswith("remove-")}
    assert {job: at.astimezone(STOCKHOLM) for job, at in removals.items()} == {
        "remove-sensitive": dt.datetime(2021, 12, 11, 0, 0, tzinfo=STOCKHOLM),  # 14 days after 26 November
        "remove-personal": dt.datetime(2022, 2, 25, 0, 0, tzinfo=STOCKHOLM),  # 90 days after
    }
    sensitive = ["Nötter och skaldjur", "Kommer med min rullator", "SK 2014"]
    assert stored_anywhere(db.session, sensitive) == {"Nötter och skaldjur", "Kommer med min rullator", "SK 2014"}
    before_deadline.move_to(removals["remove-sensitive"] + dt.timedelta(seconds=20))
    beat_fires(app)
    assert stored_anywhere(db.session, sensitive) == set()
    assert db.session.scalar(select(ResponseDay.flight_arrival).where(ResponseDay.flight_arrival.is_not(None))) is None
    assert counted(client) == numbers

    people = [i.name for i in (bus, flyer, declines, silent, gone, moved)] + \
             [i.email for i in (bus, flyer, declines, silent, gone)] + ["ulf.flytt@example.org"]
    assert stored_anywhere(db.session, people) == set(people)
    before_deadline.move_to(removals["remove-personal"] + dt.timedelta(seconds=20))
    beat_fires(app)
    assert stored_anywhere(db.session, people) == set()
    assert set(db.session.scalars(select(Invitee.organisation))) == {""}  # "Skellefteå kommun" is the event's too
    assert [(row.kind, row.state) for row in db.session.scalars(select(Outbox)) if
            row.body_text or row.body_html or row.attachments or row.recipient_name] == []
    assert counted(client) == numbers
    assert "Dina uppgifter har raderats" in page_text(client.get(new_link))


def counted(client) -> tuple:
    """What the secretariat counts: the dashboard's numbers and the counts export (no one's name in them),
    signed in afresh (weeks pass between the looks)."""
    sign_in(client)
    page = client.get("/admin/numbers").get_data(as_text=True)
    tiles = re.findall(r'data-number="([a-z-]+)">(\d+)<', page)
    tables = re.findall(r'<table class="numbers" id="(days|meals|transport|nights|roles)">(.*?)</table>', page, re.S)
    return tiles, tables, client.get("/admin/export/counts.csv").get_data(as_text=True)
