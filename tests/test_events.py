"""`osa event load` and `osa event show`: the secretariat defines the meeting from its file."""

import pytest
from sqlalchemy import func, select

from service.answers import (
    Answer,
    DayAnswer,
    put_back_on_list,
    save_answer,
    take_off_list,
)
from service.db import write_transaction
from service.extensions import db
from service.models import (
    AgendaItem,
    Event,
    Invitee,
    Meal,
    Outbox,
    Response,
    ResponseDay,
)

from .conftest import BUNDLED_EVENT, ENGLISH_TERMINAL, SWEDISH_TERMINAL, add_invitee
from .support.helpers import database_state

# Every agenda item of the seed, with its local start time, as the secretariat wrote it.
SEED_AGENDA = [
    ("09.00", "Bussen avgår från the Wood Hotel, Torggatan 3, Skellefteå centrum"),
    ("ca 09.30", "Upphämtning flygresenärer, guidning startar"),
    ("12.00", "Gemensam lunch på platsen för mötet, the Wood Hotel"),
    ("13.00", "Välkommen och inledning"),
    ("13.15–14.00", "Innovationsupphandlingar. Så kan vi samarbeta mer kring upphandlingar!"),
    ("14.00–14.40", "Upphandling som främjar innovation. Hur kan SKR stödja utvecklingen?"),
    ("14.40–15.15", "Dialog"),
    ("15.15–15.40", "Kaffepaus"),
    ("15.40–16.15", "Omstart Sverige (efter pandemin) och innovation."),
    ("16.15–17.00", "Nysatsningar, innovationer och investeringar – nya vägar efter pandemin och Omstart Sverige"),
    ("18.00", "Gemensam middag på hotellet"),
    ("09.00–09.45", "Entreprenörskap i ett omstartsperspektiv"),
    ("09.45–10.15", "Årets Industridagar har haft som tema: ”Så tar vi Sverige till en Innovationsstormakt”."),
    ("10.15–11.15", "Separata samtal mellan KSO-er (politiker)"),
    ("10.15–11.15", "Separata samtal mellan övriga (tjänstemän)"),
    ("11.15–12.00", "Gemensamma angelägenheter"),
    ("12.00–13.00", "Gemensam lunch"),
]
SEED_SPEAKERS = [
    "Catharina Fredriksson", "Lorents Burman", "Ellen Heldahl", "Klas Danerlöv", "Christer Asplund",
    "Bengt Ivansson", "Marie Fossum Strannegård", "Kristina Sundin Jonsson", "Peter J. Burman", "Karin Bodin",
]


def test_load_then_show_prints_both_days_with_every_seed_item_in_swedish(runner):
    loaded = runner.invoke(args=["event", "load", str(BUNDLED_EVENT)])
    assert loaded.exit_code == 0, loaded.output
    assert "Event 'innovationsmotet-2021' created: 2 days, 17 agenda items, 5 meals" in loaded.output

    shown = runner.invoke(args=["event", "show"])
    assert shown.exit_code == 0, shown.output
    out = shown.output
    assert "Dag 1: torsdag 25 november 2021" in out
    assert "Dag 2: fredag 26 november 2021" in out
    assert out.index("Dag 1: torsdag") < out.index("Dag 2: fredag")
    for when, title in SEED_AGENDA:
        assert f"  {when}  {title}" in out, (when, title)
    for speaker in SEED_SPEAKERS:
        assert speaker in out
    assert "Sista svarsdag: måndag 15 november 2021 kl. 12.00" in out
    assert "Bussen från The Wood Hotel [bus]: torsdag 25 november 2021 kl. 09.00, The Wood Hotel, Torggatan 3" in out
    assert "Upphämtning på Skellefteå flygplats [airport]: torsdag 25 november 2021 ca kl. 09.30" in out
    assert "torsdag 25 november 2021 kl. 18.00  Middag på hotellet" in out
    assert "(för KSO (politiker))" in out
    assert "Tidszon: Europe/Stockholm" in out


