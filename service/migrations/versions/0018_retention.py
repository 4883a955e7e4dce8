"""retention: removal of sensitive details, then personal data, on a clock after the event; erasure

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("event", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("hotel_names", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("retention_sensitive_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("retention_personal_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("retention_problem", sa.Text(), server_default="", nullable=False))
    with op.batch_alter_table("invitee", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("erasure_requested_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("erased_at", sa.DateTime(), nullable=True))
    op.create_table(
        "retention_postponement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("by", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_retention_postponement_event_id", "retention_postponement", ["event_id"])


def downgrade():
    op.drop_index("ix_retention_postponement_event_id", table_name="retention_postponement")
    op.drop_table("retention_postponement")
    with op.batch_alter_table("invitee", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("erased_at")
        batch_op.drop_column("erasure_requested_at")
    with op.batch_alter_table("event", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("retention_problem")
        batch_op.drop_column("retention_personal_days")
        batch_op.drop_column("retention_sensitive_days")
        batch_op.drop_column("hotel_names")
