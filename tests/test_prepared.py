"""models/prepared.py: statements on the driver's cursor give what SQLAlchemy's execution gives."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from subsvc.extensions import db
from subsvc.models import Subscription, User, WidgetConfig
from subsvc.models.prepared import Prepared
from subsvc.status.payloads import _status_query

WHEN = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def test_rows_come_back_with_the_types_sqlalchemy_gives(app: Flask) -> None:
    with app.app_context():
        user = User(email="types@example.com", api_key_hash="h" * 64, api_key_prefix="sk_x",
                    api_key_issued_at=WHEN)
        db.session.add(user)
        db.session.flush()
        db.session.add(Subscription(stripe_subscription_id="sub_types", user_id=user.id,
                                    status="active", tier="pro", current_period_end=WHEN,
                                    cancel_at_period_end=True, status_version="",
                                    details_version="", last_event_created=7))
        db.session.commit()
        with db.engine.connect() as connection:
            expected = connection.execute(_status_query("key"), {"key": "h" * 64}).all()
            got = Prepared(_status_query("key"), connection.dialect).execute(
                connection, {"key": "h" * 64})
    assert [tuple(row) for row in got] == [tuple(row) for row in expected]
    row = got[0]
    assert row.current_period_end == WHEN and row.current_period_end.tzinfo is not None
    assert row.cancel_at_period_end is True
    assert row.tier_limits == {"widgets": 10}  # JSON parsed, as SQLAlchemy does


def test_a_driver_error_is_sqlalchemys_and_lists_no_bound_values(app: Flask) -> None:
    # As with hide_parameters on the engine: the message names the statement, not its values
    # (the driver's own text may still quote one: Postgres' DETAIL of a unique violation).
    with app.app_context():
        db.session.add(User(email="taken@example.com"))
        db.session.commit()
        stmt = Prepared(insert(User), db.engine.dialect,
                        ("email", "created_at", "updated_at"))
        connection = db.session.connection()
        with pytest.raises(IntegrityError) as caught:
            stmt.execute(connection, {"email": "taken@example.com", "created_at": WHEN,
                                      "updated_at": WHEN})
        db.session.rollback()
    assert "[parameters" not in str(caught.value)
    assert "2026-03-04" not in str(caught.value)
    assert not caught.value.connection_invalidated


def test_a_column_whose_default_sqlalchemy_would_compute_must_be_given(app: Flask) -> None:
    with app.app_context(), pytest.raises(ValueError, match="Python-side default"):
        Prepared(insert(WidgetConfig), db.engine.dialect, ("user_id", "seeded_from_tier"))


def test_an_expanding_in_is_refused(app: Flask) -> None:
    stmt = select(User.id).where(User.email.in_(["a@example.com", "b@example.com"]))
    with app.app_context(), pytest.raises(ValueError, match="expanding"):
        Prepared(stmt, db.engine.dialect)
