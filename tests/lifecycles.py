"""The customer lifecycles of the tests: each a list of events, plus the final state it promises.

The events come from one subsvc.simulate Journey per subscription; the promised state is
written out by hand, the oracle the handler and convergence tests check the service against.
``lifecycle`` picks one by name, as the server tests and the benchmark do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from subsvc.simulate import API_NEW, DAY, Customer, Journey, Json, add_interval, new_id, price
from subsvc.simulate.ids import checkout_session_id, now

Expected = dict[str, Any]
Scenario = tuple[list[Json], Expected]


def expected(sub_id: str, status: str, price_id: str, period_end: int, cancel_at_period_end: bool,
             cancel_at: int | None = None) -> Expected:
    """The final subscription values a lifecycle promises."""
    return {"subscription_id": sub_id, "status": status, "price_id": price_id,
            "current_period_end": period_end, "cancel_at_period_end": cancel_at_period_end,
            "cancel_at": cancel_at}


def prices(pro_price: str, business_price: str | None) -> tuple[Json, Json, Json]:
    """The lifecycles' Prices: pro, business, and a yearly add-on that buys no tier."""
    pro = price(price_id=pro_price, lookup_key="pro_monthly", metadata={"tier": "pro"},
                unit_amount=1900)
    business = price(price_id=business_price or new_id("price"), lookup_key="business_monthly",
                     metadata={"tier": "business"}, unit_amount=4900)
    addon = price(price_id=new_id("price"), lookup_key="support_yearly", unit_amount=9900,
                  interval="year")
    return pro, business, addon


def journey(c: Customer, api_version: str, start: int, pro: Json, *others: Json) -> Journey:
    """A journey on ``pro`` (the tier the checkout names), created at ``start``."""
    return Journey(c, api_version, plan=pro, prices=others, tier="pro", created=start)


def lifecycle_full(c: Customer, *, pro_price: str, business_price: str | None = None, start: int,
                   api_version: str = API_NEW, portal_cancel: bool = False) -> Scenario:
    """Checkout -> incomplete -> active -> paid -> upgrade -> renewal with proration -> cancel ->
    deleted.

    Final: ``c.subscription`` "canceled" on ``business_price``, current_period_end = cancel_at =
    start + 2 months, cancel_at_period_end True. With ``portal_cancel`` the cancel is expressed
    the flexible-billing / Customer Portal way (``cancel_at`` = period end,
    ``cancel_at_period_end`` False) and the final flag is False.
    """
    pro, business, addon = prices(pro_price, business_price)
    j = journey(c, api_version, start, pro, business, addon)
    sub, invoices = j.subscription_event, j.invoice_events
    p1, p2 = add_interval(start, n=1), add_interval(start, n=2)
    in1, in2 = new_id("in"), new_id("in")
    upgrade, cancel = start + 10 * DAY, p1 + 5 * DAY
    renewal = p1 + 3600
    flag = not portal_cancel
    proration = {"price_id": business["id"], "start": upgrade, "end": p1,
                 "amount": round(3000 * (p1 - upgrade) / (p1 - start))}
    events = [
        j.checkout(start, invoice=in1),
        sub("customer.subscription.created", start, status="incomplete", period=(start, p1),
            latest_invoice=in1),
        sub("customer.subscription.updated", start, period=(start, p1), latest_invoice=in1,
            prev={"status": "incomplete"}),
        *invoices(("invoice.payment_succeeded", "invoice.paid"), start, in1, (start, p1),
                  billing_reason="subscription_create"),
        sub("customer.subscription.updated", upgrade, price=business, period=(start, p1),
            latest_invoice=in1, prev=j.price_change_prev(pro, (start, p1))),
        *invoices(("invoice.paid",), renewal, in2, (p1, p2), price=business, created=p1,
                  automatic=True, proration_lines=[proration]),
        sub("customer.subscription.updated", renewal + 1, price=business, period=(p1, p2),
            latest_invoice=in2, prev=j.period_prev(business, (start, p1), latest_invoice=in1),
            automatic=True),
        sub("customer.subscription.updated", cancel, price=business, period=(p1, p2),
            latest_invoice=in2, cancel_at_period_end=flag, cancel_at=p2, canceled_at=cancel,
            prev={"cancel_at": None, "canceled_at": None, "cancellation_details": {"reason": None},
                  **({"cancel_at_period_end": False} if flag else {})}),
        sub("customer.subscription.deleted", p2, status="canceled", price=business,
            period=(p1, p2), latest_invoice=in2, cancel_at_period_end=flag, cancel_at=p2,
            canceled_at=cancel, automatic=True),
    ]
    return events, expected(c.subscription, "canceled", business["id"], p2, flag, cancel_at=p2)


