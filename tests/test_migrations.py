"""Migrations build the schema the models describe, on SQLite and PostgreSQL, and can be undone."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from service.extensions import db
from service.models import Invitee, ResponseChange

from .conftest import (
    BACKENDS,
    _create_postgres_database,
    _drop_postgres_database,
    make_app,
)

pytestmark = pytest.mark.both_backends


@pytest.fixture(params=BACKENDS)
def empty_database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    else:
        url, name = _create_postgres_database()
        yield url
        _drop_postgres_database(name)


def _tables(engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def _upgraded_with_bo() -> Invitee:
    """In an app context: the schema at the newest migration, the bundled event, and Bo Ek invited to it."""
    from service import BUNDLED_EVENTS_DIR
    from service.db import write_transaction
    from service.eventfile import read_event_file
    from service.events import store_event
    from service.invitee_import import add_invitee

    upgrade()
    with write_transaction():
        event = store_event(read_event_file(BUNDLED_EVENTS_DIR / "innovationsmotet-2021.toml")).event
        add_invitee(event, "Bo Ek", "bo@example.se")
    return db.session.scalar(sa.select(Invitee))


def test_upgrade_from_empty_matches_the_models_and_downgrade_removes_everything(empty_database_url):
    app = make_app(empty_database_url)
    with app.app_context():
        assert _tables(db.engine) == set()

        upgrade()
        assert _tables(db.engine) == set(db.metadata.tables) | {"alembic_version"}
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, db.metadata)
        assert differences == []

        downgrade(revision="base")
        assert _tables(db.engine) == {"alembic_version"}
        upgrade()
        assert "invitee" in _tables(db.engine)
        db.engine.dispose()


def test_the_change_log_learns_which_answers_come_from_the_answers_it_holds(empty_database_url):
    """0023 sets `coming` on the rows already there, read from each answer: three answers saved,
    the column dropped (downgrade to 0022) and made again."""
    from service.answers import Answer, DayAnswer, save_answer
    from service.db import write_transaction

    app = make_app(empty_database_url)
    with app.app_context():
        bo = _upgraded_with_bo()
        for day1 in (True, False, True):
            with write_transaction():
                save_answer(bo, Answer(days={"day1": DayAnswer(day1, "own" if day1 else None),
                                             "day2": DayAnswer(False)}), actor="invitee")
        db.session.remove()
        downgrade(revision="0022")
        upgrade()
        assert db.session.scalars(sa.select(ResponseChange.coming).order_by(ResponseChange.id)).all() == \
            [True, False, True]
        db.session.remove()
        db.engine.dispose()


def test_the_reasons_osa_wrote_in_english_become_problems_shown_in_the_readers_language(empty_database_url):
    """0024 reads the reasons OSA wrote as English text before it into a code and the detail the
    reason named, on emails and on invitees marked undeliverable; a relay's own reply is left as the
    relay wrote it."""
    from service import BUNDLED_EVENTS_DIR
    from service.eventfile import read_event_file
    from service.events import store_event
    from service.mail.outbox import _row_values
    from service.mail.render import RenderedEmail
    from service.invitee_import import add_invitee
    from service.models import Outbox

    written = {
        "not sent: the invitee was removed before their invitation went out": ("removed", ""),
        "not sent: the address was found undeliverable (550 5.1.1 no such user)":
            ("undeliverable", "550 5.1.1 no such user"),
        "not sent: a new link replaced this one before the invitation went out": ("link_replaced", ""),
        "not sent: a header of the invitation would contain a line break": ("header_line_break", ""),
        "a header contains a line break": ("header_line_break", ""),
        "the address 'åsa.öberg@example.se' cannot be written in an email header":
            ("address_not_ascii", "åsa.öberg@example.se"),
        "gave up after 5 attempts: 451 4.3.0 try again later": ("gave_up", "451 4.3.0 try again later"),
        "550 5.7.1 not sent: refused by policy": ("", "550 5.7.1 not sent: refused by policy"),
    }
    app = make_app(empty_database_url)
    with app.app_context():
        upgrade()
        event = store_event(read_event_file(BUNDLED_EVENTS_DIR / "innovationsmotet-2021.toml")).event
        add_invitee(event, "Åsa Öberg", "asa.oberg@example.se")
        add_invitee(event, "Bo Ek", "bo@example.se")
        db.session.flush()
        db.session.connection().execute(sa.insert(Outbox), [
            _row_values(kind="reminder", key=f"reason:{n}", event=event, recipient=f"r{n}@example.se", language="sv",
                        rendered=RenderedEmail("Påminnelse", "Hej", "<p>Hej</p>"))
            for n in range(len(written))])
        db.session.commit()
        db.session.remove()
        downgrade(revision="0023")
        with db.engine.begin() as connection:
            outbox = sa.table("outbox", sa.column("id", sa.Integer), sa.column("last_error", sa.Text))
            ids = connection.execute(sa.select(outbox.c.id).order_by(outbox.c.id)).scalars().all()
            for row_id, text in zip(ids, written):
                connection.execute(sa.update(outbox).where(outbox.c.id == row_id).values(last_error=text))
            invitee = sa.table("invitee", sa.column("email", sa.Text), sa.column("undeliverable_reason", sa.Text))
            for address, reason in (("asa.oberg@example.se", "the address 'åsa.öberg@example.se' cannot be written "
                                     "in an email header"), ("bo@example.se", "550 5.1.1 no such user")):
                connection.execute(sa.update(invitee).where(invitee.c.email == address)
                                   .values(undeliverable_reason=reason))
        upgrade()
        assert db.session.execute(sa.select(Outbox.problem, Outbox.last_error).order_by(Outbox.id)).all() == \
            list(written.values())
        assert db.session.execute(sa.select(Invitee.undeliverable_problem, Invitee.undeliverable_reason)
                                  .order_by(Invitee.email)).all() == [
            ("address_not_ascii", "åsa.öberg@example.se"), ("", "550 5.1.1 no such user")]
        db.session.remove()
        db.engine.dispose()


def test_going_down_to_0010_and_up_again_keeps_every_answer_and_email(empty_database_url):
    """Columns are dropped in place (on SQLite a table copied and dropped would take its children with
    it, through ON DELETE CASCADE): down to 0010, across every drop, and up again through 0011's."""
    from service.answers import Answer, DayAnswer, save_answer
    from service.db import write_transaction
    from service.mail.compose import queue_invitation

    tables = ("event", "event_day", "invitee", "response", "response_day", "response_change", "outbox")
    app = make_app(empty_database_url)
    app.config["BROKER_URL"] = "redis://127.0.0.1:1/0"  # no broker: the email stays in the outbox
    with app.app_context():
        bo = _upgraded_with_bo()
        with write_transaction():
            save_answer(bo, Answer(days={"day1": DayAnswer(True, "own"), "day2": DayAnswer(False)}), actor="invitee")
            queue_invitation(bo)
        db.session.remove()

        def counts() -> dict[str, int]:
            with db.engine.connect() as connection:
                return {name: connection.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar() for name in tables}

        before = counts()
        assert all(before.values()), before
        downgrade(revision="0010")
        assert counts() == before
        upgrade()
        assert counts() == before
        db.session.remove()
        db.engine.dispose()


