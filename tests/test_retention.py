"""Personal data with an end: what the hotel sees, an invitee's own data and erasure, the archive
written before a removal (and a removal that waits when it cannot be), and postponing one."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import io
import json
import zipfile
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import select

from service.answers import Answer, DayAnswer, save_answer
from service.db import utcnow, write_transaction
from service.extensions import db
from service.jobs import run_due_jobs
from service.links import hotel_url
from service.mail.compose import queue_invitation
from service.mail.delivery import build_message, deliver
from service.models import Invitee, JobRun, Outbox, ReportKind, DeliveryReport
from service.retention import erase_invitee, removal_at

from .conftest import add_invitee, link_path, sign_in, wait_for_outbox
from .support.helpers import csrf_token, page_text, stored_anywhere

pytestmark = pytest.mark.both_backends

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=STOCKHOLM)


def answer(person, allergies="", comment="", flight="", nights=()):
    with write_transaction():
        save_answer(db.session.get(Invitee, person.id), Answer(
            days={"day1": DayAnswer(True, "airport" if flight else "own", flight_number=flight,
                                    flight_arrival=dt.time(9, 5) if flight else None),
                  "day2": DayAnswer(True)},
            meals={"lunch-day1", "dinner-day1"}, diets={"vegetarian"}, allergies=allergies, comment=comment,
            hotel_nights=set(nights),
        ))


@pytest.fixture
def two_guests(before_deadline, event):
    anna = add_invitee(event, "Anna Ek", "anna.ek@example.se")
    bo = add_invitee(event, "Bo Berg", "bo.berg@example.se", "official")
    answer(anna, "Nötter och mandel", "Kommer med assistent", "SK 2014", {"night-25"})
    answer(bo, "Laktos", "Sitter gärna längst fram")
    return anna, bo


# --- The hotel ---------------------------------------------------------------------------------


@pytest.mark.parametrize("names", [False, True])
def test_the_hotel_gets_allergies_without_names_unless_the_event_file_gives_it_names(
    before_deadline, app, event, client, two_guests, names
):
    anna, bo = two_guests
    event.hotel_names = names
    db.session.commit()
    before_deadline.move_to(event.final_numbers_at + dt.timedelta(seconds=30))
    assert run_due_jobs(only="hotel-final") == [("hotel-final", "done", 1)]
    answer(bo, "Laktos och gluten")
    before_deadline.move_to(event.final_numbers_at + dt.timedelta(hours=1, seconds=30))
    assert run_due_jobs(only="hotel-changes") == [("hotel-changes", "done", 1)]
    db.session.rollback()
    final, change = (db.session.scalar(select(Outbox.body_text).where(Outbox.kind == kind))
                     for kind in ("hotel_final", "hotel_change"))
    page = page_text(client.get(hotel_url(event).removeprefix(app.config["BASE_URL"])))
    for shown in (final, page):
        assert ("Anna Ek" in shown) is names and ("Bo Berg" in shown) is names
    assert ("Bo Berg" in change) is names and "Anna Ek" not in change
    assert ("- Anna Ek: Nötter och mandel" if names else "- Nötter och mandel") in final
    assert ("- Ny allergi: Bo Berg: Laktos och gluten" if names else "- Ny allergi: Laktos och gluten") in change
    assert "Nötter och mandel" in page and "Laktos och gluten" in page
    # Names beside rooms too, as the privacy notice says: Anna's night, but never her address.
    assert ("Rumslista Namn Organisation Ankomst Avresa Nätter Anna Ek Skellefteå kommun 25 nov. 26 nov. 1 "
            in page) is names
    assert "anna.ek@example.se" not in page
    # The final numbers bring the rooming list too, in the email and as a file for the hotel's system.
    row = db.session.scalar(select(Outbox).where(Outbox.kind == "hotel_final"))
    sent = email.message_from_bytes(build_message(row).as_bytes(), policy=email.policy.default)  # as the relay gets it
    assert ("RUMSLISTA\n- Anna Ek, Skellefteå kommun: 25 nov. – 26 nov.\n" in final) is names
    files = {part.get_filename(): part.get_content() for part in sent.iter_attachments()}
    assert list(files) == (["innovationsmotet-2021-rumslista.xlsx"] if names else [])
    if names:
        workbook = openpyxl.load_workbook(io.BytesIO(files["innovationsmotet-2021-rumslista.xlsx"]))
        assert [list(line) for line in workbook["Rumslista"].iter_rows(values_only=True)] == [
            ["Namn", "Organisation", "Ankomst", "Avresa", "Nätter"], ["Anna Ek", "Skellefteå kommun", "25 nov.", "26 nov.", "1"]]
    assert "anna.ek@example.se" not in sent.as_string()


def test_with_names_the_hotel_is_told_who_came_into_the_rooming_list_or_left_it_until_their_data_goes(
    before_deadline, app, event, client, two_guests, mailer, celery_worker
):
    anna, bo = two_guests  # Anna has the night of 25 November; Bo no night
    event.hotel_names = True
    db.session.commit()
    before_deadline.move_to(event.final_numbers_at + dt.timedelta(seconds=30))
    assert run_due_jobs(only="hotel-final") == [("hotel-final", "done", 1)]
    answer(bo, "Laktos", nights={"night-24"})
    answer(anna, "Nötter och mandel", nights={"night-24", "night-25"})  # a night more: a new stay
    before_deadline.move_to(event.final_numbers_at + dt.timedelta(hours=1, seconds=30))
    assert run_due_jobs(only="hotel-changes") == [("hotel-changes", "done", 1)]
    db.session.rollback()
    notice = db.session.scalar(select(Outbox.body_text).where(Outbox.kind == "hotel_change"))
    lines = [line for line in notice.splitlines() if "rumslistan" in line]
    assert lines == ["- I rumslistan: Anna Ek, Skellefteå kommun: 24 nov. – 26 nov.",
                     "- I rumslistan: Bo Berg, Skellefteå kommun: 24 nov. – 25 nov.",
                     "- Inte längre i rumslistan: Anna Ek, Skellefteå kommun: 25 nov. – 26 nov."]
    page = page_text(client.get(hotel_url(event).removeprefix(app.config["BASE_URL"])))
    assert "I rumslistan: Bo Berg, Skellefteå kommun: 24 nov. – 25 nov." in page  # its changes since the final numbers
    wait_for_outbox(lambda states: list(states.values()) == ["sent", "sent"], sweep=False)
    received = [m.message.get_body(("plain",)).get_content() for m in mailer.messages]
    assert [text for text in received if "- I rumslistan: Bo Berg, Skellefteå kommun: 24 nov. – 25 nov." in text]

    # What is kept to compare with goes with the person: at their erasure, then for everyone.
    with write_transaction():
        erase_invitee(db.session.get(Invitee, bo.id))
    assert stored_anywhere(db.session, ["Bo Berg", "Anna Ek"]) == {"Anna Ek"}
    # Bo still has his room, with no name now: the list as sent and as it stands agree, so no notice.
    before_deadline.move_to(event.final_numbers_at + dt.timedelta(hours=2, seconds=30))
    assert run_due_jobs(only="hotel-changes") == [("hotel-changes", "done", 0)]
    page = page_text(client.get(hotel_url(event).removeprefix(app.config["BASE_URL"])))
    assert "Nätter (raderad) 24 nov. 25 nov. 1 Anna Ek" in page  # the room, with no one attached
    before_deadline.move_to(removal_at(event, "personal") + dt.timedelta(seconds=30))
    run_due_jobs(only="remove")
    assert stored_anywhere(db.session, ["Anna Ek", "Bo Berg"]) == set()


# --- An invitee's own data ----------------------------------------------------------------------


def test_your_data_shows_everything_held_about_the_invitee_and_nothing_of_anyone_else(
    before_deadline, event, client, two_guests
):
    anna, bo = two_guests
    with write_transaction():
        queue_invitation(db.session.get(Invitee, anna.id))
        db.session.add(DeliveryReport(report_key="ooo-1", kind=ReportKind.AUTO_REPLY, invitee_id=anna.id,
                                      text="Jag är på semester till 29 november."))
    page = client.get(link_path(anna) + "/data")
    assert page.status_code == 200
    text = page_text(page)
    for value in ("Anna Ek", "anna.ek@example.se", "Skellefteå kommun", "Nötter och mandel", "Kommer med assistent",
                  "SK 2014", "09.05", "Inbjudan: Innovationsmötet", "Jag är på semester till 29 november.",
                  "Dina personuppgifter"):
        assert value in text, value
    for value in ("Bo Berg", "bo.berg@example.se", "Laktos", "Sitter gärna längst fram"):
        assert value not in text, value
    # The answer as the confirmation words it, a fact to a line (not the data behind it).
    assert "Dag 1, torsdag 25 november 2021 Kommer" in text and "[(" not in text and "')" not in text
    english = page_text(client.get(link_path(anna) + "/data?lang=en"))
    assert "everything OSA holds about you for The Swedish Industrial Municipalities' innovation meeting." in english
    assert "Day 1, Thursday 25 November 2021 Coming" in english
    assert "Dina uppgifter" in page_text(client.get(link_path(anna)))  # the answer page links to it

    download = client.get(link_path(anna) + "/data.json")
    assert download.headers["Content-Disposition"] == 'attachment; filename="innovationsmotet-2021-data.json"'
    data = json.loads(download.get_data(as_text=True))
    assert data["details"]["email"] == "anna.ek@example.se"
    assert data["answer"]["allergies"] == "Nötter och mandel"
    assert data["answer"]["days"]["day1"]["flight_number"] == "SK 2014"
    assert [email["kind"] for email in data["emails"]] == ["invitation"]
    assert "Bo Berg" not in json.dumps(data, ensure_ascii=False)


def test_an_erasure_the_invitee_asks_for_and_the_secretariat_confirms_leaves_no_trace_of_them(
    before_deadline, app, event, client, two_guests, admin_client, mailer, celery_worker
):
    anna, bo = two_guests
    before_deadline.move_to(event.final_numbers_at + dt.timedelta(seconds=30))
    run_due_jobs(only="hotel-final")  # the hotel's numbers and email list Anna's allergy too
    wait_for_outbox(lambda states: list(states.values()) == ["sent"], sweep=False)
    link = link_path(anna)  # signed once: a link carries the second it was signed, and the clock ticks
    page = client.get(link + "/data")
    # Only the button asks: the address opened again (a reloaded tab) leads back to the data page.
    again = client.get(link + "/erase")
    assert again.status_code == 302 and again.headers["Location"].startswith(link + "/data")
    assert db.session.get(Invitee, anna.id).erasure_requested_at is None
    asked = client.post(link_path(anna) + "/erase", data={"csrf_token": csrf_token(page)})
    assert "Din begäran om radering har nått sekretariatet" in page_text(asked)
    assert db.session.get(Invitee, anna.id).erased_at is None  # nothing is erased until it is confirmed

    privacy = page_text(sign_in(admin_client).get("/admin/privacy"))
    assert "Begäranden om radering Namn Begärt Anna Ek" in privacy
    counts = admin_client.get("/admin/export/counts.csv").get_data(as_text=True)
    confirm = admin_client.get(f"/admin/invitees/{anna.id}/erase")
    assert "Anna Ek har bett om att bli raderad." in page_text(confirm)
    done = admin_client.post(f"/admin/invitees/{anna.id}/erase", data={"csrf_token": csrf_token(confirm)})
    assert done.status_code == 302

    hers = ["Anna Ek", "anna.ek@example.se", "Nötter och mandel", "Kommer med assistent", "SK 2014"]
    assert stored_anywhere(db.session, hers) == set()
    assert stored_anywhere(db.session, ["Bo Berg", "bo.berg@example.se", "Laktos", "Sitter gärna längst fram"]) == {
        "Bo Berg", "bo.berg@example.se", "Laktos", "Sitter gärna längst fram"}
    assert admin_client.get("/admin/export/counts.csv").get_data(as_text=True) == counts  # she still counts
    door = page_text(admin_client.get("/admin/lists/day/day1"))  # the list to tick: her place, no name
    assert "2 personer # Namn Organisation Roll ✓ 1 (raderad) KSO (politiker) 2 Bo Berg" in door
    assert "Dina uppgifter har raderats" in page_text(client.get(link_path(db.session.get(Invitee, anna.id))))
    assert client.get(link_path(anna) + "/data").status_code == 410


def test_an_erasure_while_the_report_and_the_hotels_numbers_wait_for_the_relay_sends_them_without_the_person(
    before_deadline, app, event, two_guests, mailer
):
    anna, bo = two_guests
    event.hotel_names = True
    db.session.commit()
    # The morning's report and the final numbers are written, and wait: the relay is not reached yet.
    before_deadline.move_to(local(2021, 11, 18, 12, 0, 30))
    assert run_due_jobs(only="daily-report")[-1] == ("daily-report-2021-11-18", "done", 1)  # the days before: missed
    assert run_due_jobs(only="hotel-final") == [("hotel-final", "done", 1)]
    answer(bo, "Laktos", nights={"night-24"})  # after the final numbers: the next notice says so
    before_deadline.move_to(event.final_numbers_at + dt.timedelta(hours=1, seconds=30))
    assert run_due_jobs(only="hotel-changes") == [("hotel-changes", "done", 1)]
    waiting = db.session.scalars(select(Outbox).order_by(Outbox.id)).all()
    assert [(row.kind, row.state) for row in waiting] == [
        ("daily_report", "queued"), ("hotel_final", "queued"), ("hotel_change", "queued")]
    assert "Anna Ek: Nötter och mandel" in waiting[0].body_text and "Anna Ek" in waiting[1].body_text
    # A worker has just taken the report (and then stops before the relay takes it).
    with write_transaction():
        db.session.get(Outbox, waiting[0].id).state = "sending"
        db.session.get(Outbox, waiting[0].id).lease_until = utcnow() + dt.timedelta(minutes=1)

    with write_transaction():
        erase_invitee(db.session.get(Invitee, anna.id))
    hers = ["Anna Ek", "anna.ek@example.se", "Nötter och mandel", "Kommer med assistent", "SK 2014"]
    assert stored_anywhere(db.session, hers) == set()

    before_deadline.shift(dt.timedelta(minutes=2))  # the report's lease has run out: it goes again
    counts = deliver([row.id for row in waiting])
    assert counts["sent"] == 3
    received = {m.message["Subject"].split(":")[0]: m.message for m in mailer.messages}
    report, final, notice = received["Dagens antal torsdag 18 november 2021"], received["Slutligt antal"], \
        received["Ändrat antal"]
    for message in (report, final, notice):
        whole = message.get_body(("plain",)).get_content() + "".join(
            str(part.get_content()) for part in message.iter_attachments() if part.get_content_type() == "text/csv")
        assert not [value for value in hers if value in whole], message["Subject"]
    # The others stay as they were, and she still counts: two come on day 1.
    assert "Allergi: Bo Berg: Laktos" in report.get_body(("plain",)).get_content()
    assert "Dag 1, torsdag 25 november 2021: 2" in final.get_body(("plain",)).get_content()
    assert "I rumslistan: Bo Berg, Skellefteå kommun: 24 nov. – 25 nov." in notice.get_body(("plain",)).get_content()
    assert stored_anywhere(db.session, hers) == set()


# --- The archive --------------------------------------------------------------------------------


def test_with_the_archive_on_each_removal_first_writes_every_answer_and_its_history(
    before_deadline, app, event, two_guests, tmp_path
):
    app.config.update(RETENTION_ARCHIVE=True, RETENTION_ARCHIVE_DIR=str(tmp_path / "arkiv"))
    before_deadline.move_to(removal_at(event, "sensitive") + dt.timedelta(seconds=30))
    assert run_due_jobs(only="remove") == [("remove-sensitive", "done", 0)]
    archive = tmp_path / "arkiv" / "innovationsmotet-2021-sensitive-2021-12-11.zip"
    run = db.session.scalar(select(JobRun).where(JobRun.job == "remove-sensitive"))
    assert run.numbers == {"archive": archive.name, "sha256": hashlib.sha256(archive.read_bytes()).hexdigest()}
    with zipfile.ZipFile(archive) as package:
        assert sorted(package.namelist()) == ["README.txt", "answers.xlsx", "headcount.csv", "hotel-numbers.json"]
        book = openpyxl.load_workbook(io.BytesIO(package.read("answers.xlsx")))
        readme = package.read("README.txt").decode()
    answers = [[cell.value for cell in row] for row in book["Svar"].iter_rows(min_row=2)]
    assert sorted(row[0] for row in answers) == ["Anna Ek", "Bo Berg"]
    assert "Nötter och mandel" in answers[[row[0] for row in answers].index("Anna Ek")]  # written before removal
    history = [[cell.value for cell in row] for row in book["Historik"].iter_rows(min_row=2)]
    assert [row[0] for row in history] == ["Anna Ek", "Bo Berg"]
    assert "innan känsliga uppgifter togs bort" in readme
    assert stored_anywhere(db.session, ["Nötter och mandel"]) == set()


def test_a_removal_whose_archive_cannot_be_written_removes_nothing_and_says_why_until_it_can(
    before_deadline, app, event, two_guests, tmp_path, admin_client
):
    in_the_way = tmp_path / "arkiv"
    in_the_way.write_text("a file where the folder should be")
    app.config.update(RETENTION_ARCHIVE=True, RETENTION_ARCHIVE_DIR=str(in_the_way))
    due = removal_at(event, "sensitive")
    before_deadline.move_to(due + dt.timedelta(seconds=30))
    assert run_due_jobs(only="remove") == [("remove-sensitive", "blocked", 0)]
    before_deadline.move_to(due + dt.timedelta(minutes=1, seconds=30))
    assert run_due_jobs(only="remove") == [("remove-sensitive", "blocked", 0)]
    assert stored_anywhere(db.session, ["Nötter och mandel", "SK 2014"]) == {"Nötter och mandel", "SK 2014"}
    notices = db.session.scalars(select(Outbox).where(Outbox.kind == "retention_problem")).all()
    assert [n.recipient for n in notices] == ["sekretariatet@example.se"]  # once a day, not every minute
    why = f"arkivet kunde inte skrivas till {in_the_way} (en fil ligger där mappen ska vara)"  # not the system's English
    assert why in notices[0].body_text and "http://osa.example.se/admin/privacy" in notices[0].body_text
    assert why in page_text(sign_in(admin_client).get("/admin/privacy"))

    before_deadline.move_to(due + dt.timedelta(days=1, seconds=30))
    assert run_due_jobs(only="remove") == [("remove-sensitive", "blocked", 0)]
    assert len(db.session.scalars(select(Outbox).where(Outbox.kind == "retention_problem")).all()) == 2
    in_the_way.unlink()
    before_deadline.move_to(due + dt.timedelta(days=1, minutes=1, seconds=30))
    assert run_due_jobs(only="remove") == [("remove-sensitive", "done", 0)]
    assert stored_anywhere(db.session, ["Nötter och mandel", "SK 2014"]) == set()
    assert "Den senaste borttagningen kördes inte" not in page_text(sign_in(admin_client).get("/admin/privacy"))


# --- Postponing ---------------------------------------------------------------------------------


def test_the_secretariat_postpones_a_removal_with_a_reason_that_is_kept(before_deadline, event, admin_client):
    page = admin_client.get("/admin/privacy")
    text = page_text(page)
    assert "Känsliga uppgifter" in text and "lördag 11 december 2021 kl. 00.00" in text
    assert "fredag 25 februari 2022 kl. 00.00" in text
    refused = admin_client.post("/admin/privacy", data={"csrf_token": csrf_token(page), "step": "personal",
                                                        "until": "2022-03-01", "reason": ""})
    assert refused.status_code == 400 and "Ange varför: skälet sparas." in page_text(refused)
    too_early = admin_client.post("/admin/privacy", data={"csrf_token": csrf_token(page), "step": "personal",
                                                          "until": "2022-02-01", "reason": "Revision"})
    assert too_early.status_code == 400 and "Välj en dag efter fredag 25 februari 2022" in page_text(too_early)
    done = admin_client.post("/admin/privacy", data={
        "csrf_token": csrf_token(page), "step": "personal", "until": "2022-06-30",
        "reason": "Kommunens revision granskar mötets kostnader i maj."})
    assert done.status_code == 302
    text = page_text(admin_client.get("/admin/privacy"))
    assert "torsdag 30 juni 2022 kl. 00.00" in text
    assert "uppskjuten av sekretariatet: Kommunens revision granskar mötets kostnader i maj." in text
    assert removal_at(event, "personal") == local(2022, 6, 30, 0, 0)
    assert removal_at(event, "sensitive") == local(2021, 12, 11, 0, 0)  # the other step stays


def test_the_record_of_processing_is_drafted_from_the_events_facts(event, runner, two_guests):
    record = runner.invoke(args=["privacy", "record"]).output
    assert "Registerförteckning (artikel 30 i dataskyddsförordningen), utkast: Innovationsmötet" in record
    assert "1. Personuppgiftsansvarig: Svenska industrikommuner" in record
    assert "3. Registrerade: inbjudna (KSO (politiker), Tjänsteman): 2 nu." in record
    assert "Hotellet (The Wood Hotel): antalen och allergierna, utan namn." in record
    assert "14 dagar efter sista dagen (lördag 11 december 2021)" in record
    assert "90 dagar efter (fredag 25 februari 2022)" in record
    english = runner.invoke(args=["privacy", "record", "--lang", "en"]).output
    assert "Record of processing (GDPR article 30), draft: The Swedish Industrial Municipalities' innovation meeting" in english
