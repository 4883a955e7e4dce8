"""drop event version: nothing caches the event's texts by it any more

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    # ALTER TABLE … DROP COLUMN, also on SQLite: a copied `event` table dropped in its place would
    # take every day, invitee and answer with it (ON DELETE CASCADE). So in every migration here.
    with op.batch_alter_table("event", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("version")


def downgrade():
    with op.batch_alter_table("event", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
