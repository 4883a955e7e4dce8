"""admin session version: signing out ends every session the user has, copied cookies too

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("admin_user", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("session_version", sa.Integer(), server_default="0", nullable=False))


def downgrade():
    with op.batch_alter_table("admin_user", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("session_version")
