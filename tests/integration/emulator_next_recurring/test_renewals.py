"""29 Next emulator, recurring side: renewals driven by the emulator clock, declines, dunning (`/retry/`) and
scripted outcomes."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest

from tests.integration.emulator_next_recurring.helpers import (
    MONTHLY,
    SESSION,
    call,
    monthly_subscription,
    ok,
    parse,
    place_order,
    plus_month,
    types,
)


# --- the clock and renewals ----------------------------------------------------------------
def test_clock_advance_renews_due_subscriptions(emulator, receiver):
    subscription = monthly_subscription(emulator)
    before = parse(emulator.clock_now())
    assert emulator.advance_clock(days=1)["renewals"] == []
    answer = emulator.advance_clock(days=31)
    assert parse(answer["now"]) - before >= timedelta(days=32)
    assert answer["renewals"] == [{"subscription_id": 1, "billing_cycle": 1, "outcome": "paid",
                                   "order_number": "100002"}]
    renewed = ok(call(emulator, "GET", "/subscriptions/1/"))
    assert renewed["status"] == "active" and renewed["num_orders"] == 2
    assert renewed["orders"] == [{"order_number": "100001", "billing_cycle": 0},
                                 {"order_number": "100002", "billing_cycle": 1}]
    assert parse(renewed["next_renewal_date"]) == plus_month(parse(subscription["next_renewal_date"]))
    order = ok(call(emulator, "GET", "/orders/100002/"))
    assert (order["source"], order["payment_status"], order["subscriptions"]) == \
        ("subscription", "paid", [{"id": 1, "billing_cycle": 1}])
    assert [(l["product_id"], l["quantity"], l["price_incl_tax"]) for l in order["lines"]] == [(11, 2, "35.00")]
    assert (order["total_incl_tax"], order["shipping_incl_tax"], order["metadata"], order["tags"]) == \
        ("39.95", "4.95", {}, [])
    [transaction] = order["transactions"]
    assert (transaction["type"], transaction["status"], transaction["amount"]) == ("debit", "succeeded", "39.95")
    assert parse(order["date_placed"]) >= before + timedelta(days=32)  # written with the emulator clock
    events = receiver.events()[3:]
    assert [e["event_type"] for e in events] == ["order.created", "transaction.created", "subscription.updated"]
    assert events[0]["data"] == order
    assert events[1]["data"]["order"] == "100002" and events[1]["data"]["subscription"] == {"id": 1, "billing_cycle": 1}
    assert events[2]["data"] == renewed
    assert ok(call(emulator, "GET", "/orders/?sources=subscription"))["results"][0]["number"] == "100002"
    emulator.reset()
    assert abs(parse(emulator.clock_now()) - before) < timedelta(minutes=1)


def test_advance_over_several_periods_renews_each_cycle(emulator):
    place_order(emulator, lines=[{"product_id": 1, "quantity": 1, "price": "3.00",
                                  "subscription": {"interval": "week", "interval_count": 1}}])
    renewals = emulator.advance_clock(days=22)["renewals"]
    assert [(r["billing_cycle"], r["outcome"]) for r in renewals] == [(1, "paid"), (2, "paid"), (3, "paid")]
    assert ok(call(emulator, "GET", "/subscriptions/1/"))["num_orders"] == 4


def test_clock_advance_validation(emulator):
    for body in ({"seconds": -1}, {"days": "two"}):
        response = SESSION.post(f"{emulator.url}/_emulator/clock/advance", json=body, timeout=5)
        assert response.status_code == 400


def test_declined_renewal_goes_past_due_and_retry_recovers_it(emulator, receiver):
    subscription = monthly_subscription(emulator)
    assert emulator.script_renewals(1, "decline") == {"renewal": ["decline"]}
    answer = emulator.advance_clock(days=32)
    assert answer["renewals"] == [{"subscription_id": 1, "billing_cycle": 1, "outcome": "declined",
                                   "order_number": None}]
    past_due = ok(call(emulator, "GET", "/subscriptions/1/"))
    assert past_due["status"] == "past_due" and past_due["num_orders"] == 1
    assert past_due["next_renewal_date"] == subscription["next_renewal_date"]
    failed, updated = receiver.events()[3:]
    assert (failed["event_type"], updated["event_type"]) == ("transaction.created", "subscription.updated")
    assert (failed["data"]["status"], failed["data"]["order"], failed["data"]["amount"]) == ("failed", None, "39.95")
    assert failed["data"]["subscription"] == {"id": 1, "billing_cycle": 1} and updated["data"] == past_due
    assert emulator.advance_clock(days=40)["renewals"] == []  # dunning is the merchant's job
    renew = call(emulator, "POST", "/subscriptions/1/renew/")
    assert renew.status_code == 400 and renew.json() == {"detail": "Only active subscriptions can be renewed."}

    emulator.script_renewals(1, "decline")
    assert ok(call(emulator, "POST", "/subscriptions/1/retry/", {}))["status"] == "past_due"
    assert types(receiver)[5:] == ["transaction.created"]  # nothing changed on the subscription
    bad = call(emulator, "POST", "/subscriptions/1/retry/", {"payment_gateway": 99})
    assert bad.status_code == 400 and bad.json() == {"payment_gateway": ['Invalid pk "99" - object does not exist.']}
    recovered = ok(call(emulator, "POST", "/subscriptions/1/retry/", {"payment_gateway": 1}))
    now = parse(emulator.clock_now())
    assert recovered["status"] == "active" and recovered["orders"][-1] == {"order_number": "100002",
                                                                         "billing_cycle": 1}
    assert abs(parse(recovered["next_renewal_date"]) - plus_month(now)) < timedelta(minutes=1)
    assert types(receiver)[6:] == ["order.created", "transaction.created", "subscription.updated"]
    again = call(emulator, "POST", "/subscriptions/1/retry/")
    assert again.status_code == 400 and again.json() == {"detail": "Only past due subscriptions can be retried."}


def test_renew_now_and_config_and_persona_declines(emulator):
    monthly_subscription(emulator)
    renewed = ok(call(emulator, "POST", "/subscriptions/1/renew/"))
    now = parse(emulator.clock_now())
    assert renewed["num_orders"] == 2 and renewed["status"] == "active"
    assert abs(parse(renewed["next_renewal_date"]) - plus_month(now)) < timedelta(minutes=1)
    emulator.control("PATCH", "/_emulator/config", {"next": {"renewal_outcome": "decline"}})
    assert ok(call(emulator, "POST", "/subscriptions/1/renew/"))["status"] == "past_due"
    emulator.control("PATCH", "/_emulator/config", {"next": {"renewal_outcome": "approve"}})
    place_order(emulator, email="ada+renewal-declined@example.com",
                lines=[{"product_id": 2, "quantity": 1, "price": "4.00", "subscription": MONTHLY}])
    assert ok(call(emulator, "POST", "/subscriptions/2/renew/"))["status"] == "past_due"
    emulator.script_renewals(2, "approve")  # a scripted outcome wins over the persona
    assert ok(call(emulator, "POST", "/subscriptions/2/retry/"))["status"] == "active"
    assert call(emulator, "POST", "/subscriptions/99/renew/").json() == {"detail": "Not found."}
    assert call(emulator, "GET", "/subscriptions/99/").status_code == 404


def test_next_renewal_date_in_the_past_is_renewed_by_the_ticker_and_by_advance(emulator):
    monthly_subscription(emulator)
    past = (parse(emulator.clock_now()) - timedelta(hours=1)).isoformat()
    ok(call(emulator, "PATCH", "/subscriptions/1/", {"next_renewal_date": past}))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and ok(call(emulator, "GET", "/subscriptions/1/"))["num_orders"] < 2:
        time.sleep(0.1)  # nobody calls the clock: the background ticker renews it
    renewed = ok(call(emulator, "GET", "/subscriptions/1/"))
    # a missed date gets one attempt and the next date counts from the attempt, not from the missed date
    assert renewed["num_orders"] == 2
    assert abs(parse(renewed["next_renewal_date"]) - plus_month(parse(emulator.clock_now()))) < timedelta(minutes=1)
    ok(call(emulator, "PATCH", "/subscriptions/1/", {"next_renewal_date": past}))
    emulator.advance_clock(seconds=0)  # either the ticker got there first or the advance did it
    assert ok(call(emulator, "GET", "/subscriptions/1/"))["num_orders"] == 3


def test_a_date_years_in_the_past_is_renewed_once_without_stalling_the_server(emulator):
    """Issue 10: catching up every missed weekly cycle of 20 years held the state lock for seconds."""
    place_order(emulator, lines=[{"product_id": 1, "quantity": 1, "price": "3.00",
                                  "subscription": {"interval": "week", "interval_count": 1}}])
    long_ago = (parse(emulator.clock_now()) - timedelta(days=365 * 20)).isoformat()
    ok(call(emulator, "PATCH", "/subscriptions/1/", {"next_renewal_date": long_ago}))
    renewals = emulator.advance_clock(seconds=1)["renewals"]
    started = time.monotonic()
    subscription = ok(call(emulator, "GET", "/subscriptions/1/"))
    assert time.monotonic() - started < 1
    assert [r["billing_cycle"] for r in renewals] in ([1], [])  # [] when the ticker got there first
    assert subscription["num_orders"] == 2
    expected = parse(emulator.clock_now()) + timedelta(weeks=1)
    assert abs(parse(subscription["next_renewal_date"]) - expected) < timedelta(minutes=1)


def test_scenario_control_validation(emulator):
    monthly_subscription(emulator)
    for path, body in [("/_emulator/next/subscriptions/1/scenario", {"renewal": "maybe"}),
                       ("/_emulator/next/subscriptions/1/scenario", {"renewal": "decline", "times": 0}),
                       ("/_emulator/next/orders/100001/scenario", {"upsell": "nope"})]:
        assert SESSION.post(f"{emulator.url}{path}", json=body, timeout=5).status_code == 400
    assert SESSION.post(f"{emulator.url}/_emulator/next/subscriptions/7/scenario", json={"renewal": "decline"},
                        timeout=5).status_code == 404
    assert emulator.script_upsells("100001", "decline", times=2) == {"upsell": ["decline", "decline"]}
    with pytest.raises(RuntimeError, match="must be one of"):
        emulator.control("PATCH", "/_emulator/config", {"next": {"upsell_outcome": "maybe"}})
