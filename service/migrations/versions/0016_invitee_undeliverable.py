"""invitee undeliverable: an address the relay refused for good gets no more rounds or reminders

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("invitee", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("undeliverable_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("undeliverable_reason", sa.Text(), server_default="", nullable=False))


def downgrade():
    with op.batch_alter_table("invitee", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("undeliverable_reason")
        batch_op.drop_column("undeliverable_at")
