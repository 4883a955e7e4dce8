"""Scheduled jobs over the seed's timeline: reminders before the deadline, and the
day-before logistics, tailored to each attendee's transport. The clock moves."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from service.answers import Answer, DayAnswer, save_answer
from service.db import write_transaction
from service.eventfile import parse_event
from service.events import store_event
from service.extensions import db
from service.jobs import due_times, run_due_jobs, working_day
from service.mail.compose import queue_invitation
from service.mail.delivery import deliver
from service.models import JobRun, Outbox

from .conftest import BUNDLED_EVENT, ENGLISH_TERMINAL, add_admin, add_invitee, sign_in
from .support.helpers import html_text

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=STOCKHOLM)


def answer(invitee, **days):
    with write_transaction():
        save_answer(invitee, Answer(days={key: value for key, value in days.items()}))


def outbox_of(address: str) -> list[str]:
    """The kinds of email written for an address, oldest first."""
    db.session.rollback()
    return list(db.session.scalars(select(Outbox.kind).where(Outbox.recipient == address).order_by(Outbox.id)))


def test_schedule_shows_every_job_in_local_time_and_what_became_of_it(event, runner):
    with time_machine.travel(local(2021, 11, 1, 9, 0), tick=False):
        queue_invitation(add_invitee(event))
        db.session.commit()
        assert runner.invoke(args=["schedule"]).output.splitlines() == [
            "måndag 8 november 2021 kl. 09.00    reminder-7        planerad",
            "fredag 12 november 2021 kl. 09.00   reminder-2        planerad",
            "torsdag 18 november 2021 kl. 12.00  hotel-final       planerad",
            "torsdag 18 november 2021 kl. 13.00  hotel-changes     "
            "var 60:e minut till fredag 26 november 2021 kl. 12.00, 0 ändringsbesked skickade",
            "onsdag 24 november 2021 kl. 14.00   day-before-day1   planerad",
            "torsdag 25 november 2021 kl. 14.00  day-before-day2   planerad",
            "lördag 11 december 2021 kl. 00.00   remove-sensitive  planerad",
            "fredag 25 februari 2022 kl. 00.00   remove-personal   planerad",
        ]
    # No worker ran for days: the first reminder is past its grace, the second is still within it.
    with time_machine.travel(local(2021, 11, 12, 10, 30), tick=False):
        lines = runner.invoke(args=["schedule"]).output.splitlines()
        assert lines[0].endswith("reminder-7        missad: tiden gick medan ingen arbetsprocess var igång, "
                                 "och nu är det för sent")
        assert lines[1].endswith("reminder-2        sen: körs när en arbetsprocess är igång, "
                                 "senast fredag 12 november 2021 kl. 15.00")
        assert lines[2].endswith("hotel-final       planerad")
        run_due_jobs()
        english = runner.invoke(args=["schedule", "--lang", "en"]).output.splitlines()
    assert [re.split(r" {2,}", line) for line in english[:3]] == [
        ["Monday 8 November 2021 at 09:00", "reminder-7", "missed: it was too late when the workers ran it"],
        ["Friday 12 November 2021 at 09:00", "reminder-2", "ran, 1 email"],
        ["Thursday 18 November 2021 at 12:00", "hotel-final", "to come"],
    ]


def test_the_event_page_shows_the_secretariat_the_schedule_in_words(event, client):
    event.created_at = local(2021, 11, 22, 6, 0)  # a daily report each morning from the 22nd
    add_admin()
    db.session.commit()
    with time_machine.travel(local(2021, 11, 22, 9, 0), tick=False):
        queue_invitation(add_invitee(event))
        db.session.commit()
        run_due_jobs()  # the reminders passed while no worker ran; this morning's report goes
        page = sign_in(client).get("/admin/event").get_data(as_text=True)
    table = re.search(r'<table class="list" id="schedule">(.*?)</table>', page, re.S).group(1)
    rows = [[html_text(cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", table, re.S) if "<td>" in row]
    missed = "missad: det var för sent när den till slut kördes"
    assert rows == [
        ["måndag 8 november 2021 kl. 09.00", "Påminnelse", missed],
        ["fredag 12 november 2021 kl. 09.00", "Påminnelse", missed],
        ["torsdag 18 november 2021 kl. 12.00", "Slutligt antal till hotellet", missed],
        ["torsdag 18 november 2021 kl. 13.00", "Ändringsbesked till hotellet",
         "var 60:e minut till fredag 26 november 2021 kl. 12.00, 0 ändringsbesked skickade"],
        ["måndag 22 november 2021 kl. 07.00", "Daglig rapport till sekretariatet",
         "varje dag till fredag 26 november 2021 kl. 07.00, 1 rapport skickad"],
        ["onsdag 24 november 2021 kl. 14.00", "Praktisk information dagen före: Dag 1", "planerad"],
        ["torsdag 25 november 2021 kl. 14.00", "Praktisk information dagen före: Dag 2", "planerad"],
        ["lördag 11 december 2021 kl. 00.00", "Känsliga uppgifter tas bort", "planerad"],
        ["fredag 25 februari 2022 kl. 00.00", "Alla personuppgifter tas bort", "planerad"],
    ]


def test_every_command_on_a_database_never_set_up_says_how_to_set_it_up(tmp_path, other_app):
    fresh = other_app(DATABASE_URL=f"sqlite:///{tmp_path / 'never-migrated.sqlite3'}")
    runner = fresh.test_cli_runner(env=ENGLISH_TERMINAL)
    for args in (["event", "load", str(BUNDLED_EVENT)], ["schedule"], ["outbox", "list"], ["invitees", "import", str(BUNDLED_EVENT)]):
        result = runner.invoke(args=args)
        assert result.exit_code == 1, args
        assert result.stderr == "Error: the database is not set up: run `osa db upgrade`\n", args
        assert result.stdout == ""


@pytest.mark.both_backends
def test_reminders_go_once_to_those_who_have_not_answered(before_deadline, event, runner, mailer):
    answered = add_invitee(event, "Anna Svar", "anna.svar@example.se")
    opted_out = add_invitee(event, "Bo Nej", "bo.nej@example.se")
    silent = add_invitee(event, "Cia Tyst", "cia.tyst@example.se")
    with write_transaction():
        for invitee in (answered, opted_out, silent):
            queue_invitation(invitee)
        opted_out.reminders_opted_out = True
    answer(answered, day1=DayAnswer(attending=False), day2=DayAnswer(attending=False))

    before_deadline.move_to(local(2021, 11, 10, 10, 0))
    late = add_invitee(event, "Dan Sen", "dan.sen@example.se")  # invited after the first reminder
    with write_transaction():
        queue_invitation(late)

    before_deadline.move_to(local(2021, 11, 12, 9, 0, 30))  # reminder-2 is Friday's: the 13th is a Saturday
    first = runner.invoke(args=["jobs", "run", "reminder"])
    assert first.output.splitlines() == ["reminder-7: missed, 0 emails", "reminder-2: done, 2 emails"]
    again = runner.invoke(args=["jobs", "run", "reminder"])  # beat fires twice in the same minute
    assert again.output == "No job is due.\n"
    assert outbox_of(silent.email) == ["invitation", "reminder"]
    assert outbox_of(late.email) == ["invitation", "reminder"]
    assert outbox_of(opted_out.email) == ["invitation"]
    assert outbox_of(answered.email) == ["invitation"]
    before_deadline.move_to(local(2021, 11, 14, 7, 0, 30))
    runner.invoke(args=["jobs", "run", "daily-report"])
    report = db.session.scalar(select(Outbox.body_text).where(Outbox.kind == "daily_report"))
    assert "Obs: 1 schemalagt utskick kunde inte göras i tid" in report  # the missed reminder-7
    assert "- Anna Svar: svarade (Dag 1: nej; Dag 2: nej)" in report
    reminder = db.session.scalar(select(Outbox).where(Outbox.kind == "reminder", Outbox.recipient == silent.email))
    deliver([reminder.id])  # its text is written as it is sent (after the report, which someone waits for)
    received = next(m.message for m in mailer.messages if m.rcpt_tos == [silent.email])
    assert received["Subject"].startswith("Påminnelse: svara senast måndag 15 november 2021 kl. 12.00")
    text = received.get_body(("plain",)).get_content()
    assert "/no-reminders" in text and "http://osa.example.se/r/" in text



def test_a_reminder_due_while_the_workers_were_down_goes_out_once_when_they_return(before_deadline, event, runner):
    silent = add_invitee(event, "Cia Tyst", "cia.tyst@example.se")
    queue_invitation(silent)
    db.session.commit()
    before_deadline.move_to(local(2021, 11, 8, 11, 30))  # 2½ hours after 09.00: within the grace
    mistyped = runner.invoke(args=["jobs", "run", "remidners"])
    assert mistyped.exit_code == 1 and "Error: no job 'remidners': give the start of a name that osa schedule " \
        "lists, such as reminder, day-before, daily-report, hotel or remove" in mistyped.output
    preview = runner.invoke(args=["jobs", "run", "reminders", "--dry-run"])
    assert preview.output == "reminder-7: would send, 1 email\n"
    assert db.session.scalar(select(JobRun.id)) is None
    assert db.session.scalars(select(Outbox.kind)).all() == ["invitation"]
    assert runner.invoke(args=["jobs", "run", "reminder"]).output == "reminder-7: done, 1 email\n"
    assert runner.invoke(args=["jobs", "run", "reminder"]).output == "No job is due.\n"
    runs = db.session.scalars(select(JobRun)).all()
    assert [(r.job, r.state, r.emails) for r in runs] == [("reminder-7", "done", 1)]


def test_after_a_night_without_workers_the_secretariat_sees_each_job_once_and_which_are_too_late(
        before_deadline, event, runner):
    before_deadline.move_to(local(2021, 11, 19, 10, 0, 30))  # the cut-off was 22 hours ago; the grace is 6
    preview = runner.invoke(args=["jobs", "run", "hotel", "--dry-run"])
    assert preview.output.splitlines() == [
        "hotel-final: too late, would be marked missed, 0 emails",
        "hotel-changes: too late, would be marked missed, 0 emails (due 16 times)",  # 13.00 to 04.00
        "hotel-changes: would send, 0 emails (due 6 times)",  # 05.00 to 10.00, within the grace
    ]
    assert db.session.scalar(select(JobRun.id)) is None
    ran = runner.invoke(args=["jobs", "run", "hotel"])
    assert ran.output.splitlines() == [
        "hotel-final: missed, 0 emails", "hotel-changes: missed, 0 emails (due 16 times)",
        "hotel-changes: done, 0 emails (due 6 times)",
    ]
    assert len(db.session.scalars(select(JobRun)).all()) == 23  # one row for each time, so none runs twice


def test_the_day_before_each_attendee_gets_their_own_logistics(before_deadline, event):
    bus = add_invitee(event, "Bo Buss", "bo.buss@example.se")
    flyer = add_invitee(event, "Flora Flyg", "flora.flyg@example.se", language="en")
    driver = add_invitee(event, "Egon Egen", "egon.egen@example.se")
    away = add_invitee(event, "Ingen Alls", "ingen.alls@example.se")
    answer(bus, day1=DayAnswer(True, "bus"), day2=DayAnswer(False))
    answer(flyer, day1=DayAnswer(True, "airport", "SK 2014", dt.time(9, 5)), day2=DayAnswer(True))
    answer(driver, day1=DayAnswer(True, "own"), day2=DayAnswer(False))
    answer(away, day1=DayAnswer(False), day2=DayAnswer(False))

    before_deadline.move_to(local(2021, 11, 24, 14, 0, 30))
    assert run_due_jobs(only="day-before") == [("day-before-day1", "done", 3)]
    assert run_due_jobs(only="day-before") == []

    def day_before(address):
        (row,) = db.session.scalars(select(Outbox).where(Outbox.kind == "day_before", Outbox.recipient == address))
        return row.body_text

    bus_text = day_before(bus.email)
    assert "Bussen från The Wood Hotel – kl. 09.00, The Wood Hotel, Torggatan 3" in bus_text
    # The day's number once, in a line of its own: not also in the list above it.
    assert "Sekretariatet nås på 070-174 06 05 under dagen." in bus_text and "svarar sekretariatet på" not in bus_text
    # The programme names each item's place once: after the title, unless the title says it.
    assert "09.00  Bussen avgår från the Wood Hotel, Torggatan 3, Skellefteå centrum\n" in bus_text
    assert "ca 09.30  Upphämtning flygresenärer, guidning startar (Skellefteå flygplats)\n" in bus_text
    flyer_text = day_before(flyer.email)
    assert "pickup at Skellefteå Airport at about 09:30. We have your flight SK 2014, landing at 09:05." in flyer_text
    assert "12:00  Lunch together at the meeting's venue, The Wood Hotel\n" in flyer_text
    driver_text = day_before(driver.email)
    assert "Egen väg, ansluter till lunchen utan turen – kl. 12.00, The Wood Hotel" in driver_text  # not "från"
    assert outbox_of(away.email) == []

    before_deadline.move_to(local(2021, 11, 26, 9, 30))  # day 2 has begun: its logistics come too late
    assert run_due_jobs(only="day-before") == [("day-before-day2", "missed", 0)]


@pytest.mark.both_backends
def test_jobs_fire_at_the_local_hour_on_both_sides_of_the_end_of_summer_time(app):
    # The meeting three weeks earlier: reminders in October (summer time), the days in November.
    moved = store_event(parse_event(BUNDLED_EVENT.read_text(encoding="utf-8"), move_days=-21)).event
    db.session.commit()
    times = {due.job: due.at for due in due_times(moved)}
    assert times["reminder-7"] == dt.datetime(2021, 10, 18, 7, 0, tzinfo=dt.timezone.utc)  # 09.00 CEST
    assert times["day-before-day1"] == dt.datetime(2021, 11, 3, 13, 0, tzinfo=dt.timezone.utc)  # 14.00 CET
    for job, at in times.items():
        if job.startswith(("reminder", "day-before")):
            assert at.astimezone(STOCKHOLM).hour == (9 if job.startswith("reminder") else 14)
    assert run_due_jobs(now=times["reminder-7"] - dt.timedelta(seconds=1), only="reminder") == []
    assert [r[0] for r in run_due_jobs(now=times["reminder-7"] + dt.timedelta(seconds=30), only="reminder")] == [
        "reminder-7"
    ]
    after = times["day-before-day1"] + dt.timedelta(seconds=30)
    assert [r[0] for r in run_due_jobs(now=after, only="reminder")] == ["reminder-2"]
    assert [r[0] for r in run_due_jobs(now=after, only="day-before")] == ["day-before-day1"]


def test_a_reminder_due_when_offices_are_closed_goes_on_the_working_day_before(app, event):
    # The seed's deadline is Monday 15 November at 12.00: two days before is a Saturday.
    reminders = {due.job: due.at for due in due_times(event) if due.job.startswith("reminder")}
    assert reminders == {"reminder-7": local(2021, 11, 8, 9, 0), "reminder-2": local(2021, 11, 12, 9, 0)}
    app.config["REMINDER_DAYS"] = [3, 2]  # Friday, and Saturday moved to the same Friday: one reminder, not two
    assert [due.job for due in due_times(event) if due.job.startswith("reminder")] == ["reminder-3"]
    # Sweden's public holidays and the eves its offices keep; elsewhere, that country's; or weekends only.
    assert working_day(dt.date(2026, 6, 20), "SE") == dt.date(2026, 6, 18)  # Midsummer Day, Midsummer Eve
    assert working_day(dt.date(2026, 12, 27), "SE") == dt.date(2026, 12, 23)  # Sunday back to Christmas Eve
    assert working_day(dt.date(2026, 5, 14), "SE") == dt.date(2026, 5, 13)  # Ascension Day
    assert working_day(dt.date(2026, 5, 17), "NO") == dt.date(2026, 5, 15)  # Norway's Constitution Day, a Sunday
    assert working_day(dt.date(2026, 6, 20), "") == dt.date(2026, 6, 19)
    assert working_day(dt.date(2026, 12, 28), "SE") == dt.date(2026, 12, 28)  # a Monday stays


def test_a_secretariat_off_at_weekends_gets_the_report_on_working_days_and_mondays_has_the_weekend(
        before_deadline, app, client):
    # The meeting six weeks later: its first day, Thursday 6 January 2022, is Epiphany, after Christmas.
    moved = store_event(parse_event(BUNDLED_EVENT.read_text(encoding="utf-8"), move_days=42)).event
    moved.created_at = local(2021, 11, 5, 6, 0)
    db.session.commit()

    def report_days():
        return {due.job.removeprefix("daily-report-") for due in due_times(moved) if due.job.startswith("daily-report")}

    every_day = report_days()
    assert {"2021-11-06", "2021-11-07", "2021-12-24"} <= every_day
    app.config["REPORT_ON_DAYS_OFF"] = False
    working = report_days()
    assert {"2021-11-05", "2021-11-08", "2021-12-23", "2021-12-27", "2022-01-07"} <= working
    assert "2022-01-06" in working  # a holiday, but the event's first day
    assert not {"2021-11-06", "2021-11-07", "2021-12-24", "2021-12-31", "2022-01-01"} & working
    assert working < every_day

    anna = add_invitee(moved)
    before_deadline.move_to(local(2021, 11, 5, 7, 0, 30))
    assert run_due_jobs(only="daily-report") == [("daily-report-2021-11-05", "done", 1)]
    before_deadline.move_to(local(2021, 11, 6, 7, 0, 30))
    assert run_due_jobs(only="daily-report") == []
    answer(anna, day1=DayAnswer(False), day2=DayAnswer(False))  # on Saturday
    before_deadline.move_to(local(2021, 11, 8, 7, 0, 30))
    assert run_due_jobs(only="daily-report") == [("daily-report-2021-11-08", "done", 1)]
    monday = db.session.scalar(select(Outbox.body_text).where(Outbox.idempotency_key.like("daily-report:%:2021-11-08")))
    assert "- Anna Andersson: svarade (Dag 1: nej; Dag 2: nej)" in monday.split("SEDAN FÖRRA RAPPORTEN\n")[1]

    add_admin()
    db.session.commit()
    schedule = html_text(sign_in(client).get("/admin/event").get_data(as_text=True))
    assert "Daglig rapport till sekretariatet varje arbetsdag till fredag 7 januari 2022 kl. 07.00, 2 rapporter skickade" \
        in " ".join(schedule.split())


def test_opting_out_of_reminders_asks_first_and_stops_only_reminders(before_deadline, client, event):
    from service.links import opt_out_url

    invitee = add_invitee(event)
    path = re.sub(r"^https?://[^/]+", "", opt_out_url(invitee))
    page = client.get(path)
    assert "Vill du sluta få påminnelser om Innovationsmötet med Svenska Industrikommuner?" in page.get_data(as_text=True)
    db.session.rollback()
    assert invitee.reminders_opted_out is False  # a GET (a mail scanner) changes nothing
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    done = client.post(path, data={"csrf_token": token})
    assert "Klart: du får inga fler påminnelser" in done.get_data(as_text=True)
    db.session.rollback()
    assert invitee.reminders_opted_out is True


@pytest.mark.both_backends
def test_the_daily_report_counts_what_the_answers_table_says(before_deadline, event):
    import csv
    import io
    import random
    from email import message_from_bytes, policy

    from sqlalchemy import func

    from service.mail.delivery import build_message
    from service.models import (
        Meal,
        Response,
        ResponseDay,
        ResponseHotelNight,
        TransportOption,
        response_meal,
    )

    random.seed(25)
    people = [add_invitee(event, name, f"person{n}@example.se", role=random.choice(["kso", "official"]))
              for n, name in enumerate(["Åsa Öberg", "Märta Ängström", "Örjan Åkesson", "Bo Ek", "Cia Berg",
                                        "Dan Lind", "Eva Sjö", "Filip Ås", "Gun Ström", "Hans Hägg"])]
    for person in people[:8]:
        if random.random() < 0.25:
            answer(person, day1=DayAnswer(False), day2=DayAnswer(False))
            continue
        transport = random.choice(["bus", "airport", "own"])
        with write_transaction():
            save_answer(person, Answer(
                days={"day1": DayAnswer(True, transport, "SK 2014" if transport == "airport" else "",
                                        dt.time(9, 10) if transport == "airport" else None),
                      "day2": DayAnswer(random.random() < 0.6)},
                meals={"lunch-day1", "dinner-day1"} if random.random() < 0.7 else {"lunch-day1"},
                diets={"vegetarian"} if random.random() < 0.4 else set(),
                allergies="Nötter" if random.random() < 0.3 else "",
                hotel_nights={"night-24"} if random.random() < 0.5 else set(),
            ))

    before_deadline.move_to(local(2021, 11, 2, 7, 0, 30))
    assert run_due_jobs(only="daily-report") == [("daily-report-2021-11-02", "done", 1)]
    row = db.session.scalar(select(Outbox).where(Outbox.kind == "daily_report"))
    assert row.recipient == "sekretariatet@example.se"
    text = row.body_text

    # The same numbers, counted straight from the answers tables.
    def count(query):
        return db.session.scalar(query) or 0

    attending = count(select(func.count(func.distinct(ResponseDay.response_id))).where(ResponseDay.attending.is_(True)))
    answered = count(select(func.count(Response.id)))
    assert f"Inbjudna: {len(people)}" in text
    assert f"Kommer: {attending}" in text
    assert f"Kommer inte: {answered - attending}" in text
    assert f"Ej svarat: {len(people) - answered}" in text
    for day in event.days:
        coming = count(select(func.count()).where(ResponseDay.day_id == day.id, ResponseDay.attending.is_(True)))
        assert f"{day.title}, " in text and f": {coming} kommer," in text
    for meal in db.session.scalars(select(Meal)):
        eaters = count(select(func.count()).select_from(response_meal).where(response_meal.c.meal_id == meal.id))
        assert re.search(rf"^{re.escape(meal.name)} .*: {eaters}\b", text, re.M), meal.key
    for option in db.session.scalars(select(TransportOption)):
        seats = count(select(func.count()).where(ResponseDay.transport_option_id == option.id))
        capacity = f" av {option.capacity} platser" if option.capacity else ""
        assert f"{option.name}: {seats}{capacity}" in text
    nights = count(select(func.count()).select_from(ResponseHotelNight))
    assert f"Natten efter onsdag 24 november 2021: {nights} av 60 rum" in text
    assert "svarade" in text and "Hans Hägg" in text.split("EJ SVARAT")[1]
    # The HTML part sets the same numbers out in tables under headings, not the text in a box.
    assert "<pre" not in row.body_html and '<h2 style="' in row.body_html
    for label, value in (("Kommer", attending), ("Natten efter onsdag 24 november 2021", f"{nights} av 60 rum")):
        assert re.search(rf'<th scope="row"[^>]*>{label}</th><td[^>]*>{value}</td>', row.body_html), label

    message = message_from_bytes(build_message(row).as_bytes(), policy=policy.default)
    assert message["Auto-Submitted"] == "auto-generated"
    # Answers day by day as text, which mail programs show (they block pictures); the CSV is attached.
    assert not [part for part in message.walk() if part.get_content_maintype() == "image"]
    assert [part.get_filename().endswith(".csv") for part in message.iter_attachments()] == [True]
    over_time = text.split("SVAR ÖVER TID\n")[1].split("\n\n")[0].splitlines()
    assert 1 <= len(over_time) <= 7
    assert re.fullmatch(r"\w+dag \d+ \w+ 2021: \d+ kommer, \d+ kommer inte", over_time[-1]), over_time
    sheet = next(a for a in row.attachments if a["filename"].endswith(".csv"))
    assert sheet["data"].startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(sheet["data"].encode("utf-8").decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:6] == ["Namn", "E-post", "Organisation", "Roll", "Språk", "Svar"]
    assert len(rows) == 1 + len(people)
    assert {r[0] for r in rows[1:]} == {p.name for p in people}


@pytest.mark.both_backends
def test_a_national_mailings_report_links_to_its_answers_and_names_the_first_hundred_who_have_not_answered(
        before_deadline, event, admin_client):
    from service.headcount import NAMES_SHOWN

    from .support.helpers import page_text

    admin_client.application.config["REPORT_ATTACHMENT_INVITEES"] = 129
    people = [add_invitee(event, f"Person {n:03}", f"person{n}@example.se") for n in range(130)]
    answer(people[0], day1=DayAnswer(True, "own"), day2=DayAnswer(False))

    before_deadline.move_to(local(2021, 11, 2, 7, 0, 30))
    assert run_due_jobs(only="daily-report") == [("daily-report-2021-11-02", "done", 1)]
    row = db.session.scalar(select(Outbox).where(Outbox.kind == "daily_report"))
    assert row.attachments == []
    assert ("Alla svar finns i en CSV-fil, som inte bifogas med fler än 129 inbjudna; hämta den i admin: "
            "http://osa.example.se/admin/export/answers.csv") in row.body_text
    assert 'href="http://osa.example.se/admin/export/answers.csv"' in row.body_html  # a link in the HTML part
    not_answered = row.body_text.split("EJ SVARAT\n")[1].split("\n\n")[0].splitlines()
    assert not_answered[:2] == ["- Person 001", "- Person 002"] and not_answered[-1] == "och 29 till"
    assert len(not_answered) == NAMES_SHOWN + 1

    dashboard = page_text(admin_client.get("/admin/"))
    assert "Har inte svarat (129)" in dashboard and "Person 099, Person 100 och 29 till" in dashboard
    assert "Person 101" not in dashboard


@pytest.mark.both_backends
def test_the_hotel_gets_final_numbers_then_one_notice_per_interval_of_real_changes(before_deadline, event):
    def choose(person, meals, nights=(), diets=(), transport="own"):
        with write_transaction():
            save_answer(person, Answer(
                days={"day1": DayAnswer(True, transport), "day2": DayAnswer(True)},
                meals=set(meals), diets=set(diets), hotel_nights=set(nights),
            ), actor="admin", actor_name="sekretariatet")

    def hotel_mail(kind):
        db.session.rollback()
        return [row.body_text for row in db.session.scalars(
            select(Outbox).where(Outbox.kind == kind, Outbox.recipient == "hotell@example.se").order_by(Outbox.id)
        )]

    anna, bo, cia = (add_invitee(event, name, f"{name.split()[0].lower()}@example.se")
                     for name in ("Anna Ek", "Bo Ek", "Cia Ek"))
    choose(anna, {"lunch-day1"}, {"night-24", "night-25"}, {"vegetarian"})
    choose(bo, {"lunch-day1", "dinner-day1"}, {"night-25"})
    choose(cia, {"lunch-day1"})

    before_deadline.move_to(local(2021, 11, 18, 12, 0, 30))
    assert run_due_jobs(only="hotel") == [("hotel-final", "done", 1)]
    (final,) = hotel_mail("hotel_final")
    assert final.startswith("Hej!\n")  # the hotel is a business, not a person to greet by name
    assert "Lunch torsdag 25 november 2021 kl. 12.00: 3 (varav vegetarisk 1)" in final
    assert "Middag på hotellet torsdag 25 november 2021 kl. 18.00: 1" in final
    assert "Natten efter onsdag 24 november 2021: 1" in final
    assert "Natten efter torsdag 25 november 2021: 2" in final
    assert "Dag 1, torsdag 25 november 2021: 3" in final
    assert "RESA\nBussen från The Wood Hotel torsdag 25 november 2021 kl. 09.00: 0\n" in final
    assert "Egen väg, ansluter till lunchen utan turen torsdag 25 november 2021 kl. 12.00: 3\n" in final

    before_deadline.move_to(local(2021, 11, 18, 12, 20))
    choose(anna, {"lunch-day1", "dinner-day1"}, {"night-24", "night-25"}, {"vegetarian"})  # adds the dinner
    before_deadline.move_to(local(2021, 11, 18, 12, 40))
    choose(bo, {"lunch-day1", "dinner-day1"}, transport="bus")  # no longer stays the night; takes the bus
    before_deadline.move_to(local(2021, 11, 18, 13, 0, 30))
    assert run_due_jobs(only="hotel") == [("hotel-changes", "done", 1)]
    (notice,) = hotel_mail("hotel_change")
    assert notice.startswith("Hej!\n")
    assert "- Middag på hotellet torsdag 25 november 2021 kl. 18.00: 1 → 2 (vegetarisk 0 → 1)" in notice
    assert "- Natten efter torsdag 25 november 2021: 2 → 1 rum" in notice
    assert "- Bussen från The Wood Hotel torsdag 25 november 2021 kl. 09.00: 0 → 1 person" in notice
    assert "- Egen väg, ansluter till lunchen utan turen torsdag 25 november 2021 kl. 12.00: 3 → 2 personer" in notice

    before_deadline.move_to(local(2021, 11, 18, 13, 10))
    choose(cia, {"lunch-day1", "lunch-day2"})
    before_deadline.move_to(local(2021, 11, 18, 13, 30))
    choose(cia, {"lunch-day1"})  # changed back within the hour
    before_deadline.move_to(local(2021, 11, 18, 14, 0, 30))
    assert run_due_jobs(only="hotel") == [("hotel-changes", "done", 0)]
    assert len(hotel_mail("hotel_change")) == 1

    # A change while the workers are down reaches the hotel in the first notice after they return.
    before_deadline.move_to(local(2021, 11, 18, 14, 10))
    choose(cia, {"lunch-day1", "lunch-day2"})
    before_deadline.move_to(local(2021, 11, 18, 17, 5))
    late = run_due_jobs(only="hotel")
    assert late == [("hotel-changes", "done", 1), ("hotel-changes", "done", 0), ("hotel-changes", "done", 0)], late
    assert "- Lunch fredag 26 november 2021 kl. 12.00: 0 → 1" in hotel_mail("hotel_change")[-1]



def test_a_meal_renamed_after_the_final_numbers_is_the_same_meal_to_the_hotel(before_deadline, event, client):
    """The hotel's numbers are kept by the event file's ids: renaming the dinner sends the hotel no
    change notice (nothing it counts has changed), and its page shows the new name with the same count."""
    from service.links import hotel_url

    from .support.helpers import page_text

    bo = add_invitee(event, "Bo Ek", "bo@example.se")
    with write_transaction():
        save_answer(bo, Answer(days={"day1": DayAnswer(True, "own"), "day2": DayAnswer(False)}, meals={"dinner-day1"}))
    before_deadline.move_to(local(2021, 11, 18, 12, 0, 30))
    assert run_due_jobs(only="hotel") == [("hotel-final", "done", 1)]

    text = BUNDLED_EVENT.read_text(encoding="utf-8")
    assert text.count('name = "Middag på hotellet"') == 1
    with write_transaction():
        store_event(parse_event(text.replace('name = "Middag på hotellet"', 'name = "Julbord på hotellet"')))
    before_deadline.move_to(local(2021, 11, 18, 13, 0, 30))
    assert run_due_jobs(only="hotel") == [("hotel-changes", "done", 0)]
    assert outbox_of("hotell@example.se") == ["hotel_final"]

    page = page_text(client.get(hotel_url(event).removeprefix("http://osa.example.se")))
    assert "Julbord på hotellet torsdag 25 november 2021 kl. 18.00 1" in page and "Middag på hotellet" not in page
    assert "Ändringar sedan det slutliga antalet Inga ändringar." in page


def test_diets_are_listed_in_the_event_files_order_everywhere(before_deadline, event, client, admin_client):
    from service.headcount import headcount
    from service.links import hotel_url
    from service.mail.compose import render_daily_report, render_hotel_final

    for name, diets in (("Ada Ek", {"lactose-free", "vegan"}), ("Bo Berg", {"gluten-free", "vegetarian"}),
                        ("Cia Ceder", {"vegan"})):
        invitee = add_invitee(event, name, f"{name.split()[0].lower()}@example.se")
        with write_transaction():
            save_answer(invitee, Answer(days={"day1": DayAnswer(attending=True), "day2": DayAnswer(attending=False)},
                                        meals={"lunch-day1"}, diets=diets))
    in_file_order = ["vegetarisk 1", "vegansk 2", "glutenfri 1", "laktosfri 1"]
    rendered, _ = render_daily_report(event, dt.datetime(2021, 11, 2, 6, 0, tzinfo=dt.timezone.utc), None, 0)
    lunch = next(line for line in rendered.text.splitlines() if line.startswith("Lunch torsdag"))
    assert lunch.endswith("(varav " + ", ".join(in_file_order) + ")"), lunch
    diets_section = rendered.text.split("KOST\n")[1].split("\n\n")[0].splitlines()
    assert diets_section[:4] == ["Vegetarisk: 1", "Vegansk: 2", "Glutenfri: 1", "Laktosfri: 1"]
    hotel = render_hotel_final(event, headcount(event).hotel)[0].text
    assert "Lunch torsdag 25 november 2021 kl. 12.00: 3 (varav " + ", ".join(in_file_order) + ")" in hotel
    hotel_page = html_text(client.get(hotel_url(event).replace("http://osa.example.se", "")).get_data(as_text=True))
    for page in (hotel_page, html_text(admin_client.get("/admin/").get_data(as_text=True))):  # hotel, dashboard
        assert "Lunch torsdag 25 november 2021 kl. 12.00 3 Vegetarisk 1, Vegansk 2, Glutenfri 1, Laktosfri 1" in page


def test_the_report_says_what_each_change_was(before_deadline, event):
    from service.mail.compose import render_daily_report
    from service.models import Actor

    day1 = {"day1": DayAnswer(attending=True), "day2": DayAnswer(attending=False)}
    both = {"day1": DayAnswer(attending=True), "day2": DayAnswer(attending=True)}
    ada, bo, cia = (add_invitee(event, name, f"{name.split()[0].lower()}@example.se")
                    for name in ("Ada Ek", "Bo Berg", "Cia Ceder"))
    with write_transaction():
        save_answer(ada, Answer(days=day1))
        save_answer(bo, Answer(days=day1))
        save_answer(cia, Answer(days=day1))
    with write_transaction():
        save_answer(ada, Answer(days=both))
        save_answer(bo, Answer(days=both), actor=Actor.ADMIN, actor_name="sekretariatet")
        save_answer(cia, Answer(days=both), actor=Actor.SYSTEM)
    text = render_daily_report(event, dt.datetime(2021, 11, 2, 6, 0, tzinfo=dt.timezone.utc), None, 0)[0].text
    since = text.split("SEDAN FÖRRA RAPPORTEN\n")[1]
    assert "- Ada Ek: svarade (" in since and "- Ada Ek: ändrade sitt svar (Dag 2: ja)" in since
    assert "- Bo Berg: svaret ändrat av sekretariatet (Dag 2: ja)" in since
    assert "- Cia Ceder: flyttad upp från väntelistan (Dag 2: ja)" in since


def test_the_report_names_each_meal_with_its_day_in_the_programmes_order(before_deadline, event):
    from service.mail.compose import render_daily_report

    both = {"day1": DayAnswer(attending=True), "day2": DayAnswer(attending=True)}
    ada = add_invitee(event, "Ada Ek", "ada@example.se")
    with write_transaction():
        save_answer(ada, Answer(days=both, meals={"lunch-day2", "dinner-day1", "lunch-day1"}, hotel_nights={"night-25"}))
    with write_transaction():
        save_answer(ada, Answer(days=both, meals={"dinner-day1", "coffee-day2"}, hotel_nights={"night-24"}))
    text = render_daily_report(event, dt.datetime(2021, 11, 2, 6, 0, tzinfo=dt.timezone.utc), None, 0)[0].text
    since = " ".join(text.split("SEDAN FÖRRA RAPPORTEN\n")[1].split())
    assert ("- Ada Ek: svarade (Dag 1: ja; Dag 2: ja; +Lunch (Dag 1); +Middag på hotellet (Dag 1); +Lunch (Dag 2); "
            "+natten efter torsdag 25 november 2021)") in since
    assert ("- Ada Ek: ändrade sitt svar (+Kaffe (Dag 2); −Lunch (Dag 1); −Lunch (Dag 2); "
            "+natten efter onsdag 24 november 2021; −natten efter torsdag 25 november 2021)") in since


def test_schedule_lines_up_its_columns_with_the_daily_reports_long_names(event, runner):
    event.created_at = local(2021, 11, 24, 6, 0)  # defined the day before: a daily report each day from then
    db.session.commit()
    with time_machine.travel(local(2021, 11, 24, 6, 30), tick=False):
        lines = runner.invoke(args=["schedule", "--lang", "en"]).output.splitlines()
    columns = [re.split(r" {2,}", line) for line in lines]
    assert ["Wednesday 24 November 2021 at 07:00", "daily-report-2021-11-24", "to come"] in columns
    assert ["Wednesday 24 November 2021 at 14:00", "day-before-day1", "to come"] in columns
    assert len({len(line) - len(state) for line, (_, _, state) in zip(lines, columns)}) == 1  # one column of states


def test_the_day_before_gives_the_hotels_address_once(before_deadline, event):
    from service.mail.compose import render_day_before

    stays, comes = (add_invitee(event, name, f"{name.split()[0].lower()}@example.se") for name in ("Ada Ek", "Bo Berg"))
    with write_transaction():
        save_answer(stays, Answer(days={"day1": DayAnswer(True, "bus"), "day2": DayAnswer(False)},
                                  hotel_nights={"night-24", "night-25"}))
        save_answer(comes, Answer(days={"day1": DayAnswer(True, "own"), "day2": DayAnswer(False)}))
    for invitee, in_list in ((stays, 1), (comes, 0)):  # in their list with their nights, or in a line of its own
        email_ = render_day_before(event, event.days[0], invitee, invitee.response)
        for part in (email_.text, html_text(email_.html)):
            assert part.count("Hotell: The Wood Hotel, Torggatan 3") == in_list, invitee.name
            assert part.count("Hotellet: The Wood Hotel, Torggatan 3") == 1 - in_list, invitee.name
    assert ("Hotell: The Wood Hotel, Torggatan 3, Skellefteå centrum, nätterna efter onsdag 24 november 2021 och "
            "torsdag 25 november 2021.") in render_day_before(event, event.days[0], stays, stays.response).text
