"""subsvc.simulate and tests/lifecycles.py: payload shapes per API version, signing, timing."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest
import stripe

from subsvc import simulate as sim
from tests.lifecycles import lifecycle, lifecycle_full, lifecycle_paused, lifecycle_resubscribe

START = 1_735_732_800  # 2025-01-01T12:00:00Z
SECRET = "whsec_test_secret"

CHECKED = ["full", "past_due", "trial", "resubscribe"]  # the lifecycles in both families below
APIS = [sim.API_OLD, sim.API_NEW]


def _sub(api: str, **kw: Any) -> dict[str, Any]:
    return sim.subscription(customer="cus_X", price_id="price_pro", period_start=START,
                            period_end=sim.add_interval(START), api_version=api, **kw)


def _inv(api: str, **kw: Any) -> dict[str, Any]:
    kw.setdefault("period_start", sim.add_interval(START))
    kw.setdefault("period_end", sim.add_interval(START, n=2))
    return sim.invoice(customer="cus_X", subscription="sub_X", price_id="price_pro",
                       api_version=api, **kw)


def test_new_id_shapes() -> None:
    assert re.fullmatch(r"sub_1[A-Za-z0-9]{23}", sim.new_id("sub"))
    assert re.fullmatch(r"evt_1[A-Za-z0-9]{23}", sim.new_id("evt"))
    assert re.fullmatch(r"cus_[A-Za-z0-9]{14}", sim.new_id("cus"))
    assert sim.new_id("sub") != sim.new_id("sub")


def test_add_interval_clamps_month_end() -> None:
    jan31 = 1_738_324_800  # 2025-01-31T12:00:00Z
    assert sim.add_interval(jan31) == 1_740_744_000  # 2025-02-28T12:00:00Z
    assert sim.add_interval(jan31, n=2) == 1_743_422_400  # 2025-03-31T12:00:00Z
    assert sim.add_interval(sim.add_interval(START), n=-1) == START


@pytest.mark.parametrize("payload_type", [bytes, str])
def test_signature_verifies_with_stripe(payload_type: type) -> None:
    ev = sim.event("customer.subscription.created", _sub(sim.API_NEW))
    body = sim.dumps(ev)
    payload = body if payload_type is bytes else body.decode()
    header = sim.sign(payload, SECRET, timestamp=1_700_000_000)
    assert header == stripe.WebhookSignature.generate_signature_header(
        body.decode(), SECRET, 1_700_000_000)
    assert stripe.WebhookSignature.verify_header(payload, header, SECRET)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(payload, header, "whsec_wrong")


def test_signed_request_parses_with_construct_event() -> None:
    ev = sim.event("invoice.paid", _inv(sim.API_NEW))
    body, headers = sim.signed_request(ev, SECRET)
    parsed = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], SECRET)
    assert parsed.id == ev["id"] and parsed.type == "invoice.paid"
    assert json.loads(body) == ev
    assert json.loads(sim.dumps(ev, pretty=True)) == ev


def test_event_envelope() -> None:
    obj = _sub(sim.API_OLD, created=START)
    ev = sim.event("customer.subscription.updated", obj, api_version=sim.API_OLD,
                   previous_attributes={"status": "incomplete"})
    assert ev["object"] == "event" and ev["id"].startswith("evt_") and ev["livemode"] is False
    assert ev["created"] == START and ev["api_version"] == sim.API_OLD
    assert ev["data"] == {"object": obj, "previous_attributes": {"status": "incomplete"}}
    assert ev["data"]["object"] is not obj  # deep-copied
    assert ev["request"]["id"].startswith("req_")
    assert "previous_attributes" not in sim.event("x", obj)["data"]
    assert sim.event("x", obj, automatic=True)["request"] == {"id": None, "idempotency_key": None}


def test_subscription_period_location_by_version() -> None:
    old, new = _sub(sim.API_OLD), _sub(sim.API_NEW)
    end = sim.add_interval(START)
    assert (old["current_period_start"], old["current_period_end"]) == (START, end)
    assert "current_period_end" not in old["items"]["data"][0]
    assert "current_period_end" not in new and "current_period_start" not in new
    item = new["items"]["data"][0]
    assert (item["current_period_start"], item["current_period_end"]) == (START, end)
    for sub in (old, new):
        assert list(sub)[:2] == ["id", "object"] and sub["object"] == "subscription"
        p = sub["items"]["data"][0]["price"]
        assert (p["id"] == "price_pro" and p["object"] == "price"
                and p["recurring"]["interval"] == "month")
        assert p["product"].startswith("prod_")


def test_subscription_options() -> None:
    extra = sim.price(lookup_key="seats", unit_amount=500)
    sub = _sub(sim.API_NEW, lookup_key="pro_monthly", price_metadata={"tier": "pro"},
               extra_prices=[extra], cancel_at_period_end=True,
               cancel_at=sim.add_interval(START), canceled_at=START + 5,
               trial_end=START + 86_400)
    items = sub["items"]["data"]
    assert [i["price"]["id"] for i in items] == ["price_pro", extra["id"]]
    assert (items[0]["price"]["lookup_key"] == "pro_monthly"
            and items[0]["price"]["metadata"] == {"tier": "pro"})
    assert sub["items"]["total_count"] == 2
    assert sub["cancel_at_period_end"] is True and sub["canceled_at"] == START + 5
    assert sub["trial_end"] == START + 86_400 and sub["trial_start"] == sub["created"]
    canceled = _sub(sim.API_NEW, status="canceled", canceled_at=START + 9)
    assert canceled["ended_at"] == START + 9


def test_invoice_subscription_reference_by_version() -> None:
    old, new = _inv(sim.API_OLD), _inv(sim.API_NEW)
    assert old["subscription"] == "sub_X" and old["paid"] is True
    assert "subscription" not in new and "paid" not in new
    assert new["parent"]["type"] == "subscription_details"
    assert new["parent"]["subscription_details"]["subscription"] == "sub_X"
    old_line, new_line = old["lines"]["data"][-1], new["lines"]["data"][-1]
    assert old_line["type"] == "subscription" and old_line["proration"] is False
    assert old_line["price"]["id"] == "price_pro" and old_line["subscription"] == "sub_X"
    for key in ("type", "proration", "price", "subscription"):
        assert key not in new_line
    details = new_line["parent"]["subscription_item_details"]
    assert new_line["parent"]["type"] == "subscription_item_details"
    assert details["proration"] is False and details["subscription"] == "sub_X"
    assert details["subscription_item"].startswith("si_")
    assert new_line["pricing"]["price_details"]["price"] == "price_pro"


def test_renewal_invoice_period_looks_back() -> None:
    p1, p2 = sim.add_interval(START), sim.add_interval(START, n=2)
    for api in APIS:
        inv = _inv(api, period_start=p1, period_end=p2)
        assert inv["lines"]["data"][-1]["period"] == {"start": p1, "end": p2}
        assert (inv["period_start"], inv["period_end"]) == (START, p1)
        first = _inv(api, period_start=START, period_end=p1, billing_reason="subscription_create",
                     created=START)
        assert first["period_start"] == first["period_end"] == START


def test_proration_lines_keep_order_and_periods() -> None:
    p1, p2 = sim.add_interval(START), sim.add_interval(START, n=2)
    prorations = [
        {"price_id": "price_biz", "amount": 1500, "start": START + 10 * 86_400, "end": p1},
        {"price_id": "price_biz", "amount": 700, "start": p1, "end": p2 + 86_400}]
    for api in APIS:
        lines = _inv(api, period_start=p1, period_end=p2,
                     proration_lines=prorations)["lines"]["data"]
        assert [ln["period"]["end"] for ln in lines] == [p1, p2 + 86_400, p2]
        if api == sim.API_OLD:
            assert [(ln["type"], ln["proration"]) for ln in lines] == [
                ("invoiceitem", True), ("invoiceitem", True), ("subscription", False)]
        else:
            flags = [ln["parent"]["subscription_item_details"]["proration"] for ln in lines]
            assert flags == [True, True, False]


def test_unpaid_invoice() -> None:
    for api in APIS:
        inv = _inv(api, paid=False)
        assert inv["status"] == "open" and inv["attempted"] is True and inv["amount_paid"] == 0
        assert inv["next_payment_attempt"] > inv["created"]
    assert _inv(sim.API_OLD, paid=False)["paid"] is False


def test_checkout_session_modes() -> None:
    cs = sim.checkout_session(customer="cus_X", subscription="sub_X", email="a@example.com",
                              tier="pro", client_reference_id="user_1")
    assert (cs["id"].startswith("cs_test_") and cs["status"] == "complete"
            and cs["mode"] == "subscription")
    assert cs["metadata"] == {"tier": "pro"} and cs["subscription"] == "sub_X"
    assert cs["customer_details"]["email"] == cs["customer_email"] == "a@example.com"
    pay = sim.checkout_session(customer="cus_X", subscription="sub_X", mode="payment")
    assert (pay["subscription"] is None and pay["payment_intent"].startswith("pi_")
            and pay["metadata"] == {})


def test_customer_make() -> None:
    c = sim.Customer.make(7)
    assert (c.email, c.external_id) == ("user7@example.com", "user_7")
    assert (c.customer.startswith("cus_") and c.subscription.startswith("sub_")
            and c.session.startswith("cs_"))


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("name", CHECKED)
def test_lifecycle_ordering_and_expectations(name: str, api: str) -> None:
    c = sim.Customer.make(name)
    events, expected = lifecycle(name, c, pro_price="price_pro", business_price="price_biz",
                                 start=START, api_version=api)
    created = [e["created"] for e in events]
    assert created == sorted(created), "created must never go backwards"
    assert created[0] == START and created[-1] > START
    assert len({e["id"] for e in events}) == len(events)
    assert all(e["api_version"] == api for e in events)
    assert events[0]["type"] == "checkout.session.completed"
    assert events[0]["data"]["object"]["client_reference_id"] == c.external_id
    json.loads(b"[" + b",".join(sim.dumps(e) for e in events) + b"]")

    # The checkout, subscription.created and first invoice share one second.
    first_sub = next(e for e in events if e["type"] == "customer.subscription.created")
    first_inv = next(e for e in events if e["type"].startswith("invoice."))
    assert first_sub["created"] == first_inv["created"] == START

    subs = [e["data"]["object"] for e in events if e["data"]["object"]["object"] == "subscription"]
    for s in subs:
        assert ("current_period_end" in s) is (api == sim.API_OLD)
    last = [s for s in subs if s["id"] == expected["subscription_id"]][-1]
    period_end = (last["current_period_end"] if api == sim.API_OLD
                  else last["items"]["data"][0]["current_period_end"])
    assert (last["status"], last["items"]["data"][0]["price"]["id"], period_end,
            last["cancel_at_period_end"]) == (
        expected["status"], expected["price_id"], expected["current_period_end"],
        expected["cancel_at_period_end"])


def test_full_lifecycle_details() -> None:
    c = sim.Customer.make(1)
    events, expected = lifecycle_full(c, pro_price="price_pro", business_price="price_biz",
                                      start=START)
    assert [e["type"] for e in events] == [
        "checkout.session.completed", "customer.subscription.created",
        "customer.subscription.updated", "invoice.payment_succeeded", "invoice.paid",
        "customer.subscription.updated", "invoice.paid", "customer.subscription.updated",
        "customer.subscription.updated", "customer.subscription.deleted"]
    assert len({e["created"] for e in events[:5]}) == 1
    later = [e["created"] for e in events[4:]]
    assert all(a < b for a, b in itertools.pairwise(later))
    assert events[1]["data"]["object"]["status"] == "incomplete"
    upgrade = events[5]["data"]
    assert upgrade["previous_attributes"]["items"]["data"][0]["price"]["id"] == "price_pro"
    renewal = events[6]["data"]["object"]
    proration, plan_line = renewal["lines"]["data"]
    assert proration["parent"]["subscription_item_details"]["proration"] is True
    assert proration["period"]["end"] < plan_line["period"]["end"] == expected["current_period_end"]
    assert renewal["period_end"] == plan_line["period"]["start"]
    assert events[-1]["data"]["object"]["ended_at"] == expected["current_period_end"]
    assert events[8]["data"]["previous_attributes"]["cancel_at_period_end"] is False
    portal_events, portal = lifecycle_full(c, pro_price="price_pro", business_price="price_biz",
                                           start=START, portal_cancel=True)
    assert portal["cancel_at_period_end"] is False
    cancel = portal_events[8]["data"]
    assert cancel["object"]["cancel_at"] == portal["current_period_end"]
    assert "cancel_at_period_end" not in cancel["previous_attributes"]


def test_resubscribe_uses_new_subscription() -> None:
    c = sim.Customer.make(2)
    events, expected = lifecycle_resubscribe(c, pro_price="price_pro", start=START)
    assert expected["subscription_id"] != c.subscription
    sessions = [e["data"]["object"] for e in events if e["type"] == "checkout.session.completed"]
    assert [s["subscription"] for s in sessions] == [c.subscription, expected["subscription_id"]]
    assert (sessions[0]["id"] != sessions[1]["id"]
            and {s["customer"] for s in sessions} == {c.customer})


def test_lifecycle_by_name() -> None:
    c = sim.Customer.make(3)
    events, expected = lifecycle("trial", c, pro_price="price_pro", start=START)
    assert expected["status"] == "active" and events[1]["data"]["object"]["status"] == "trialing"
    assert events[0]["data"]["object"]["payment_status"] == "no_payment_required"


# --- the legacy and endive families, flexible billing, partial payments (issue 8) ----------------

def _model_fields(cls: type) -> set[str]:
    return {name for klass in cls.__mro__ for name in getattr(klass, "__annotations__", {})}


def test_legacy_subscription_carries_its_plan_and_no_items() -> None:
    sub = _sub(sim.API_LEGACY)
    assert "items" not in sub and (sub["plan"]["id"], sub["plan"]["object"], sub["quantity"]) == (
        "price_pro", "plan", 1)
    assert sub["current_period_end"] == sim.add_interval(START)
    ev = sim.event("customer.subscription.created", sub, api_version=sim.API_LEGACY)
    assert isinstance(ev["request"], str) and ev["request"].startswith("req_")


def test_legacy_invoice_has_no_status_and_its_lines_name_plans() -> None:
    for paid in (True, False):
        inv = _inv(sim.API_LEGACY, paid=paid)
        assert "status" not in inv and (inv["paid"], inv["closed"], inv["subscription"]) == (
            paid, paid, "sub_X")
        [line] = inv["lines"]["data"]
        assert (line["type"], line["plan"]["id"], line["proration"]) == (
            "subscription", "price_pro", False)
        assert "price" not in line


@pytest.mark.parametrize("name", ["full", "paused", "mixed_intervals"])
def test_endive_objects_use_only_fields_of_the_stripe_library_models(name: str) -> None:
    """stripe-python 16.x pins 2026-10-28.endive: its models list every field of that version."""
    models: dict[str, type] = {"subscription": stripe.Subscription, "invoice": stripe.Invoice,
                               "checkout.session": stripe.checkout.Session}
    c = sim.Customer.make(name, accounts_v2=True)
    events, _ = lifecycle(name, c, pro_price="price_pro", start=START, api_version=sim.API_ENDIVE)
    for ev in events:
        assert set(ev) <= _model_fields(stripe.Event)
        obj = ev["data"]["object"]
        assert set(obj) <= _model_fields(models[obj["object"]]), obj["object"]
        assert (obj["customer"], obj["customer_account"]) == (None, c.customer)
        for item in obj.get("items", {}).get("data", []):
            assert set(item) <= _model_fields(stripe.SubscriptionItem)
        for line in obj.get("lines", {}).get("data", []):
            assert set(line) <= _model_fields(stripe.InvoiceLineItem)


def test_endive_subscription_fields() -> None:
    active = _sub(sim.API_ENDIVE)
    assert active["customer_account"] is None and active["customer"] == "cus_X"
    assert active["billing_mode"]["type"] == "flexible" and active["status_details"] is None
    paused = _sub(sim.API_ENDIVE, status="paused", paused_at=START + 9,
                  pause_reason="final_payment_failure")
    assert paused["status_details"] == {"paused": {
        "subscription": {"type": "final_payment_failure"},
        "transitioned_at": START + 9, "type": "subscription"}}
    for api in (sim.API_OLD, sim.API_NEW):
        assert "customer_account" not in _sub(api) and "billing_mode" not in _sub(api)


def test_mixed_interval_items_and_lines() -> None:
    year = sim.add_interval(START, "year")
    yearly = sim.price(price_id="price_yearly", interval="year")
    sub = _sub(sim.API_NEW, extra_prices=[yearly], extra_periods=[(START, year)])
    assert [i["current_period_end"] for i in sub["items"]["data"]] == [
        sim.add_interval(START), year]
    inv = _inv(sim.API_NEW, extra_lines=[{"price_id": "price_yearly", "amount": 9900,
                                          "start": START, "end": year}])
    assert [ln["period"]["end"] for ln in inv["lines"]["data"]] == [
        sim.add_interval(START, n=2), year]
    assert inv["total"] == 1900 + 9900


def test_partial_payment_leaves_the_invoice_open() -> None:
    inv = _inv(sim.API_NEW, paid=False, amount_paid=500)
    assert (inv["status"], inv["amount_due"], inv["amount_paid"], inv["amount_remaining"]) == (
        "open", 1900, 500, 1400)


@pytest.mark.parametrize("api", [sim.API_OLD, sim.API_NEW, sim.API_ENDIVE])
def test_paused_lifecycle(api: str) -> None:
    c = sim.Customer.make(4)
    events, expected = lifecycle_paused(c, pro_price="price_pro", start=START, api_version=api,
                                        resume=True)
    created = [e["created"] for e in events]
    assert created == sorted(created) and expected["status"] == "active"
    kinds = [(e["type"], e["data"]["object"]["status"]) for e in events]
    assert ("customer.subscription.paused", "paused") in kinds and kinds[-2] == (
        "customer.subscription.resumed", "active")
    failed, paid = (e["data"]["object"] for e in events
                    if e["data"]["object"]["object"] == "invoice"
                    and e["data"]["object"]["billing_reason"] == "subscription_cycle")
    assert failed["id"] == paid["id"]  # the customer pays the very invoice that failed
    assert events[-3]["created"] > events[6]["created"]  # ... after the pause
    _, final = lifecycle_paused(c, pro_price="price_pro", start=START, api_version=api)
    assert final["status"] == "paused"
