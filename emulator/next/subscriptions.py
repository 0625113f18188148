"""29 Next subscriptions: the `SubscriptionDetail` JSON, its schedule, and creating it from an approved order.

Why subscriptions come from orders: for Klarna, `POST /subscriptions/` accepts only card tokens, so the only
way to start one is a `subscription` object (`interval`, `interval_count`, optional `price`) on an order line;
the platform creates the subscription once the initial order succeeds. Lines that share a schedule share a
subscription (one renewal order per schedule). The initial order is billing cycle 0.

Dates: the next renewal is the creation time plus interval x count, by the emulator clock; months and years
are calendar months (31 Jan + 1 month = 28/29 Feb), as a merchant's dashboard counts them.
"""
from __future__ import annotations

import calendar
import copy
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from .orders import money
from .provider import NextProvider

DAYS = {"day": 1, "week": 7}


class ScheduleOutOfRange(ValueError):
    """interval x interval_count reaches past the calendar (the spec allows counts up to 2**31 - 1)."""


def add_interval(start: datetime, interval: str, count: int) -> datetime:
    """start + count intervals, months by the calendar. Raises ScheduleOutOfRange when that date does not
    exist (year 10000 and on): the platform answers such a schedule with a validation error."""
    try:
        if interval in DAYS:
            return start + timedelta(days=DAYS[interval] * count)
        months = count * (12 if interval == "year" else 1)
        month_index = start.month - 1 + months
        year, month = start.year + month_index // 12, month_index % 12 + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        return start.replace(year=year, month=month, day=day)
    except (OverflowError, ValueError):
        raise ScheduleOutOfRange(f"every {count} {interval}s puts the next renewal past the calendar") from None


def frequency(interval: str, count: int) -> str:
    """The read-only display string, e.g. "Every month", "Every 3 months"."""
    return f"Every {interval}" if count == 1 else f"Every {count} {interval}s"


def parse_datetime(value: str) -> datetime:
    """ISO 8601 with or without an offset; a naive time is taken as UTC (the emulated store's zone)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def refresh(subscription: dict) -> None:
    """Recompute the derived fields after a change: counts, total (lines x quantities + shipping), frequency."""
    lines = subscription["lines"]
    subtotal = sum(Decimal(line["price"]) * line["quantity"] for line in lines)
    subscription["total"] = money(subtotal + Decimal(subscription["shipping_price"]))
    subscription["num_lines"] = len(lines)
    subscription["num_orders"] = len(subscription["orders"])
    subscription["frequency"] = frequency(subscription["interval"], subscription["interval_count"])


def create_from_order(provider: NextProvider, data: dict, number: str) -> list[dict]:
    """Create one subscription per distinct (interval, interval_count) among the order's subscription lines.

    Call with the state lock held, right after the order was stored: fills the stored order's
    `subscriptions` with `{id, billing_cycle: 0}` and returns copies of the new subscriptions.
    """
    state = provider.state
    order = state.orders[number]
    groups: dict[tuple[str, int], list[tuple[dict, dict]]] = {}
    for wire_line, order_line in zip(data["lines"], order["lines"]):
        plan = wire_line.get("subscription")
        if plan:
            groups.setdefault((plan["interval"], plan["interval_count"]), []).append((wire_line, order_line))
    created = []
    now = provider.now()
    for (interval, count), lines in groups.items():
        subscription = _build(provider, order, interval=interval, count=count, lines=lines, now=now)
        state.subscriptions[subscription["id"]] = subscription
        order["subscriptions"].append({"id": subscription["id"], "billing_cycle": 0})
        created.append(copy.deepcopy(subscription))
    return created


def _build(provider: NextProvider, order: dict, *, interval: str, count: int, lines: list[tuple[dict, dict]],
           now: datetime) -> dict:
    state = provider.state
    subscription = {
        "id": state.next_id("subscription"), "status": "active", "interval": interval, "interval_count": count,
        "frequency": "", "next_renewal_date": iso(add_interval(now, interval, count)),
        "lines": [_line(state.next_id("subscription_line"), wire, line) for wire, line in lines],
        "orders": [{"order_number": order["number"], "billing_cycle": 0}], "num_orders": 0, "num_lines": 0,
        "total": "0.00", "currency": order["currency"], "shipping_code": order["shipping_code"],
        # every renewal is its own shipment, so each subscription carries the order's shipping price
        "shipping_price": order["shipping_incl_tax"], "payment_method": "klarna", "payment_details": {},
        "user": copy.deepcopy(order["user"]), "shipping_address": copy.deepcopy(order["shipping_address"]),
        "billing_address": copy.deepcopy(order["billing_address"]),
        # the spec's cancel_reason is a non-null string: blank until canceled, as a blank CharField reads
        "attribution": copy.deepcopy(order["attribution"]), "cancel_reason": "",
        "cancel_reason_other_message": "", "is_test": True, "date_created": iso(now),
    }
    refresh(subscription)
    return subscription


def _line(line_id: int, wire: dict, line: dict) -> dict:
    """A subscription line: the order line's product, at the subscription price if one was given (unit)."""
    price = wire["subscription"].get("price") or wire["price"]
    return {
        "id": line_id, "product_id": line["product_id"], "variant_id": line["variant_id"], "sku": line["sku"],
        "product_title": line["product_title"], "variant_title": line["variant_title"],
        "product_image": line["product_image"], "product_url": line["product_url"], "price": money(price),
        "quantity": line["quantity"], "metadata": copy.deepcopy(line["metadata"]),
    }


def renewal_order_data(subscription: dict) -> dict:
    """A CreateOrder-shaped body for `orders.build_order`: the subscription's lines, prices and addresses."""
    return {
        "lines": [{"product_id": line["product_id"], "quantity": line["quantity"], "price": line["price"],
                   "metadata": copy.deepcopy(line["metadata"]), "is_upsell": False}
                  for line in subscription["lines"]],
        "currency": subscription["currency"], "shipping_price": subscription["shipping_price"],
        "shipping_code": subscription["shipping_code"], "user": copy.deepcopy(subscription["user"]),
        "shipping_address": copy.deepcopy(subscription["shipping_address"]),
        "billing_address": copy.deepcopy(subscription["billing_address"]),
        "attribution": copy.deepcopy(subscription["attribution"]), "metadata": {}, "tags": [],
    }