def test_show_in_english(runner, event):
    shown = runner.invoke(args=["event", "show", "--lang", "en"])
    assert "Day 1: Thursday 25 November 2021" in shown.output
    assert "RSVP deadline: Monday 15 November 2021 at 12:00" in shown.output


def test_loading_the_same_file_again_changes_nothing(runner, event):
    before = db.session.execute(select(AgendaItem.id, AgendaItem.title)).all()
    updated_at = event.updated_at
    again = runner.invoke(args=["event", "load", str(BUNDLED_EVENT)])
    assert again.exit_code == 0, again.output
    assert "Event 'innovationsmotet-2021' unchanged" in again.output
    db.session.expire_all()
    assert db.session.execute(select(AgendaItem.id, AgendaItem.title)).all() == before
    assert db.session.scalar(select(func.count()).select_from(Event)) == 1
    assert db.session.get(Event, event.id).updated_at == updated_at


@pytest.mark.both_backends
def test_a_changed_file_updates_the_event_in_place(runner, event, tmp_path):
    lunch_id = db.session.scalar(select(Meal.id).where(Meal.key == "lunch-day1"))
    changed = tmp_path / "event.toml"
    changed.write_text(
        BUNDLED_EVENT.read_text(encoding="utf-8").replace("time = 18:00:00", "time = 18:30:00"), encoding="utf-8"
    )
    result = runner.invoke(args=["event", "load", str(changed)])
    assert result.exit_code == 0, result.output
    assert "updated" in result.output
    shown = runner.invoke(args=["event", "show"]).output
    assert "torsdag 25 november 2021 kl. 18.30  Middag på hotellet" in shown
    assert db.session.scalar(select(Meal.id).where(Meal.key == "lunch-day1")) == lunch_id


def test_a_bad_file_is_refused_with_its_problems_and_changes_nothing(runner, event, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        BUNDLED_EVENT.read_text(encoding="utf-8").replace('day = "day2"', 'day = "day9"', 1), encoding="utf-8"
    )
    result = runner.invoke(args=["event", "load", str(bad)])
    assert result.exit_code == 1
    assert "meals[3].day: meal on day 'day9', which does not exist" in result.output
    db.session.expire_all()
    assert db.session.scalar(select(Meal.day_id).where(Meal.key == "coffee-day2")) is not None


def test_an_option_someone_chose_cannot_be_removed_by_a_reload(runner, event, tmp_path):
    dinner = db.session.scalar(select(Meal).where(Meal.key == "dinner-day1"))
    invitee = Invitee(event=event, name="Anna Andersson", email="anna@example.se", email_key="anna@example.se", language="sv")
    db.session.add(Response(invitee=invitee, meals=[dinner]))
    db.session.commit()
    text = BUNDLED_EVENT.read_text(encoding="utf-8")
    start = text.index('[[meals]]\nid = "dinner-day1"')
    end = text.index("[[meals]]", start + 5)
    without_dinner = tmp_path / "event.toml"
    without_dinner.write_text(text[:start] + text[end:], encoding="utf-8")

    result = runner.invoke(args=["event", "load", str(without_dinner)])
    assert result.exit_code == 1
    assert "'dinner-day1' is no longer in the file but 1 answer or invitee uses it" in result.output
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Meal)) == 5


@pytest.mark.both_backends
def test_an_option_someone_chose_cannot_move_to_another_day_but_one_nobody_chose_can(runner, event, tmp_path):
    anna = add_invitee(event)
    with write_transaction():  # Anna comes on Thursday only, by bus, and has the afternoon coffee
        save_answer(anna, Answer(days={"day1": DayAnswer(True, "bus"), "day2": DayAnswer(False)},
                                 meals={"lunch-day1", "coffee-day1"}))
    text = BUNDLED_EVENT.read_text(encoding="utf-8")
    path = tmp_path / "event.toml"

    def load(*moved: str):
        changed = text
        for key in moved:
            changed = changed.replace(f'id = "{key}"\nday = "day1"', f'id = "{key}"\nday = "day2"', 1)
            assert changed.count(f'id = "{key}"\nday = "day2"') == 1
        path.write_text(changed, encoding="utf-8")
        return runner.invoke(args=["event", "load", str(path)])

    refused = load("coffee-day1", "bus")
    assert refused.exit_code == 1
    assert "meals: 'coffee-day1' moves from day 'day1' to 'day2', but 1 answer chose it for its day; add the moved " \
           "one under a new id, or change that answer first" in refused.output
    assert "transport: 'bus' moves from day 'day1' to 'day2', but 1 answer chose it for its day" in refused.output
    db.session.rollback()
    assert {meal.key: meal.day.key for meal in event.meals}["coffee-day1"] == "day1"
    assert {option.key: option.day.key for option in event.transport_options}["bus"] == "day1"

    moved = load("dinner-day1")  # nobody chose the dinner
    assert moved.exit_code == 0, moved.output
    db.session.rollback()
    assert {meal.key: meal.day.key for meal in event.meals}["dinner-day1"] == "day2"


