"""outbox recipient name: the name shown beside the address in To:

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("recipient_name", sa.String(length=200), nullable=False, server_default=""))


def downgrade():
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("recipient_name")
