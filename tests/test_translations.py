"""Every text a person can see has a Swedish translation, and the compiled catalogue is current."""

import os
import re
import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "service" / "translations" / "sv" / "LC_MESSAGES"


def catalog(path: Path, reader=read_po):
    with path.open("rb") as handle:
        # Plural messages come as tuples from .po files and lists from .mo files.
        return {_tuple(message.id): _tuple(message.string) for message in reader(handle) if message.id}


def _tuple(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


def untranslated(messages: dict) -> list:
    return [m for m, string in messages.items() if not string or (isinstance(string, tuple) and "" in string)]


def test_every_message_in_the_code_is_translated_to_swedish(tmp_path):
    template = tmp_path / "messages.pot"
    subprocess.run(
        [str(Path(sys.executable).parent / "pybabel"), "-q", "extract", "-F", "babel.cfg",
         "-k", "_l", "-k", "lazy_gettext", "-k", "N_", "-o", str(template), "."],
        cwd=ROOT, check=True,
    )
    wanted = set(catalog(template))
    swedish = catalog(CATALOG / "messages.po")
    assert sorted(map(str, wanted - set(swedish))) == []
    assert untranslated(swedish) == []


def test_the_compiled_catalogues_match_the_translations_and_clicks_words_are_all_translated():
    for domain in ("messages", "click"):
        assert catalog(CATALOG / f"{domain}.mo", read_mo) == catalog(CATALOG / f"{domain}.po"), domain
    clicks = catalog(CATALOG / "click.po")
    assert len(clicks) > 50 and untranslated(clicks) == []


#: Words of the bundled event's Swedish that an English reader must never meet (proper names aside).
SWEDISH = re.compile(
    r"\b(dag|dagen|lunch på|kl\.|ca|måndag|onsdag|torsdag|fredag|välkommen|hej|svara|svar|svarat|flygplats|"
    r"väntelista|väntelistan|måltider|kaffepaus|kaffe|middag|bussen|upphämtning|natten|hotellnätter|praktiskt|"
    r"kommer|inte|och|för|med|till|på|av|om|guidad|samtal|gemensam|gemensamma|inledning|upphandling|"
    r"tjänsteman|politiker|vegetarisk|laktosfri|rum|platser|resa|kost|allergier|innovationsmötet|centrum|"
    r"sekretariatet(?!@))\b",
    re.IGNORECASE,
)


def swedish_words(text: str) -> list[str]:
    return sorted({match.group(0) for match in SWEDISH.finditer(text)})


def test_an_english_invitee_meets_no_swedish_in_pages_emails_or_calendars(before_deadline, app, event, client):
    from service.extensions import db
    from service.links import issue_new_link, opt_out_url
    from service.mail.ics import invitee_calendars
    from service.mail.previews import KINDS, preview_email

    from .conftest import add_invitee, link_path
    from .support.helpers import csrf_token, html_text, page_text

    bo = add_invitee(event, "Bo Ek", "bo.ek@example.se", "official", "en")
    ann = add_invitee(event, "Ann Ek", "ann.ek@example.se", "kso", "en")
    replaced = link_path(bo)
    issue_new_link(bo)
    db.session.commit()
    link = link_path(bo)
    seen = {"replaced link page": page_text(client.get(replaced)), "answer page": page_text(client.get(link))}
    form = {"csrf_token": csrf_token(client.get(link)), "day_day1": "yes", "transport_day1": "airport",
            "flight_number_day1": "SK 2014", "flight_arrival_day1": "09:05", "day_day2": "yes",
            "meal_lunch-day1": "y", "meal_dinner-day1": "y", "diet_vegetarian": "y", "night_night-24": "y"}
    saved = client.post(link, data=form)
    assert saved.status_code == 303, page_text(client.post(link, data=form))
    seen["thanks page"] = page_text(client.get(saved.headers["Location"]))
    seen["opt-out page"] = page_text(client.get(opt_out_url(bo).replace("http://osa.example.se", "")))
    seen["data page"] = page_text(client.get(f"{link}/data"))
    seen["decline page"] = page_text(client.post(f"{link}/decline", data={"csrf_token": csrf_token(client.get(link))}))
    seen["accessibility statement"] = page_text(client.get("/r/accessibility?lang=en"))
    for kind in KINDS:
        preview = preview_email(event, kind, "en", bo)
        seen[f"{kind} email"] = "\n".join([preview.subject, preview.text, html_text(preview.html), *preview.attachments])
    # Calendars for both roles: together they hold every item of the programme.
    calendars = [text for person in (bo, ann) for _, _, text in invitee_calendars(person, 0, invited=True)]
    seen["calendar"] = "\n".join(calendars).replace("\\n", "\n").replace("\\,", ",")

    assert "Skellefteå Airport" in seen["day_before email"]
    assert "You can't come?" in seen["decline page"] and "Your data" in seen["data page"]
    # The link to the Swedish page names its language in Swedish, as language switchers do.
    # The statement gives the Swedish law and agency their Swedish names too.
    names = ("På svenska", "lagen om tillgänglighet till digital offentlig service", "Myndigheten för digital förvaltning")
    seen = {where: re.sub("|".join(names), "", text) for where, text in seen.items()}
    assert {where: swedish_words(text) for where, text in seen.items() if swedish_words(text)} == {}



def test_the_osa_commands_help_is_in_the_terminals_language(app):
    import click

    from service.cli import DatabaseGroup, OsaCommand

    from .conftest import ENGLISH_TERMINAL, SWEDISH_TERMINAL

    swedish, english = (app.test_cli_runner(env=env) for env in (SWEDISH_TERMINAL, ENGLISH_TERMINAL))

    def shown(runner, *args: str) -> str:
        return " ".join(runner.invoke(args=[*args, "--help"]).output.split())

    load = shown(swedish, "event", "load")
    assert "Kontrollera FILE och skapa eller uppdatera dess evenemang; berätta för deltagarna vad som ändrats" in load
    assert "--dry-run Visa vad som skulle ändras och vilka som skulle få besked; spara inget." in load
    assert "Commands: run Kör de jobb som är på tur (eller bara JOB: reminder, day-before) och..." in shown(swedish, "jobs")
    assert "Validate FILE and create or update its event" in shown(english, "event", "load")

    # Every command of OSA's, and each of its options, shows its help in Swedish: none is left in English.
    def commands(group: click.Group, path: list[str]):
        for name, command in group.commands.items():
            if isinstance(command, (OsaCommand, DatabaseGroup)):  # not Flask's own (run, shell, db …)
                yield [*path, name], command
                if isinstance(command, click.Group):
                    yield from commands(command, [*path, name])

    found = list(commands(app.cli, []))
    assert {" ".join(path) for path, _ in found} >= {"demo", "schedule", "event load", "admin create-user"}
    for path, command in found:
        texts = [command.help, *(param.help for param in command.params if getattr(param, "help", None))]
        help_page = shown(swedish, *path)
        assert command.help and not [text for text in texts if " ".join(text.split()) in help_page], path

    # `osa --help`, as a secretariat's Swedish terminal runs it, lists OSA's commands in Swedish.
    environment = {name: value for name, value in os.environ.items() if name not in SWEDISH_TERMINAL}
    environment.update({name: value for name, value in SWEDISH_TERMINAL.items() if value is not None})
    osa = str(Path(sys.executable).parent / "osa")
    listed = subprocess.run([osa, "--help"], capture_output=True, text=True, cwd=ROOT, env=environment, timeout=60,
                            check=True).stdout
    assert "OSA: inbjudningar, anmälningar och deltagarantal för möten." in listed
    assert re.search(r"^\s+invitations\s+Skicka inbjudningarna\.$", listed, re.M)
    # Click's own words too: the headings, and what it says of a command given wrong.
    assert listed.startswith("Användning: osa ") and "\nFlaggor:\n" in listed and "\nKommandon:\n" in listed
    assert "Visa den här hjälpen och avsluta." in listed and "Show this message" not in listed
    # What Flask and its extensions add is listed in OSA's words, and not Flask's --app (which osa
    # ignores) nor --env-file (which needs python-dotenv, not installed): no line of it is English.
    assert re.search(r"^\s+db\s+Skapa eller uppdatera databasen \(Flask-Migrate\)\.$", listed, re.M)
    assert re.search(r"^\s+--version\s+Visa versionerna av Python, Flask och Werkzeug\.$", listed, re.M)
    for flasks in ("Perform database migrations", "Flask-Limiter maintenance", "Show the routes", "development server",
                   "Run a shell", "Set debug mode", "Show the Flask version", "--app", "--env-file"):
        assert flasks not in listed

    def said(*args: str) -> str:  # (commands that need no database, so a new checkout's says the same)
        done = subprocess.run([osa, *args], capture_output=True, text=True, cwd=ROOT, env=environment, timeout=60)
        assert done.returncode == 2
        return done.stderr

    assert said("demo", "--port", "två") == ("Användning: osa demo [OPTIONS]\nSkriv 'osa demo --help' för hjälp.\n\n"
                                            "Fel: Ogiltigt värde för '--port': 'två' är inget giltigt tal.\n")
    assert said("evnt").endswith("Skriv 'osa --help' för hjälp.\n\nFel: Inget kommando heter 'evnt'.\n")
    environment.update({name: value for name, value in ENGLISH_TERMINAL.items() if value is not None})
    assert said("evnt").endswith("Try 'osa --help' for help.\n\nError: No such command 'evnt'.\n")
    english_list = subprocess.run([osa, "--help"], capture_output=True, text=True, cwd=ROOT, env=environment,
                                  timeout=60, check=True).stdout
    assert re.search(r"^\s+db\s+Create or migrate the database \(Flask-Migrate\)\.$", english_list, re.M)