def _renewal_fails(j: Journey, start: int, in1: str, in2: str) -> list[Json]:
    """Checkout, subscribe and pay ``in1`` at ``start``; a month on, ``in2`` fails: past_due.

    How lifecycle_past_due and lifecycle_paused both begin.
    """
    sub, invoices = j.subscription_event, j.invoice_events
    p1, p2 = add_interval(start, n=1), add_interval(start, n=2)
    failed = p1 + 3600
    return [
        j.checkout(start, invoice=in1),
        sub("customer.subscription.created", start, period=(start, p1), latest_invoice=in1),
        *invoices(("invoice.paid",), start, in1, (start, p1), billing_reason="subscription_create"),
        *invoices(("invoice.payment_failed",), failed, in2, (p1, p2), created=p1, paid=False,
                  automatic=True),
        sub("customer.subscription.updated", failed + 1, status="past_due", period=(p1, p2),
            latest_invoice=in2, automatic=True,
            prev={"status": "active", **j.period_prev(j.plan, (start, p1), latest_invoice=in1)}),
    ]


def lifecycle_past_due(c: Customer, *, pro_price: str, business_price: str | None = None,
                       start: int, api_version: str = API_NEW) -> Scenario:
    """Checkout -> active -> paid -> renewal payment fails -> past_due -> retry succeeds ->
    active.

    Final: ``c.subscription`` "active" on ``pro_price``, current_period_end = start + 2 months,
    not cancelling.
    """
    pro, *others = prices(pro_price, business_price)
    j = journey(c, api_version, start, pro, *others)
    sub, invoices = j.subscription_event, j.invoice_events
    p1, p2 = add_interval(start, n=1), add_interval(start, n=2)
    in1, in2 = new_id("in"), new_id("in")
    retry = p1 + 3 * DAY + 3600
    events = [
        *_renewal_fails(j, start, in1, in2),
        *invoices(("invoice.paid",), retry, in2, (p1, p2), created=p1, attempt_count=2,
                  automatic=True),
        sub("customer.subscription.updated", retry + 1, period=(p1, p2), latest_invoice=in2,
            prev={"status": "past_due"}, automatic=True),
    ]
    return events, expected(c.subscription, "active", pro_price, p2, False)


def lifecycle_trial(c: Customer, *, pro_price: str, business_price: str | None = None,
                    start: int, api_version: str = API_NEW) -> Scenario:
    """Checkout (no payment) -> trialing 14 days with a $0 invoice -> trial ends -> active ->
    first real invoice.

    Final: ``c.subscription`` "active" on ``pro_price``, current_period_end = trial_end +
    1 month (trial_end = start + 14 days), not cancelling.
    """
    pro, *others = prices(pro_price, business_price)
    j = journey(c, api_version, start, pro, *others)
    sub, invoices = j.subscription_event, j.invoice_events
    trial_end = start + 14 * DAY
    p1 = add_interval(trial_end, n=1)
    in0, in1 = new_id("in"), new_id("in")
    events = [
        j.checkout(start, invoice=in0, payment_status="no_payment_required"),
        sub("customer.subscription.created", start, status="trialing", period=(start, trial_end),
            trial_end=trial_end, latest_invoice=in0),
        *invoices(("invoice.paid",), start, in0, (start, trial_end), amount=0,
                  billing_reason="subscription_create"),
        sub("customer.subscription.updated", trial_end, period=(trial_end, p1),
            trial_end=trial_end, latest_invoice=in1, automatic=True,
            prev={"status": "trialing",
                  **j.period_prev(pro, (start, trial_end), latest_invoice=in0)}),
        *invoices(("invoice.paid",), trial_end + 3600, in1, (trial_end, p1), created=trial_end,
                  lookback_start=start, automatic=True),
    ]
    return events, expected(c.subscription, "active", pro_price, p1, False)


def lifecycle_resubscribe(c: Customer, *, pro_price: str, business_price: str | None = None,
                          start: int, api_version: str = API_NEW) -> Scenario:
    """Subscribe, cancel immediately after 5 days, then re-subscribe 20 days after start with a
    NEW subscription id.

    Final (deciding subscription = the second one, ``expected["subscription_id"]``): "active"
    on ``pro_price``, current_period_end = (start + 20 days) + 1 month, not cancelling.
    """
    pro, *others = prices(pro_price, business_price)
    j = journey(c, api_version, start, pro, *others)
    p1 = add_interval(start, n=1)
    deleted, again = start + 5 * DAY, start + 20 * DAY
    again_end = add_interval(again, n=1)
    in1, in2 = new_id("in"), new_id("in")
    second = journey(Customer(c.email, c.external_id, c.customer, new_id("sub"),
                              checkout_session_id()), api_version, again, pro, *others)
    events = [
        j.checkout(start, invoice=in1),
        j.subscription_event("customer.subscription.created", start, period=(start, p1),
                             latest_invoice=in1),
        *j.invoice_events(("invoice.paid",), start, in1, (start, p1),
                          billing_reason="subscription_create"),
        j.subscription_event("customer.subscription.deleted", deleted, status="canceled",
                             period=(start, p1), latest_invoice=in1, canceled_at=deleted),
        second.checkout(again, invoice=in2),
        second.subscription_event("customer.subscription.created", again,
                                  period=(again, again_end), latest_invoice=in2),
        *second.invoice_events(("invoice.paid",), again, in2, (again, again_end),
                               billing_reason="subscription_create"),
    ]
    return events, expected(second.c.subscription, "active", pro_price, again_end, False)


