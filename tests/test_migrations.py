"""Migrations build the schema the models describe, on SQLite and PostgreSQL, and can be undone."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from service.extensions import db

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