def test_names_stored_before_0025_are_listed_in_swedish_order(empty_database_url):
    """0025 gives every invitee already there the sort name of their name: down to 0024 (the column
    dropped) and up again, the list goes å, ä, ö after z, and a lower-case name among the rest."""
    from service.db import write_transaction
    from service.invitee_import import add_invitee

    app = make_app(empty_database_url)
    with app.app_context():
        bo = _upgraded_with_bo()
        with write_transaction():
            for number, name in enumerate(("Ärla Berg", "Åsa Ek", "anders Lund", "Zara Ek")):
                add_invitee(bo.event, name, f"person{number}@example.se")
        db.session.remove()
        downgrade(revision="0024")
        upgrade()
        listed = db.session.scalars(sa.select(Invitee.name).order_by(Invitee.sort_name)).all()
        assert listed == ["anders Lund", "Bo Ek", "Zara Ek", "Åsa Ek", "Ärla Berg"]
        db.session.remove()
        db.engine.dispose()


def test_a_database_that_sorts_in_english_still_lists_names_in_swedish_order():
    """PostgreSQL's own order follows the database's collation: en_US (the postgres image's default)
    puts Åsa among the a's and Örjan among the o's. The sort name is compared character by character."""
    from service.db import write_transaction
    from service.invitee_import import add_invitee

    if "postgresql" not in BACKENDS:
        pytest.skip("no PostgreSQL in this run")
    try:
        url, name = _create_postgres_database("TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'")
    except sa.exc.DBAPIError as error:
        pytest.skip(f"this PostgreSQL cannot make an en-US database: {error.orig}")
    try:
        app = make_app(url)
        with app.app_context():
            bo = _upgraded_with_bo()
            with write_transaction():
                for number, person in enumerate(("Örjan Olsson", "Åsa Ek", "Olle Ek", "Anna Ek", "Ärla Berg")):
                    add_invitee(bo.event, person, f"person{number}@example.se")
            english = db.session.scalars(sa.select(Invitee.name).order_by(Invitee.name)).all()
            assert english == ["Anna Ek", "Ärla Berg", "Åsa Ek", "Bo Ek", "Olle Ek", "Örjan Olsson"]  # the server's
            swedish = db.session.scalars(sa.select(Invitee.name).order_by(Invitee.sort_name)).all()
            assert swedish == ["Anna Ek", "Bo Ek", "Olle Ek", "Åsa Ek", "Ärla Berg", "Örjan Olsson"]
            db.session.remove()
            db.engine.dispose()
    finally:
        _drop_postgres_database(name)
