"""Subscription renewals: charging the stored Klarna method for the next billing cycle.

Three ways in: the clock (every active subscription whose `next_renewal_date` has passed, on each tick and
after each `POST /_emulator/clock/advance`), `POST /subscriptions/{id}/renew/` (now, status must be active)
and `POST /subscriptions/{id}/retry/` (dunning of a past_due subscription, chosen by the merchant).

Catch-up: a date that became due since the clock's previous run is on schedule, and the next date counts from
it, so moving the clock over several periods renews each cycle as if that time had passed. A date that was
already past at the previous run (a PATCH to a past date, or a clock started late) gets one attempt, and the
next date counts from now: the platform renews a missed date once, it does not charge every missed cycle.

Approved: a new Order (source "subscription", `subscriptions: [{id, billing_cycle}]`, one debit), the cycle
appended to the subscription, the next date one interval on, webhooks `order.created`, `transaction.created`
(with `subscription`) and `subscription.updated`. Declined: no order, status past_due, the date unchanged,
webhooks `transaction.created` (failed, `order` null) and `subscription.updated`. The platform does not retry
on its own here: a past_due subscription waits for the merchant's `/retry/` (docs are silent; see README).

Exactly once: each charge re-checks status and date and charges under the state lock, so the ticker, an
advance and a `/renew/` call can never charge the same cycle twice. The lock is taken once per charge, never
across a whole run, so API calls go on while a long catch-up runs. Webhooks are queued after the lock is
released, because a synchronous delivery may call back into the API.
"""
from __future__ import annotations

import copy
import heapq
from datetime import datetime

from .events import queue_events
from .orders import build_order, failed_transaction_resource, transaction_resource
from .outcomes import APPROVE, charge_outcome
from .provider import NextProvider
from .subscriptions import ScheduleOutOfRange, add_interval, iso, parse_datetime, refresh, renewal_order_data

MAX_CYCLES_PER_RUN = 1000  # one subscription's cycles per run: a daily plan and a clock moved years ahead
RENEWABLE = ("active",)
RETRYABLE = ("past_due", "retrying")

Event = tuple[str, str, dict]


class RenewalRefused(ValueError):
    """The subscription is not in a state that allows this (message is the API's `detail`)."""


def process_due(provider: NextProvider) -> list[dict]:
    """The clock job: renew every active subscription that is due, in date order (then id)."""
    state = provider.state
    with state.lock:
        now = provider.now()
        previous_run = state.renewals_checked_at or now
        state.renewals_checked_at = now
        queue = [(parse_datetime(s["next_renewal_date"]), s["id"]) for s in state.subscriptions.values()
                 if _is_due(s, now)]
    heapq.heapify(queue)
    results: list[dict] = []
    cycles: dict[int, int] = {}
    while queue:
        scheduled, subscription_id = heapq.heappop(queue)
        with state.lock:
            subscription = state.subscriptions.get(subscription_id)
            if subscription is None or not _is_due(subscription, now) \
                    or parse_datetime(subscription["next_renewal_date"]) != scheduled:
                continue  # renewed, canceled, rescheduled or reset since the queue was built
            base = scheduled if scheduled > previous_run else now  # on schedule, or one attempt for a past date
            try:
                result, events = _charge(provider, subscription, base=base)
            except RenewalRefused:
                continue  # a schedule past the calendar (refused at the API; kept from an old state)
            following = subscription["next_renewal_date"]
        queue_events(provider, events)
        results.append(result)
        cycles[subscription_id] = cycles.get(subscription_id, 0) + 1
        if following and cycles[subscription_id] < MAX_CYCLES_PER_RUN and parse_datetime(following) <= now:
            heapq.heappush(queue, (parse_datetime(following), subscription_id))
    return results


def renew_now(provider: NextProvider, subscription_id: int) -> dict | None:
    """`/renew/`: charge the next cycle now; the next date is one interval from now. None = unknown id."""
    return _run(provider, subscription_id, allowed=RENEWABLE,
                refusal="Only active subscriptions can be renewed.")


