"""accessibility statement: the organiser's own text, when the event file gives one

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("event", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("accessibility_statement", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("accessibility_statement_en", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("event", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("accessibility_statement_en")
        batch_op.drop_column("accessibility_statement")
