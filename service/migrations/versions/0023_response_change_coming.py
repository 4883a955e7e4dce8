"""response change coming: whether each answer in the change log comes, for the answers over time

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-01

"""
import json

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

#: Change log rows read and written back at a time.
BATCH = 2000


def upgrade():
    with op.batch_alter_table("response_change", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("coming", sa.Boolean(), server_default=sa.false(), nullable=False))
    changes = sa.table("response_change", sa.column("id", sa.Integer), sa.column("new", sa.Text),
                       sa.column("coming", sa.Boolean))
    connection = op.get_bind()
    last = 0
    while rows := connection.execute(sa.select(changes.c.id, sa.cast(changes.c.new, sa.Text))
                                     .where(changes.c.id > last).order_by(changes.c.id).limit(BATCH)).all():
        coming = [row.id for row in rows
                  if any(day["attending"] for day in json.loads(row[1])["days"].values())]
        if coming:
            connection.execute(sa.update(changes).where(changes.c.id.in_(coming)).values(coming=True))
        last = rows[-1].id


def downgrade():
    with op.batch_alter_table("response_change", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("coming")
