"""`supplementary_purchase_data` and the amount of a Klarna Payment Authorize v2 call, from a checkout
(DESIGN rule 7): the one function that builds them, property-tested over random carts
(tests/unit/test_klarna_authorize_purchase_data.py).

The API's arithmetic (reference klarna-authorize-v2.md §3): the line items' `total_amount` must add up to
the payment's `amount` [S]. We also hold each line to `total_amount = quantity × unit_price` and
`0 <= total_tax_amount <= total_amount` [I], which is what the emulator enforces. The shipping fee is a
line of its own, so the sum rule covers what the shopper pays. Amounts are integers in minor units, VAT
included; tax is the VAT contained in a line at its rate, rounded half up.
"""
from dataclasses import dataclass

from ..types import Address, CheckoutLine, CheckoutRequest

INTERVALS = {"day": "DAY", "week": "WEEK", "month": "MONTH", "year": "YEAR"}
SHIPPING_REFERENCE = "shipping"
MAX_AMOUNT = 100_000_000


class PurchaseDataError(ValueError):
    """The checkout cannot be expressed in the API's terms (its lines do not add up to its amount)."""


@dataclass(frozen=True)
class Purchase:
    amount: int
    currency: str
    data: dict  # supplementary_purchase_data

    @property
    def has_subscription(self) -> bool:
        return bool(self.data.get("subscriptions"))


def tax_included(total: int, rate_bp: int) -> int:
    """VAT contained in a VAT-inclusive `total` at `rate_bp` basis points, rounded half up."""
    if total <= 0 or rate_bp <= 0:
        return 0
    return (total * rate_bp * 2 + (10_000 + rate_bp)) // (2 * (10_000 + rate_bp))


def _line_item(line: CheckoutLine) -> dict:
    total = line.quantity * line.unit_price
    item = {"name": line.name[:255] or line.sku, "quantity": line.quantity, "unit_price": line.unit_price,
            "total_amount": total, "total_tax_amount": min(tax_included(total, line.vat_rate_bp), total),
            "line_item_reference": line.sku[:255]}
    if line.interval:
        item["subscription_reference"] = _subscription_reference(line)
    return item


def _subscription_reference(line: CheckoutLine) -> str:
    return f"sub-{line.sku}"[:255]


def _address(address: Address) -> dict:
    return {"street_address": address.line1, "street_address2": address.line2, "postal_code": address.postcode,
            "city": address.city, "country": address.country}


def purchase_for(request: CheckoutRequest) -> Purchase:
    """Amount, currency and supplementary_purchase_data for `request`. Pure. Raises PurchaseDataError when
    the checkout's lines and shipping fee do not add up to its amount (the API would refuse it)."""
    items = [_line_item(line) for line in request.lines if line.quantity > 0]
    if request.shipping_fee:
        items.append({"name": "Shipping", "quantity": 1, "unit_price": request.shipping_fee,
                      "total_amount": request.shipping_fee,
                      "total_tax_amount": tax_included(request.shipping_fee, request.shipping_vat_rate_bp),
                      "line_item_reference": SHIPPING_REFERENCE})
    total = sum(item["total_amount"] for item in items)
    if total != request.amount:
        raise PurchaseDataError(f"lines add up to {total}, not to the amount {request.amount}")
    if any(not 0 <= item["unit_price"] <= MAX_AMOUNT or item["total_amount"] > MAX_AMOUNT for item in items):
        raise PurchaseDataError(f"a line is outside 0..{MAX_AMOUNT}")
    customer = request.customer
    person = {"given_name": customer.first_name, "family_name": customer.last_name, "email": customer.email,
              "phone": customer.phone}
    data = {
        "purchase_reference": request.order_number,
        "line_items": items,
        "customer": {**person, "address": _address(request.billing_address)},
        "shipping": [{"recipient": {**person, "given_name": request.shipping_address.first_name,
                                    "family_name": request.shipping_address.last_name},
                      "address": _address(request.shipping_address), "shipping_reference": SHIPPING_REFERENCE}],
    }
    subscriptions = [{"subscription_reference": _subscription_reference(line), "name": line.name[:255],
                      "billing_plans": [{"billing_amount": line.quantity * line.unit_price,
                                         "currency": request.currency, "interval": INTERVALS[line.interval],
                                         "interval_frequency": line.interval_count or 1}]}
                     for line in request.lines if line.interval and line.quantity > 0]
    if subscriptions:
        data["subscriptions"] = subscriptions
    return Purchase(amount=request.amount, currency=request.currency, data=data)


def sum_problems(amount: int, data: dict) -> list[str]:
    """Every way `data` breaks the API's arithmetic for a payment of `amount`; empty when it holds."""
    problems = []
    items = data.get("line_items") or []
    for index, item in enumerate(items):
        if item["total_amount"] != item["quantity"] * item["unit_price"]:
            problems.append(f"line_items[{index}].total_amount is not quantity × unit_price")
        if not 0 <= item["total_tax_amount"] <= max(item["total_amount"], 0):
            problems.append(f"line_items[{index}].total_tax_amount is outside 0..total_amount")
    if sum(item["total_amount"] for item in items) != amount:
        problems.append("line_items do not add up to the amount")
    return problems