def test_show_without_an_event_says_how_to_load_one(runner):
    result = runner.invoke(args=["event", "show"])
    assert result.exit_code == 1
    assert "no event is loaded; load one with: osa event load" in result.output


@pytest.mark.both_backends
def test_a_raised_capacity_moves_the_first_waiting_up_into_the_new_places(runner, event, tmp_path):
    text = BUNDLED_EVENT.read_text(encoding="utf-8")
    bus_capacity = 'place = "The Wood Hotel, Torggatan 3, Skellefteå centrum"\ncapacity = 50\n'
    assert bus_capacity in text

    def load(capacity: int | None) -> str:
        line = "" if capacity is None else f"capacity = {capacity}\n"
        path = tmp_path / "event.toml"
        path.write_text(text.replace(bus_capacity, bus_capacity.replace("capacity = 50\n", line)), encoding="utf-8")
        result = runner.invoke(args=["event", "load", str(path)])
        assert result.exit_code == 0, result.output
        db.session.rollback()
        return result.output

    def waiting() -> dict[str, bool]:
        return dict(db.session.execute(
            select(Invitee.name, ResponseDay.transport_waitlisted_at.is_not(None))
            .join(Response, Response.invitee_id == Invitee.id).join(ResponseDay, ResponseDay.response_id == Response.id)
            .where(ResponseDay.transport_option_id.is_not(None))
        ).all())

    load(1)
    people = [add_invitee(event, name, f"{name.split()[0].lower()}@example.se")
              for name in ("Anna Andersson", "Bo Berg", "Cia Carlsson")]
    for person in people:
        with write_transaction():
            save_answer(person, Answer(days={"day1": DayAnswer(True, "bus"), "day2": DayAnswer(False)}))
    cia = people[2]
    assert waiting() == {"Anna Andersson": False, "Bo Berg": True, "Cia Carlsson": True}

    assert "1 invitee moved up from a waiting list" in load(2)
    assert waiting() == {"Anna Andersson": False, "Bo Berg": False, "Cia Carlsson": True}
    moved = db.session.scalars(select(Outbox).where(Outbox.kind == "moved_up")).all()
    assert [m.recipient for m in moved] == ["bo@example.se"]
    assert "Bussen från The Wood Hotel" in moved[0].body_text

    assert "moved up" not in load(2)  # the same file again
    with write_transaction():
        take_off_list(cia)
    assert "moved up" not in load(None)  # no limit any more, but Cia, the only one waiting, is off the list
    with write_transaction():
        back = put_back_on_list(db.session.get(Invitee, cia.id))
    assert [change.invitee_id for change in back.moved_up] == [cia.id]  # back, on a bus with no limit
    assert waiting() == {"Anna Andersson": False, "Bo Berg": False, "Cia Carlsson": False}
    lowered = load(1)
    assert "moved up" not in lowered  # a lower capacity takes no seat from anyone, and says so
    assert "The bus from The Wood Hotel: 3 seats are taken, more than the 1 the file gives. No one loses theirs, " \
           "and no one new gets one until enough are given up." in lowered
    assert waiting() == {"Anna Andersson": False, "Bo Berg": False, "Cia Carlsson": False}
    assert "seats are taken" not in load(3)


