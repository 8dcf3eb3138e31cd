"""welcome reveal: users.origin_customer_id, subscriptions.checkout_created

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 10:00:00.000000

No backfill, on purpose: for rows that exist before this migration nobody can tell
whether a user first appeared with its customer or was linked to an older record, nor
when its checkout completed. Both stay NULL, so the welcome page of a checkout completed
before the upgrade says the key cannot be shown there; the operator runs
`flask keys rotate` for such a user.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('origin_customer_id', sa.String(length=255), nullable=True))
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('checkout_created', sa.BigInteger(), nullable=True))


def downgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_column('checkout_created')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('origin_customer_id')
