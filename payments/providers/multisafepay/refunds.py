"""A Klarna refund of an amount, expressed the only way MultiSafepay takes one: as cart lines.

MultiSafepay computes a BNPL refund from `checkout_data.items` = every original item unchanged, then
refund lines that copy an original item with a negative `unit_price` (spec `refundBNPL.json`, both SDKs):
the refund is the order amount minus the cart total of all those items under its rounding rule (cart.py).
The shop refunds amounts (admin types "12.90"), so this module finds refund lines whose rule total takes
exactly that amount off, or says it cannot (`RefundNotExpressible`) before anything is sent.

Choices: a full refund negates every item (exact by construction); a partial refund is one line copying
the biggest item whose rate lets the amount be expressed, quantity 1, net price = amount / (1 + rate),
nudged by up to a few 1e-10 when a sum lands on a half cent. Pure: reads nothing, calls nothing.
"""
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal

from .cart import rule_amount

PLACES = Decimal("1e-10")
NUDGES = (0, 1, -1, 2, -2, 3, -3, 5, -5, 10, -10)
SENT_FIELDS = ("name", "description", "unit_price", "quantity", "merchant_item_id", "tax_table_selector")


class RefundNotExpressible(ValueError):
    """No refund lines of this cart take exactly the asked amount off under MultiSafepay's rule."""


def original_items(shopping_cart: Mapping) -> list[dict]:
    """The order's items as sent (MultiSafepay answers prices and quantities as strings and adds display
    fields): the fields we sent, numbers as numbers. Raises RefundNotExpressible for an empty cart."""
    items = []
    for item in (shopping_cart or {}).get("items") or []:
        sent = {key: item.get(key) for key in SENT_FIELDS}
        sent["unit_price"] = float(Decimal(str(item.get("unit_price"))))
        sent["quantity"] = int(Decimal(str(item.get("quantity"))))
        sent["description"] = sent["description"] or ""
        items.append(sent)
    if not items:
        raise RefundNotExpressible("the order has no cart items to refund against")
    return items


def tax_rates(checkout_options: Mapping) -> dict[str, Decimal]:
    """Table name → rate fraction, from the order read back (flattened `{default, alternate}`) or as
    sent (`{tax_tables: {...}}`)."""
    tables = checkout_options.get("tax_tables", checkout_options) if checkout_options else {}
    rates = {}
    for table in tables.get("alternate") or []:
        rules = table.get("rules") or [{}]
        rates[str(table.get("name"))] = Decimal(str(rules[0].get("rate", table.get("name"))))
    default = tables.get("default") or {}
    rates.setdefault("", Decimal(str(default.get("rate") or 0)))
    return rates


def refund_lines(items: Sequence[dict], rates: Mapping[str, Decimal], *, amount: int, order_amount: int) -> list[dict]:
    """Refund lines taking `amount` (minor units) off an order of `order_amount` whose cart is `items`.

    Raises RefundNotExpressible when no such lines exist (or `amount` is not between 1 and the order)."""
    if not 0 < amount <= order_amount:
        raise RefundNotExpressible(f"a refund of {amount} is not within the order's {order_amount}")
    target = order_amount - amount
    if any(item.get("tax_table_selector") not in rates for item in items):
        raise RefundNotExpressible("an item names a tax table the order does not have")
    if amount == order_amount:
        full = [{**item, "unit_price": -item["unit_price"]} for item in items]
        if rule_amount([*items, *full], rates) == target:
            return full
    for item in sorted(items, key=lambda i: -abs(i["unit_price"] * i["quantity"])):
        rate = rates[item["tax_table_selector"]]
        net = (Decimal(amount) / 100 / (1 + rate)).quantize(PLACES, rounding=ROUND_HALF_EVEN)
        for nudge in NUDGES:
            line = {**item, "quantity": 1, "unit_price": float(-(net + nudge * PLACES))}
            if rule_amount([*items, line], rates) == target:
                return [line]
    raise RefundNotExpressible(f"MultiSafepay's rounding rule cannot take exactly {amount} off this cart")