def lifecycle_paused(c: Customer, *, pro_price: str, business_price: str | None = None,
                     start: int, api_version: str = API_NEW, resume: bool = False) -> Scenario:
    """Checkout -> active -> renewal payment fails -> past_due -> paused after the final
    failure -> the customer pays that open invoice: still paused (only a subscription event
    ends a pause).

    Final: ``c.subscription`` "paused" on ``pro_price``, current_period_end = start + 2 months
    (a paused subscription does not advance its period), not cancelling. With ``resume``:
    ``customer.subscription.resumed`` follows and the final status is "active".
    """
    pro, *others = prices(pro_price, business_price)
    j = journey(c, api_version, start, pro, *others)
    sub, invoices = j.subscription_event, j.invoice_events
    p1, p2 = add_interval(start, n=1), add_interval(start, n=2)
    in1, in2 = new_id("in"), new_id("in")
    paused, paid, resumed = p1 + 7 * DAY, p1 + 9 * DAY, p1 + 12 * DAY
    pause: Json = {"status": "paused", "period": (p1, p2), "latest_invoice": in2,
                   "paused_at": paused, "pause_reason": "final_payment_failure"}
    events = [
        *_renewal_fails(j, start, in1, in2),
        sub("customer.subscription.updated", paused, prev={"status": "past_due"},
            automatic=True, **pause),
        sub("customer.subscription.paused", paused, automatic=True, **pause),
        *invoices(("invoice.paid",), paid, in2, (p1, p2), created=p1, attempt_count=4),
    ]
    if resume:
        events += [sub("customer.subscription.resumed", resumed, period=(p1, p2),
                       latest_invoice=in2),
                   sub("customer.subscription.updated", resumed, period=(p1, p2),
                       latest_invoice=in2, prev={"status": "paused"})]
    return events, expected(c.subscription, "active" if resume else "paused", pro_price, p2, False)


def lifecycle_mixed_intervals(c: Customer, *, pro_price: str, business_price: str | None = None,
                              start: int, api_version: str = API_NEW) -> Scenario:
    """A monthly plan with a yearly add-on (flexible billing, basil and later) -> first invoice
    bills both -> monthly renewal bills the plan alone.

    Final: ``c.subscription`` "active" on ``pro_price`` (the add-on buys no tier),
    current_period_end = start + 2 months: the earliest item's end, not the add-on's
    (start + 1 year). Not cancelling.
    """
    pro, business, addon = prices(pro_price, business_price)
    j = journey(c, api_version, start, pro, business, addon)
    sub, invoices = j.subscription_event, j.invoice_events
    p1, p2, y1 = add_interval(start, n=1), add_interval(start, n=2), add_interval(start, "year")
    in1, in2 = new_id("in"), new_id("in")
    renewal = p1 + 3600

    def items(period: tuple[int, int]) -> Json:
        return {"period": period, "extra_prices": [addon], "extra_periods": [(start, y1)]}

    addon_line = {"price_id": addon["id"], "amount": addon["unit_amount"], "start": start,
                  "end": y1}
    events = [
        j.checkout(start, invoice=in1),
        sub("customer.subscription.created", start, latest_invoice=in1, **items((start, p1))),
        *invoices(("invoice.paid",), start, in1, (start, p1), billing_reason="subscription_create",
                  extra_lines=[addon_line]),
        *invoices(("invoice.paid",), renewal, in2, (p1, p2), created=p1, automatic=True),
        sub("customer.subscription.updated", renewal + 1, latest_invoice=in2, automatic=True,
            prev=j.period_prev(pro, (start, p1), latest_invoice=in1), **items((p1, p2))),
    ]
    return events, expected(c.subscription, "active", pro_price, p2, False)


# The lifecycles by name: every table of names in the tests and the benchmark reads this one.
LIFECYCLES: dict[str, Callable[..., Scenario]] = {
    "full": lifecycle_full, "past_due": lifecycle_past_due,
    "trial": lifecycle_trial, "resubscribe": lifecycle_resubscribe,
    "paused": lifecycle_paused, "mixed_intervals": lifecycle_mixed_intervals,
}


def lifecycle(name: str, c: Customer, *, pro_price: str, business_price: str | None = None,
              start: int | None = None, api_version: str = API_NEW) -> Scenario:
    """Lifecycle ``name`` of customer ``c``; it starts 90 days ago unless ``start`` says when."""
    return LIFECYCLES[name](c, pro_price=pro_price, business_price=business_price,
                            start=start if start is not None else now() - 90 * DAY,
                            api_version=api_version)
