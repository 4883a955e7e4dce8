"""outbox problem: why OSA did not send an email, or cannot send to an invitee, is a code shown in the reader's language

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06

"""
import re

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

#: The English reasons OSA wrote before, each with its code and the detail it keeps.
REASONS = [
    (re.compile(r"not sent: the invitee was removed before their invitation went out"), "removed"),
    (re.compile(r"not sent: the address was found undeliverable \((?P<detail>.*)\)", re.S), "undeliverable"),
    (re.compile(r"not sent: a new link replaced this one before the invitation went out"), "link_replaced"),
    (re.compile(r"not sent: a header of the invitation would contain a line break"), "header_line_break"),
    (re.compile(r"a header contains a line break"), "header_line_break"),
    (re.compile(r"the address '(?P<detail>.*)' cannot be written in an email header", re.S), "address_not_ascii"),
    (re.compile(r"gave up after \d+ attempts: (?P<detail>.*)", re.S), "gave_up"),
]


def _split(connection, table, text_column: str, problem_column: str) -> None:
    """Each stored English reason of OSA's as its code, and the detail it named."""
    stored = table.c[text_column]
    rows = connection.execute(sa.select(table.c.id, stored).where(
        sa.or_(stored.like("not sent: %"), stored.like("gave up after %"), stored.like("the address %"),
               stored == "a header contains a line break"))).all()
    for row_id, text in rows:
        for pattern, problem in REASONS:
            if match := pattern.fullmatch(text):
                connection.execute(sa.update(table).where(table.c.id == row_id).values(
                    {problem_column: problem, text_column: match.groupdict().get("detail") or ""}))
                break


def upgrade():
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("problem", sa.String(length=32), server_default="", nullable=False))
    with op.batch_alter_table("invitee", schema=None) as batch_op:
        batch_op.add_column(sa.Column("undeliverable_problem", sa.String(length=32), server_default="", nullable=False))
    connection = op.get_bind()
    _split(connection, sa.table("outbox", sa.column("id", sa.Integer), sa.column("last_error", sa.Text),
                                sa.column("problem", sa.String)), "last_error", "problem")
    # An address OSA could not write was marked undeliverable with the same English sentence.
    _split(connection, sa.table("invitee", sa.column("id", sa.Integer), sa.column("undeliverable_reason", sa.Text),
                                sa.column("undeliverable_problem", sa.String)),
           "undeliverable_reason", "undeliverable_problem")


def downgrade():
    # ALTER TABLE … DROP COLUMN, also on SQLite: a copied table would be dropped, and on SQLite dropping
    # `invitee` deletes every answer and change log row that cascades from it.
    with op.batch_alter_table("invitee", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("undeliverable_problem")
    with op.batch_alter_table("outbox", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("problem")
