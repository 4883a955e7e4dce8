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
    from service import BUNDLED_EVENTS_DIR
    from service.answers import Answer, DayAnswer, save_answer
    from service.db import write_transaction
    from service.eventfile import read_event_file
    from service.events import store_event
    from service.invitee_import import add_invitee

    app = make_app(empty_database_url)
    with app.app_context():
        upgrade()
        with write_transaction():
            event = store_event(read_event_file(BUNDLED_EVENTS_DIR / "innovationsmotet-2021.toml")).event
            add_invitee(event, "Bo Ek", "bo@example.se")
        bo = db.session.scalar(sa.select(Invitee))
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