def retry(provider: NextProvider, subscription_id: int) -> dict | None:
    """`/retry/`: one more attempt at the failed cycle; approved = active again, next date from now."""
    return _run(provider, subscription_id, allowed=RETRYABLE,
                refusal="Only past due subscriptions can be retried.")


def _run(provider: NextProvider, subscription_id: int, *, allowed: tuple, refusal: str) -> dict | None:
    state = provider.state
    with state.lock:
        subscription = state.subscriptions.get(subscription_id)
        if subscription is None:
            return None
        if subscription["status"] not in allowed:
            raise RenewalRefused(refusal)
        _, events = _charge(provider, subscription, base=provider.now())
        answer = copy.deepcopy(subscription)
    queue_events(provider, events)
    return answer


def _is_due(subscription: dict, now: datetime) -> bool:
    date = subscription["next_renewal_date"]
    return subscription["status"] in RENEWABLE and date is not None and parse_datetime(date) <= now


def _charge(provider: NextProvider, subscription: dict, *, base: datetime) -> tuple[dict, list[Event]]:
    """One renewal attempt for the next billing cycle (state lock held). `base` + interval = next date."""
    # The next date first: a schedule past the calendar refuses the renewal before anything changes.
    try:
        next_date = add_interval(base, subscription["interval"], subscription["interval_count"])
    except ScheduleOutOfRange as exc:
        raise RenewalRefused(str(exc)) from None
    cycle = max((o["billing_cycle"] for o in subscription["orders"]), default=-1) + 1
    link = {"id": subscription["id"], "billing_cycle": cycle}
    outcome = charge_outcome(provider, kind="renewal", key=subscription["id"],
                             email=subscription["user"].get("email"))
    before = copy.deepcopy(subscription)
    events: list[Event] = []
    if outcome == APPROVE:
        order = _renewal_order(provider, subscription, cycle)
        subscription["orders"].append({"order_number": order["number"], "billing_cycle": cycle})
        subscription["status"] = "active"
        subscription["next_renewal_date"] = iso(next_date)
        refresh(subscription)
        events += [("order.created", "order", copy.deepcopy(order)),
                   ("transaction.created", "transaction", transaction_resource(order, order["transactions"][0],
                                                                               link))]
        result = {"subscription_id": subscription["id"], "billing_cycle": cycle, "outcome": "paid",
                  "order_number": order["number"]}
    else:
        subscription["status"] = "past_due"
        events.append(("transaction.created", "transaction", failed_transaction_resource(
            transaction_id=provider.state.next_id("transaction"), amount=subscription["total"],
            currency=subscription["currency"], order_number=None, user=subscription["user"],
            attribution=subscription["attribution"], subscription=link, now=provider.now_iso())))
        result = {"subscription_id": subscription["id"], "billing_cycle": cycle, "outcome": "declined",
                  "order_number": None}
    if subscription != before:
        events.append(("subscription.updated", "subscription", copy.deepcopy(subscription)))
    return result, events


def _renewal_order(provider: NextProvider, subscription: dict, cycle: int) -> dict:
    """Store and return the renewal Order: the subscription's lines at their prices, paid by one debit."""
    state = provider.state
    data = renewal_order_data(subscription)
    number = str(state.next_id("order"))
    ids = {
        "user": subscription["user"]["id"], "lines": [state.next_id("line") for _ in data["lines"]],
        "shipping_address": state.next_id("address"), "billing_address": state.next_id("address"),
        "transaction": state.next_id("transaction"),
    }
    order = build_order(data, number=number, ids=ids, payment_status="paid", now=provider.now_iso(),
                        public_url=provider.public_url)
    for order_line, line in zip(order["lines"], subscription["lines"]):
        for key in ("variant_id", "sku", "product_title", "variant_title", "product_image", "product_url"):
            order_line[key] = line[key]
    order.update(source="subscription", subscription_lifecycle="recurring",
                 subscriptions=[{"id": subscription["id"], "billing_cycle": cycle}])
    state.orders[number] = order
    return order
