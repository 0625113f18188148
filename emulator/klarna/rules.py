"""Klarna's own validation rules for carts, beyond what a JSON schema can say (reference §3, §5, §7).

Why exact where Klarna is vague: the shop builds its order lines with one function (DESIGN rule 7); a cart
that passes these checks passes Klarna's, so the emulator is never more lenient than the docs, and it is
only as lenient as the docs say for the per-line tax (±1 minor unit, a documented rounding allowance).

Rules (every failure is a `Bad value: <field>` message; all failures are reported, not only the first):
1. line: `total_amount == quantity * unit_price - total_discount_amount`
2. line tax: `|total_tax_amount - round(total_amount - total_amount * 10000 / (10000 + tax_rate))| <= 1`
   (exact rational arithmetic; `sales_tax` lines are exempt: they carry the US tax in `total_amount`)
3. `order_amount == Σ total_amount` (discount lines are negative)
4. `|order_tax_amount - Σ total_tax_amount| <= number of lines` (the reference's tolerance: the emulator
   accepts what Klarna accepts), or `== Σ sales_tax.total_amount` when the cart has a `sales_tax` line
   (US style)
5. `locale`'s region equals `purchase_country`; `purchase_currency` is the country's currency (known countries)
"""
from __future__ import annotations

from fractions import Fraction

TAX_TOLERANCE = 1  # minor units per line
EURO = "AT BE CY DE EE ES FI FR GR HR IE IT LT LU LV MT NL PT SI SK".split()
CURRENCIES = {**{c: "EUR" for c in EURO}, "US": "USD", "GB": "GBP", "SE": "SEK", "NO": "NOK", "DK": "DKK",
              "CH": "CHF", "PL": "PLN", "CZ": "CZK", "HU": "HUF", "RO": "RON", "AU": "AUD", "NZ": "NZD",
              "CA": "CAD", "MX": "MXN"}
TOKENIZING = ("tokenize", "buy_and_tokenize", "buy_and_default_tokenize")
CHARGING = ("buy", "buy_and_tokenize", "buy_and_default_tokenize", "buy_and_link")
# line fields compared at order creation, with the value an absent field stands for
MATCHED_LINE_FIELDS = {"reference": None, "name": None, "quantity": 0, "unit_price": 0, "tax_rate": 0,
                       "total_amount": 0, "total_discount_amount": 0, "total_tax_amount": 0}


def expected_tax(total_amount: int, tax_rate: int) -> int:
    exact = Fraction(total_amount) - Fraction(total_amount * 10000, 10000 + tax_rate)
    return round(exact)


def line_errors(lines: list[dict]) -> list[str]:
    fields = []
    for index, line in enumerate(lines):
        total = line.get("total_amount", 0)
        if total != line.get("quantity", 0) * line.get("unit_price", 0) - line.get("total_discount_amount", 0):
            fields.append(f"order_lines[{index}].total_amount")
        if line.get("type") == "sales_tax":
            continue
        tax = line.get("total_tax_amount", 0)
        if abs(tax - expected_tax(total, line.get("tax_rate", 0))) > TAX_TOLERANCE:
            fields.append(f"order_lines[{index}].total_tax_amount")
    return fields


def amount_errors(data: dict, *, check_tax: bool = True) -> list[str]:
    """Rules 1-4 over an order-shaped dict (session, create order, token order, OM update)."""
    lines = data.get("order_lines") or []
    fields = line_errors(lines)
    if data.get("order_amount") != sum(line.get("total_amount", 0) for line in lines):
        fields.append("order_amount")
    if check_tax:
        sales_tax = [line for line in lines if line.get("type") == "sales_tax"]
        if sales_tax:
            expected, tolerance = sum(line.get("total_amount", 0) for line in sales_tax), 0
        else:
            expected, tolerance = sum(line.get("total_tax_amount", 0) for line in lines), len(lines)
        if not isinstance(data.get("order_tax_amount", 0), int) or \
                abs(data.get("order_tax_amount", 0) - expected) > tolerance:
            fields.append("order_tax_amount")
    return fields


def market_errors(data: dict, country: str | None = None) -> list[str]:
    """Rule 5: locale and currency fit the purchase country."""
    fields = []
    country = (country or data.get("purchase_country") or "").upper()
    locale = data.get("locale")
    if locale and "-" in locale and locale.split("-")[-1].upper() != country:
        fields.append("locale")
    currency = (data.get("purchase_currency") or "").upper()
    if currency and country in CURRENCIES and CURRENCIES[country] != currency:
        fields.append("purchase_currency")
    return fields


def session_errors(data: dict) -> list[str]:
    """Everything a session (create or update, re-validated whole) must satisfy.

    `buy*` intents charge now, so they need an amount (krokedil: `buy_and_tokenize` is refused for 0);
    `tokenize` takes any amount, 0 included (a free trial): the reference does not require 0."""
    fields = amount_errors(data) + market_errors(data)
    if data.get("intent", "buy") in CHARGING and data.get("order_amount") == 0 and "order_amount" not in fields:
        fields.append("order_amount")
    return fields


def mismatches(authorized: dict, requested: dict) -> list[str]:
    """Fields of a create-order request that differ from what the shopper authorized (409 at Klarna)."""
    fields = [key for key in ("purchase_country", "purchase_currency", "order_amount", "order_tax_amount")
              if key in requested and _norm(requested[key]) != _norm(authorized.get(key))]
    expected, actual = authorized.get("order_lines") or [], requested.get("order_lines") or []
    if len(expected) != len(actual):
        fields.append(f"Incorrect number of items in the cart. Expected: {len(expected)}, Actual: {len(actual)}")
    else:
        for index, (old, new) in enumerate(zip(expected, actual)):
            fields += [f"order_lines[{index}].{key}" for key, absent in MATCHED_LINE_FIELDS.items()
                       if old.get(key, absent) != new.get(key, absent)]
    for kind in ("billing_address", "shipping_address"):
        old, new = authorized.get(kind) or {}, requested.get(kind) or {}
        fields += [f"{kind}.{key}" for key, value in new.items()
                   if key in old and _norm(value) != _norm(old[key])]
    return fields


def _norm(value):
    return value.strip().lower() if isinstance(value, str) else value
