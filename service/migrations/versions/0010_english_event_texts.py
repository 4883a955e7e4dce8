"""english event texts: description, day summaries, agenda speakers, details and places, meal and
transport places, contact titles, for invitees who read English

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

COLUMNS = {
    "event": [("description_en", sa.Text())],
    "event_day": [("summary_en", sa.Text())],
    "agenda_item": [("speakers_en", sa.Text()), ("details_en", sa.Text()), ("place_en", sa.String(length=200))],
    "meal": [("place_en", sa.String(length=200))],
    "transport_option": [("place_en", sa.String(length=200))],
    "contact": [("title_en", sa.String(length=200))],
}


def upgrade():
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for name, type_ in columns:
                batch.add_column(sa.Column(name, type_, nullable=True))


def downgrade():
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for name, _type in columns:
                batch.drop_column(name)
