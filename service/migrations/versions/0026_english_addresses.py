"""english addresses: the event's and the hotel's address for invitees who read English

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

COLUMNS = ("address_en", "hotel_address_en")


def upgrade():
    with op.batch_alter_table("event") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.String(length=200), nullable=True))


def downgrade():
    # ALTER TABLE … DROP COLUMN, also on SQLite: there a copied `event` would be dropped, and dropping
    # it deletes every invitee, answer and email that cascades from it.
    with op.batch_alter_table("event", recreate="never") as batch:
        for name in COLUMNS:
            batch.drop_column(name)
