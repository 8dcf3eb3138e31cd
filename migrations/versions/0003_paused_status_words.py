"""status words behind the paused rule: event_status, subscription_status

A paused subscription leaves `paused` only by a subscription event, so its
status is decided by two words, each kept by its own ordering rule
(accounts/ordering.py). Existing rows: the status they show is the newest
event's word; a `paused` one can only have come from a subscription event.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('event_status', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('subscription_status', sa.String(length=32), nullable=True))
    op.execute("UPDATE subscriptions SET event_status = status")
    op.execute("UPDATE subscriptions SET subscription_status = status WHERE status = 'paused'")


def downgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_column('subscription_status')
        batch_op.drop_column('event_status')