def test_a_dry_run_that_lowers_a_night_below_the_rooms_taken_says_so_and_keeps_everyones_room(app, event, tmp_path):
    people = [add_invitee(event, name, f"{name.split()[0].lower()}@example.se") for name in ("Anna Andersson", "Bo Berg")]
    for person in people:
        with write_transaction():
            save_answer(person, Answer(days={"day1": DayAnswer(True, "own"), "day2": DayAnswer(True)},
                                       hotel_nights={"night-24"}))
    text = BUNDLED_EVENT.read_text(encoding="utf-8")
    night = '[[hotel_nights]]\nid = "night-24"\ndate = 2021-11-24\ncapacity = 60\n'
    assert night in text
    smaller = tmp_path / "event.toml"
    smaller.write_text(text.replace(night, night.replace("capacity = 60", "capacity = 1")), encoding="utf-8")
    before = database_state(db.session, ["hotel_night", "response_hotel_night"])

    result = app.test_cli_runner(env=SWEDISH_TERMINAL).invoke(args=["event", "load", "--dry-run", str(smaller)])
    assert result.exit_code == 0, result.output
    assert "Natten efter onsdag 24 november 2021: 2 rum är tagna men filen ger 1. Ingen förlorar sitt, och ingen ny " \
           "får rum förrän tillräckligt många lämnat sina." in result.output
    assert database_state(db.session, ["hotel_night", "response_hotel_night"]) == before


def test_a_terminal_set_to_swedish_gets_osa_in_swedish(app):
    swedish = app.test_cli_runner(env=SWEDISH_TERMINAL)
    missing = swedish.invoke(args=["event", "show"])
    assert missing.exit_code == 1
    assert "inget evenemang är inläst; läs in ett med: osa event load" in missing.output
    loaded = swedish.invoke(args=["event", "load", str(BUNDLED_EVENT)])
    assert loaded.exit_code == 0, loaded.output
    assert "Evenemanget 'innovationsmotet-2021' skapat: 2 dagar, 17 programpunkter, 5 måltider" in loaded.output
    assert "reminder-7: för sent, skulle markeras som missad, 0 mejl" in swedish.invoke(args=["jobs", "run", "--dry-run"]).output


def test_a_swedish_terminal_gets_the_problems_of_an_event_file_in_swedish(app, tmp_path):
    text = BUNDLED_EVENT.read_text(encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('day = "day2"', 'day = "day9"', 1).replace('timezone = "Europe/Stockholm"',
                                                                          'timezone = "Europe/Storstad"', 1),
                   encoding="utf-8")
    swedish = app.test_cli_runner(env=SWEDISH_TERMINAL)
    result = swedish.invoke(args=["event", "load", str(bad)])
    assert result.exit_code == 1
    lines = text.splitlines()
    day9 = next(i for i, line in enumerate(lines) if 'day = "day2"' in line) + 1
    assert f"{bad}: 2 problem:" in result.output
    assert f"rad {day9}: meals[3].day: måltid på dagen 'day9', som inte finns (dagar: 'day1', 'day2')" in result.output
    assert "event.timezone: okänd tidszon 'Europe/Storstad' (ange ett IANA-namn som Europe/Stockholm)" in result.output
    english = app.test_cli_runner(env=ENGLISH_TERMINAL).invoke(args=["event", "load", str(bad)])
    assert f"line {day9}: meals[3].day: meal on day 'day9', which does not exist" in english.output


def test_a_reload_that_changes_the_programme_changes_the_calendar_file_invitees_get(event):
    from service.eventfile import parse_event
    from service.events import store_event
    from service.mail.ics import invitee_calendars

    anna = add_invitee(event)

    def calendar() -> str:
        return "".join(text for _, _, text in invitee_calendars(anna, 0, invited=True)).replace("\r\n ", "")

    before = calendar()
    text = BUNDLED_EVENT.read_text(encoding="utf-8").replace('title = "Gemensam lunch"\n', 'title = "Lunch i matsalen"\n', 1)
    with write_transaction():
        store_event(parse_event(text))
    after = calendar()
    assert "Lunch i matsalen" in after and "Lunch i matsalen" not in before
