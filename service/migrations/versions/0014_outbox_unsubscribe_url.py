"""outbox unsubscribe url: invitations and reminders carry a one-click List-Unsubscribe

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbox", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("unsubscribe_url", sa.String(length=500), server_default="", nullable=False))


def downgrade():
    with op.batch_alter_table("outbox", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("unsubscribe_url")
