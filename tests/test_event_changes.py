"""The secretariat changes the event file and loads it again: exactly the attendees a change
concerns get one email each, with what changed (old → new) and their calendar entries updated
in place; `--dry-run` shows the same before anything is saved; `--no-notify` tells no one."""

import datetime as dt
from zoneinfo import ZoneInfo

import icalendar
import pytest
from sqlalchemy import func, select

from service.answers import Answer, DayAnswer, save_answer
from service.db import write_transaction
from service.extensions import db
from service.mail.compose import queue_answer_emails
from service.models import EventChange, Outbox

from .conftest import BUNDLED_EVENT, SWEDISH_TERMINAL, add_invitee, all_sent, link_path, wait_for_outbox
from .support.calendars import calendars_in
from .support.helpers import page_text

STOCKHOLM = ZoneInfo("Europe/Stockholm")

BUS = "Bussen från The Wood Hotel går kl. 08.45 i stället för 09.00."
DINNER = "Middag på hotellet börjar kl. 18.30 i stället för 18.00."
OFFICIALS = "Dag 2: ”Separata samtal mellan övriga (tjänstemän)” är nu kl. 10.30–11.30 i stället för 10.15–11.15."
BUS_EN = "The bus from The Wood Hotel leaves at 08:45 instead of 09:00."
DINNER_EN = "Dinner at the hotel begins at 18:30 instead of 18:00."
OFFICIALS_EN = "Day 2: “Separate talks for the others (officials)” is now at 10:30–11:30 instead of 10:15–11:15."


def changed_event_file(tmp_path):
    """The bundled file with the bus at 08.45, the dinner at 18.30 and the officials' talks on day 2 a quarter later."""
    text = BUNDLED_EVENT.read_text(encoding="utf-8")
    officials = 'start = 10:15:00\nend = 11:15:00\ntitle = "Separata samtal mellan övriga (tjänstemän)"'
    for old, new in (("time = 09:00:00", "time = 08:45:00"), ("time = 18:00:00", "time = 18:30:00"),
                     (officials, officials.replace("10:15:00", "10:30:00").replace("11:15:00", "11:30:00"))):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / "changed.toml"
    path.write_text(text, encoding="utf-8")
    return path


def answer(invitee, day1: str | None, day2: bool, dinner: bool = False) -> None:
    """Save the answer as the page would, and queue its confirmation (with its calendar)."""
    with write_transaction():
        flight = {"flight_number": "SK 2014", "flight_arrival": dt.time(9, 5)} if day1 == "airport" else {}
        days = {"day1": DayAnswer(day1 is not None, day1, **flight), "day2": DayAnswer(day2)}
        result = save_answer(invitee, Answer(days=days, meals={"dinner-day1"} if dinner else set()))
        queue_answer_emails(invitee, result)


def entries(message) -> dict[str, icalendar.Event]:
    """The entries the message adds or updates (not those it cancels), by UID."""
    return {str(entry["UID"]): entry for calendar in calendars_in(message) if str(calendar["METHOD"]) == "REQUEST"
            for entry in calendar.walk("VEVENT")}


