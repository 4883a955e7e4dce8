"""outbox message

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sender', sa.String(length=520), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('reply_to', sa.String(length=320), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('subject', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('body_text', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('body_html', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('attachments', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('auto_submitted', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('dispatched_at', sa.DateTime(), nullable=True))
        batch_op.drop_column('context')


def downgrade():
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('context', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.drop_column('dispatched_at')
        batch_op.drop_column('auto_submitted')
        batch_op.drop_column('attachments')
        batch_op.drop_column('body_html')
        batch_op.drop_column('body_text')
        batch_op.drop_column('subject')
        batch_op.drop_column('reply_to')
        batch_op.drop_column('sender')
