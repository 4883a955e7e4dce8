"""invitee sort name: lists by name follow Swedish alphabetical order (å, ä, ö after z) on every database

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06

"""
import sqlalchemy as sa
from alembic import op

from service.text import sort_key

# revision identifiers, used by Alembic.
revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("invitee", schema=None) as batch_op:
        # Compared character by character: PostgreSQL's "C" collation, SQLite's default.
        batch_op.add_column(sa.Column("sort_name", sa.Text().with_variant(sa.Text(collation="C"), "postgresql"),
                                      server_default="", nullable=False))
    invitee = sa.table("invitee", sa.column("id", sa.Integer), sa.column("name", sa.String),
                       sa.column("sort_name", sa.Text))
    connection = op.get_bind()
    rows = connection.execute(sa.select(invitee.c.id, invitee.c.name)).all()
    if rows:
        connection.execute(sa.update(invitee).where(invitee.c.id == sa.bindparam("row_id"))
                           .values(sort_name=sa.bindparam("key")),
                           [{"row_id": row_id, "key": sort_key(name)} for row_id, name in rows])


def downgrade():
    # ALTER TABLE … DROP COLUMN, also on SQLite: on SQLite a copied `invitee` would be dropped, and
    # dropping it deletes every answer and change log row that cascades from it.
    with op.batch_alter_table("invitee", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("sort_name")
