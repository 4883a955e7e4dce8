"""outbox bulk: invitations and reminders wait while anyone's own email is queued

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbox", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("bulk", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.execute("UPDATE outbox SET bulk = (kind IN ('invitation', 'reminder'))")
    with op.batch_alter_table("outbox", schema=None, recreate="never") as batch_op:
        batch_op.create_index("ix_outbox_state_bulk_id", ["state", "bulk", "id"], unique=False)


def downgrade():
    with op.batch_alter_table("outbox", schema=None, recreate="never") as batch_op:
        batch_op.drop_index("ix_outbox_state_bulk_id")
        batch_op.drop_column("bulk")
