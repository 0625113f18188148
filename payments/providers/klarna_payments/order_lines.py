"""Klarna `order_lines`, `order_amount` and `order_tax_amount` from a cart or order (DESIGN rule 7).

Klarna refuses a session or order unless, for every line, total_amount = quantity × unit_price −
total_discount_amount and total_tax_amount is the VAT contained in total_amount at tax_rate, and the
order's amount and tax are the exact sums of its lines. This is the one place that builds them; a
property test (tests/unit/test_klarna_order_lines.py) checks the rules over random carts.

All amounts are integers in minor units, VAT included (EU pricing); tax_rate is in basis points
(2100 = 21 %), which is also Klarna's unit (two implied decimals).
"""
from collections.abc import Iterable
from dataclasses import dataclass, field

INTERVALS = {"day": "DAY", "week": "WEEK", "month": "MONTH", "year": "YEAR"}
MAX_AMOUNT = 100_000_000  # Klarna's limit on unit_price and total_amount


class OrderLinesError(ValueError):
    """The cart cannot be expressed as Klarna order lines (e.g. an amount over Klarna's limit)."""


@dataclass(frozen=True)
class Item:
    """One thing being sold. `discount` is the VAT-inclusive discount on the whole line."""

    reference: str
    name: str
    quantity: int
    unit_price: int
    tax_rate: int
    discount: int = 0
    kind: str = "physical"  # physical, digital, shipping_fee, discount, surcharge, gift_card
    interval: str = ""  # day/week/month/year for subscription lines
    interval_count: int = 1
    product_url: str = ""


@dataclass(frozen=True)
class KlarnaAmounts:
    order_lines: list[dict] = field(default_factory=list)
    order_amount: int = 0
    order_tax_amount: int = 0

    def as_body(self) -> dict:
        return {"order_lines": self.order_lines, "order_amount": self.order_amount,
                "order_tax_amount": self.order_tax_amount}


def tax_included(total: int, tax_rate: int) -> int:
    """VAT contained in a VAT-inclusive total, rounded half away from zero (symmetric for discounts)."""
    sign = -1 if total < 0 else 1
    magnitude = abs(total)
    return sign * ((magnitude * tax_rate * 2 + (10000 + tax_rate)) // ((10000 + tax_rate) * 2))


def order_line(item: Item) -> dict:
    if item.quantity < 0 or item.discount < 0 or not 0 <= item.tax_rate <= 10000:
        raise OrderLinesError(f"line {item.reference}: negative quantity or discount, or bad tax rate")
    total = item.quantity * item.unit_price - item.discount
    if max(abs(item.unit_price), abs(total)) > MAX_AMOUNT:
        raise OrderLinesError(f"line {item.reference}: amount over Klarna's limit")
    if item.kind == "discount" and total > 0:
        raise OrderLinesError(f"discount line {item.reference} must not be positive")
    line = {
        "type": item.kind,
        "reference": item.reference[:256],
        "name": item.name[:255] or item.reference,
        "quantity": item.quantity,
        "unit_price": item.unit_price,
        "tax_rate": item.tax_rate,
        "total_amount": total,
        "total_discount_amount": item.discount,
        "total_tax_amount": tax_included(total, item.tax_rate),
    }
    if item.product_url:
        line["product_url"] = item.product_url
    if item.interval:
        line["subscription"] = {"name": item.name[:255], "interval": INTERVALS[item.interval],
                                "interval_count": max(1, item.interval_count)}
    return line


def klarna_amounts(items: Iterable[Item]) -> KlarnaAmounts:
    """Order lines plus their exact sums. Raises OrderLinesError for a cart Klarna cannot take."""
    lines = [order_line(item) for item in items]
    if not lines:
        raise OrderLinesError("an order needs at least one line")
    if len(lines) > 1000:
        raise OrderLinesError("Klarna takes at most 1000 order lines")
    amount = sum(line["total_amount"] for line in lines)
    if amount < 0:
        raise OrderLinesError("discounts exceed the order total")
    return KlarnaAmounts(order_lines=lines, order_amount=amount,
                         order_tax_amount=sum(line["total_tax_amount"] for line in lines))


def items_from_checkout(lines, *, shipping_fee: int = 0, shipping_tax_rate: int = 0) -> list[Item]:
    """Our checkout lines (payments.providers.types.CheckoutLine) and shipping as Klarna items."""
    items = [
        Item(reference=line.sku, name=line.name, quantity=line.quantity, unit_price=line.unit_price,
             tax_rate=line.vat_rate_bp, discount=line.quantity * line.unit_price - line.total,
             interval=line.interval, interval_count=line.interval_count or 1)
        for line in lines
    ]
    if shipping_fee:
        items.append(Item(reference="SHIPPING", name="Shipping", quantity=1, unit_price=shipping_fee,
                          tax_rate=shipping_tax_rate, kind="shipping_fee"))
    return items
