"""delivery reports: what the bounce mailbox said about each email, once per message

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "delivery_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_key", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("invitee_id", sa.Integer(), nullable=True),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("matched_by", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["invitee_id"], ["invitee.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("report_key"),
    )
    op.create_index("ix_delivery_report_invitee", "delivery_report", ["invitee_id", "kind", "received_at"])


def downgrade():
    op.drop_index("ix_delivery_report_invitee", table_name="delivery_report")
    op.drop_table("delivery_report")
