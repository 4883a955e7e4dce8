"""outbox problem: why OSA did not send an email is stored as a code, shown in the reader's language

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


def upgrade():
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("problem", sa.String(length=32), server_default="", nullable=False))
    outbox = sa.table("outbox", sa.column("id", sa.Integer), sa.column("last_error", sa.Text),
                      sa.column("problem", sa.String))
    connection = op.get_bind()
    rows = connection.execute(sa.select(outbox.c.id, outbox.c.last_error).where(
        sa.or_(outbox.c.last_error.like("not sent: %"), outbox.c.last_error.like("gave up after %"),
               outbox.c.last_error.like("the address %"), outbox.c.last_error == "a header contains a line break"))).all()
    for row_id, text in rows:
        for pattern, problem in REASONS:
            if match := pattern.fullmatch(text):
                connection.execute(sa.update(outbox).where(outbox.c.id == row_id).values(
                    problem=problem, last_error=match.groupdict().get("detail") or ""))
                break


def downgrade():
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("problem")
