"""outbox sent_at index: the daily limit counts what reached the relay in the last 24 hours

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbox", schema=None, recreate="never") as batch_op:
        batch_op.create_index("ix_outbox_sent_at", ["sent_at"], unique=False)


def downgrade():
    with op.batch_alter_table("outbox", schema=None, recreate="never") as batch_op:
        batch_op.drop_index("ix_outbox_sent_at")