@pytest.mark.both_backends
def test_a_reload_tells_exactly_the_attendees_each_change_concerns(before_deadline, event, mailer, celery_worker,
                                                                   runner, admin_client, tmp_path):
    people = {
        "anna": (add_invitee(event, "Anna KSO", "anna@example.se", "kso"), ("bus", True, True)),
        "bo": (add_invitee(event, "Bo Tjänsteman", "bo@example.se", "official"), ("bus", True, False)),
        "cia": (add_invitee(event, "Cia Official", "cia@example.se", "official", "en"), ("airport", True, True)),
        "dan": (add_invitee(event, "Dan KSO", "dan@example.se", "kso"), ("airport", True, False)),
        "eva": (add_invitee(event, "Eva Tjänsteman", "eva@example.se", "official"), (None, True, False)),
        "fia": (add_invitee(event, "Fia KSO", "fia@example.se", "kso"), ("own", False, True)),
        "gus": (add_invitee(event, "Gus Nej", "gus@example.se", "kso"), (None, False, False)),
        "hans": (add_invitee(event, "Hans Tjänsteman", "hans@example.se", "official"), ("bus", False, False)),
        "ines": (add_invitee(event, "Ines Tjänsteman", "ines@example.se", "official"), ("airport", False, False)),
        "jon": (add_invitee(event, "Jon KSO", "jon@example.se", "kso"), ("own", True, False)),
    }
    silent = add_invitee(event, "Kim Tyst", "kim@example.se", "official")  # has not answered
    for invitee, (day1, day2, dinner) in people.values():
        answer(invitee, day1, day2, dinner)
    wait_for_outbox(all_sent(10))
    confirmations = {m.rcpt_tos[0]: m.message for m in mailer.messages}
    changed = changed_event_file(tmp_path)
    expected = {
        "anna@example.se": [BUS, DINNER],
        "bo@example.se": [BUS, OFFICIALS],
        "cia@example.se": [DINNER_EN, OFFICIALS_EN],
        "eva@example.se": [OFFICIALS],
        "fia@example.se": [DINNER],
        "hans@example.se": [BUS],
    }

    # The dry run (the terminal reads English): each change with how many it concerns, and nothing saved or sent.
    dry = runner.invoke(args=["event", "load", str(changed), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Dry run: nothing was saved and no one was emailed." in dry.output
    for line in (BUS_EN, DINNER_EN, OFFICIALS_EN):
        assert f"  {line}  (3 people)" in dry.output
    assert "6 people would get one email each with the changes that concern them." in dry.output
    # The file gives the bus's departure and the dinner twice, and the change moved one of each: the agenda
    # items still say 09:00 and 18:00, which attendees would read beside the new times. The officials'
    # talks moved from the coffee's quarter: a hint, not an error, for the secretariat to judge.
    assert [line for line in dry.output.splitlines() if "if they are the same, change that too." in line] == [
        "“The bus from The Wood Hotel” is now at 08:45, but the agenda item “The bus leaves from The Wood Hotel, "
        "Torggatan 3, Skellefteå centre” the same day is still at 09:00: if they are the same, change that too.",
        "“Dinner at the hotel” is now at 18:30, but the agenda item “Dinner together at the hotel” the same day is "
        "still at 18:00: if they are the same, change that too.",
        "“Separate talks for the others (officials)” is now at 10:30, but the meal “Coffee” the same day is still "
        "at 10:15: if they are the same, change that too.",
    ]
    db.session.rollback()
    assert db.session.scalar(select(func.count(Outbox.id))) == 10
    assert db.session.scalar(select(func.count(EventChange.id))) == 0
    assert "Bussen från The Wood Hotel [bus]: torsdag 25 november 2021 kl. 09.00" in \
        runner.invoke(args=["event", "show"]).output

    loaded = runner.invoke(args=["event", "load", str(changed)])
    assert loaded.exit_code == 0, loaded.output
    assert "6 people get one email each with the changes that concern them." in loaded.output
    assert loaded.output.count("(3 people)") == 3
    wait_for_outbox(all_sent(16))

    changes = {m.rcpt_tos[0]: m.message for m in mailer.messages[10:]}
    assert len(mailer.messages) == 16 and set(changes) == set(expected)  # one each, and no one else
    for recipient, lines in expected.items():
        message = changes[recipient]
        assert message["Subject"].startswith("Changed: The Swedish Industrial" if recipient == "cia@example.se"
                                             else "Ändrat: Innovationsmötet"), recipient
        text = message.get_body(("plain",)).get_content()
        listed = [line[2:] for line in text.splitlines() if line.startswith("- ") and line[2:] in
                  (BUS, DINNER, OFFICIALS, DINNER_EN, OFFICIALS_EN)]
        assert listed == lines, recipient
        # The same entries they have for the days they come, each with a higher SEQUENCE, showing the new times.
        before, after = entries(confirmations[recipient]), entries(message)
        assert set(after) == set(before), recipient
        assert all(int(after[uid]["SEQUENCE"]) > int(before[uid]["SEQUENCE"]) for uid in after), recipient
        assert [str(c["METHOD"]) for c in calendars_in(message)] == ["REQUEST"] * len(after)  # a file a day, no cancel
    anna = entries(changes["anna@example.se"])
    day1 = next(entry for uid, entry in anna.items() if "-day1-" in uid)
    assert day1.decoded("DTSTART") == dt.datetime(2021, 11, 25, 8, 45, tzinfo=STOCKHOLM)
    assert day1.decoded("DTEND") == dt.datetime(2021, 11, 25, 20, 30, tzinfo=STOCKHOLM)  # after the dinner at 18.30
    bo_day2 = next(entry for uid, entry in entries(changes["bo@example.se"]).items() if "-day2-" in uid)
    assert "10.30 Separata samtal mellan övriga (tjänstemän)" in str(bo_day2["DESCRIPTION"])
    assert silent.email not in changes

    # The change log on the admin's event page.
    page = page_text(admin_client.get("/admin/event"))
    assert f"{BUS} (3 personer)" in page and f"{OFFICIALS} (3 personer)" in page
    assert "6 personer" in page

    # Loading the same file again changes nothing and tells no one.
    again = runner.invoke(args=["event", "load", str(changed)])
    assert "unchanged" in again.output and "Changes attendees see" not in again.output
    # A change loaded with --no-notify is logged, and no email is written.
    quiet = tmp_path / "quiet.toml"
    quiet.write_text(changed.read_text(encoding="utf-8").replace("time = 08:45:00", "time = 08:40:00"), encoding="utf-8")
    result = runner.invoke(args=["event", "load", str(quiet), "--no-notify"])
    assert "The bus from The Wood Hotel leaves at 08:40 instead of 08:45.  (3 people)" in result.output
    assert "No one was emailed (--no-notify)" in result.output
    db.session.rollback()
    assert db.session.scalar(select(func.count(Outbox.id))) == 16
    assert "Ingen (inläst med --no-notify)" in page_text(admin_client.get("/admin/event"))


def test_each_kind_of_change_reaches_whom_it_concerns_in_their_language(before_deadline, event, runner, tmp_path):
    """A renamed item, a cancelled one, one added for officials, a new place (in Swedish only, or in both)."""
    karl = add_invitee(event, "Karl KSO", "karl@example.se", "kso")
    olga = add_invitee(event, "Olga Official", "olga@example.se", "official", "en")
    dag = add_invitee(event, "Dag Tvåa", "dag@example.se", "kso")
    for invitee in (karl, olga):
        answer(invitee, "airport", True)
    answer(dag, None, True)
    text = BUNDLED_EVENT.read_text(encoding="utf-8")
    for old, new in (
        ('title = "Dialog"\n', 'title = "Samtal"\n'),
        ('title_en = "Dialogue"\n', 'title_en = "Conversation"\n'),
        ('start = 15:15:00\nend = 15:40:00\ntitle = "Kaffepaus"\ntitle_en = "Coffee break"\n\n[[days.items]]\n', ''),
        ('place = "Skellefteå flygplats"\ntitle_en', 'place = "Skellefteå flygplats, grind 2"\ntitle_en'),
        ('place = "Skellefteå flygplats"\nplace_en = "Skellefteå Airport"\ncapacity',
         'place = "Skellefteå flygplats, grind 2"\nplace_en = "Skellefteå Airport, gate 2"\ncapacity'),
        ('\n[[meals]]', '\n[[days.items]]\nstart = 13:00:00\nend = 13:30:00\ntitle = "Rundvandring"\n'
                        'title_en = "Walkabout"\nfor_roles = ["official"]\n\n[[meals]]'),
    ):
        assert text.count(old) >= 1, old
        text = text.replace(old, new, 1)
    path = tmp_path / "event.toml"
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(args=["event", "load", str(path)])
    assert result.exit_code == 0, result.output
    assert "2 people get one email each" in result.output

    def told(invitee) -> list[str]:
        body = db.session.scalar(select(Outbox.body_text).where(Outbox.kind == "event_change",
                                                                Outbox.invitee_id == invitee.id))
        return [] if body is None else [line[2:] for line in body.split("\n\n")[2].splitlines()]

    db.session.rollback()
    assert told(karl) == [
        "Dag 1: ”Upphämtning flygresenärer, guidning startar”: ny plats Skellefteå flygplats, grind 2 "
        "(tidigare Skellefteå flygplats).",
        "Upphämtning på Skellefteå flygplats: ny plats Skellefteå flygplats, grind 2 (tidigare Skellefteå flygplats).",
        "Dag 1: ”Dialog” heter nu ”Samtal”.",
        "Dag 1: ”Kaffepaus” (kl. 15.15–15.40) är inställt.",
    ]
    assert told(olga) == [  # the item's English place did not change: she is not told of it
        "Pickup at Skellefteå Airport: new place Skellefteå Airport, gate 2 (was Skellefteå Airport).",
        "Day 1: “Dialogue” is now called “Conversation”.",
        "Day 1: “Coffee break” (at 15:15–15:40) is cancelled.",
        "Day 2: new in the programme, at 13:00–13:30: “Walkabout”.",
    ]
    assert told(dag) == []


def test_a_day_moved_to_another_date_is_one_change_for_those_who_come_that_day(before_deadline, event, runner,
                                                                              tmp_path):
    both = add_invitee(event, "Karl KSO", "karl@example.se", "kso")
    first = add_invitee(event, "Dag Etta", "dag@example.se", "kso")
    answer(both, "bus", True)
    answer(first, "bus", False)
    path = tmp_path / "event.toml"
    text = BUNDLED_EVENT.read_text(encoding="utf-8")
    assert text.count("date = 2021-11-26\n") == 1
    path.write_text(text.replace("date = 2021-11-26\n", "date = 2021-11-27\n"), encoding="utf-8")
    result = runner.invoke(args=["event", "load", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert [line.strip() for line in result.output.splitlines() if line.startswith("  ")] == [
        "Day 2 is now on Saturday 27 November 2021 instead of Friday 26 November 2021.  (1 person)"]
    assert "is still at" not in result.output  # the day's meals and agenda moved together
    assert "1 person would get one email with the changes that concern them." in result.output


def test_english_given_mended_or_taken_out_is_a_translation_and_tells_no_one(before_deadline, event, runner, client,
                                                                            tmp_path):
    """Only the file's own (Swedish) text makes news: the English addresses taken out of the file, then
    given again with an English title mended, email no one; the English reader's page reads each."""
    olga = add_invitee(event, "Olga Official", "olga@example.se", "official", "en")
    answer(olga, "bus", True)
    bundled = BUNDLED_EVENT.read_text(encoding="utf-8")
    assert bundled.count('address_en = "Torggatan 3, Skellefteå centre"\n') == 2
    assert bundled.count('title_en = "Dialogue"\n') == 1
    without = tmp_path / "without.toml"
    without.write_text(bundled.replace('address_en = "Torggatan 3, Skellefteå centre"\n', ""), encoding="utf-8")
    mended = tmp_path / "mended.toml"
    mended.write_text(bundled.replace('title_en = "Dialogue"\n', 'title_en = "Open dialogue"\n'), encoding="utf-8")

    for path, address, dialogue in ((without, "Skellefteå centrum", "Dialogue"),
                                    (mended, "Skellefteå centre", "Open dialogue")):
        loaded = runner.invoke(args=["event", "load", str(path)])
        assert loaded.exit_code == 0, loaded.output
        assert "updated" in loaded.output and "Changes attendees see" not in loaded.output
        page = page_text(client.get(link_path(olga)))
        assert f"The Wood Hotel, Torggatan 3, {address}" in page and dialogue in page, page
    db.session.rollback()
    assert db.session.scalar(select(func.count(Outbox.id)).where(Outbox.kind == "event_change")) == 0
    assert db.session.scalar(select(func.count(EventChange.id))) == 0


def test_a_new_address_tells_everyone_who_comes_each_in_their_language(before_deadline, event, runner, tmp_path):
    karl = add_invitee(event, "Karl KSO", "karl@example.se", "kso")
    olga = add_invitee(event, "Olga Official", "olga@example.se", "official", "en")
    gus = add_invitee(event, "Gus Nej", "gus@example.se", "kso")
    answer(karl, None, True)
    answer(olga, "bus", False)
    answer(gus, None, False)
    text = BUNDLED_EVENT.read_text(encoding="utf-8")
    address = 'address = "Torggatan 3, Skellefteå centrum"\naddress_en = "Torggatan 3, Skellefteå centre"\ntimezone'
    assert text.count(address) == 1  # the event's, not the hotel's
    path = tmp_path / "event.toml"
    path.write_text(text.replace(address, 'address = "Kanalgatan 37, Skellefteå"\ntimezone'), encoding="utf-8")
    loaded = runner.invoke(args=["event", "load", str(path)])
    assert loaded.exit_code == 0, loaded.output
    assert "The meeting is now at The Wood Hotel, Kanalgatan 37, Skellefteå instead of The Wood Hotel, Torggatan 3, " \
           "Skellefteå centre.  (2 people)" in loaded.output
    db.session.rollback()
    told = dict(db.session.execute(select(Outbox.invitee_id, Outbox.body_text).where(Outbox.kind == "event_change")).all())
    assert set(told) == {karl.id, olga.id}
    assert "- Mötet hålls nu på The Wood Hotel, Kanalgatan 37, Skellefteå i stället för The Wood Hotel, Torggatan 3, " \
           "Skellefteå centrum.\n" in told[karl.id]
    assert "- The meeting is now at The Wood Hotel, Kanalgatan 37, Skellefteå instead of The Wood Hotel, Torggatan 3, " \
           "Skellefteå centre.\n" in told[olga.id]


def test_a_dinner_moved_to_a_restaurant_in_one_place_of_the_file_is_pointed_out_in_the_other(before_deadline, app,
                                                                                              event, tmp_path):
    """The dinner's [[meals]] entry moves to a restaurant, its agenda item still says the hotel: the dry
    run (in the secretariat's Swedish terminal) points at the item; moved in both, nothing is left behind."""
    text = BUNDLED_EVENT.read_text(encoding="utf-8")
    meal = 'name = "Middag på hotellet"\nname_en = "Dinner at the hotel"\nplace = "The Wood Hotel"'
    item = 'title = "Gemensam middag på hotellet"\ntitle_en = "Dinner together at the hotel"\nplace = "The Wood Hotel"'
    assert text.count(meal) == text.count(item) == 1
    swedish = app.test_cli_runner(env=SWEDISH_TERMINAL)
    path = tmp_path / "event.toml"
    path.write_text(text.replace(meal, meal.replace("The Wood Hotel", "Restaurang Bryggan")), encoding="utf-8")
    dry = swedish.invoke(args=["event", "load", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "”Middag på hotellet” är nu på Restaurang Bryggan, men programpunkten ”Gemensam middag på hotellet” " \
           "samma dag har kvar The Wood Hotel: om de är samma sak, ändra den också." in dry.output.splitlines()
    both = text.replace(meal, meal.replace("The Wood Hotel", "Restaurang Bryggan"))
    path.write_text(both.replace(item, item.replace("The Wood Hotel", "Restaurang Bryggan")), encoding="utf-8")
    dry = swedish.invoke(args=["event", "load", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "ändra den också" not in dry.output and "ny plats Restaurang Bryggan" in dry.output
