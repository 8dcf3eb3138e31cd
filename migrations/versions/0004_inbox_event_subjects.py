"""inbox event subjects: inbox_events.stripe_customer_id and stripe_subscription_id, indexed

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08 10:00:00.000000

The operator page lists the events that touched a user. inbox_events has no user column,
and searching the payload text (LIKE '%cus_…%') reads every row of a table that holds a
month of deliveries. So the inbox writes whom each event is about into two indexed
columns, the Stripe ids a user is already known by; a user's events are one index look-up
per id. (A user id column would go stale when two user records merge, and a failed
event, whose work rolled back, would have none.)

Rows from before this migration are backfilled from their payload, in batches, by the
same rules as subsvc.events / subsvc.thin (copied here: a migration must not change when
the application code does later).
"""
from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

BATCH = 1000
ID_WIDTH = 255


def upgrade():
    with op.batch_alter_table('inbox_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stripe_customer_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('stripe_subscription_id', sa.String(length=255),
                                      nullable=True))
        batch_op.create_index(batch_op.f('ix_inbox_events_stripe_customer_id'),
                              ['stripe_customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbox_events_stripe_subscription_id'),
                              ['stripe_subscription_id'], unique=False)
    backfill(op.get_bind())


def downgrade():
    with op.batch_alter_table('inbox_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbox_events_stripe_subscription_id'))
        batch_op.drop_index(batch_op.f('ix_inbox_events_stripe_customer_id'))
        batch_op.drop_column('stripe_subscription_id')
        batch_op.drop_column('stripe_customer_id')


def backfill(conn: sa.Connection) -> None:
    events = sa.table('inbox_events', sa.column('id', sa.Integer), sa.column('payload', sa.Text),
                      sa.column('stripe_customer_id', sa.String),
                      sa.column('stripe_subscription_id', sa.String))
    update = (sa.update(events).where(events.c.id == sa.bindparam('row_id'))
              .values(stripe_customer_id=sa.bindparam('customer'),
                      stripe_subscription_id=sa.bindparam('subscription')))
    last = 0
    while True:
        rows = conn.execute(sa.select(events.c.id, events.c.payload).where(events.c.id > last)
                            .order_by(events.c.id).limit(BATCH)).all()
        if not rows:
            return
        last = rows[-1].id
        params = [{'row_id': row.id, **subjects(row.payload)} for row in rows]
        params = [p for p in params if p['customer'] or p['subscription']]
        if params:
            conn.execute(update, params)


def subjects(payload: str) -> dict[str, str | None]:
    try:
        data = json.loads(payload)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return {'customer': None, 'subscription': None}
    if data.get('object') == 'v2.core.event':
        related = data.get('related_object') or {}
        kind = related.get('type') if isinstance(related, dict) else None
        rid = related.get('id') if isinstance(related, dict) else None
        return {'customer': fit(rid) if kind == 'customer' else None,
                'subscription': fit(rid) if kind == 'subscription' else None}
    obj = (data.get('data') or {}).get('object') if isinstance(data.get('data'), dict) else None
    if not isinstance(obj, dict):
        return {'customer': None, 'subscription': None}
    kind = obj.get('object')
    customer = id_of(obj) if kind == 'customer' else id_of(obj.get('customer'))
    subscription = id_of(obj) if kind == 'subscription' else (
        id_of(obj.get('subscription'))
        or id_of(dig(obj, 'parent', 'subscription_details', 'subscription')))
    return {'customer': fit(customer), 'subscription': fit(subscription)}


def id_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict) and isinstance(value.get('id'), str):
        return value['id'] or None
    return None


def dig(obj: Any, *path: str) -> Any:
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def fit(value: Any) -> str | None:
    ok = (isinstance(value, str) and 0 < len(value) <= ID_WIDTH and value.isascii()
          and value.isprintable())
    return value if ok else None
