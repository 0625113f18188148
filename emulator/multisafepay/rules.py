"""What MultiSafepay checks on a Klarna order, a refund and a status change, with its error codes.

First the official spec (the BNPL order schema, inlined by `schemas.py`), then the rules the spec cannot
say (reference notes §2, §3, §10): Klarna's currencies, `customer.ip_address` and `delivery.email`, the
tax tables and every item's selector, and the cart total under MultiSafepay's rounding rule:

    round_half_up(Σ unit_price × quantity, 2) + round_half_up(Σ unit_price × quantity × rate, 2) == amount / 100

evaluated exactly on the decimals as sent (the request is parsed with Decimal numbers). Error codes come
from the error reference; where it names none for a case, the choice is listed in emulator/README.md.
"""
from __future__ import annotations

import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .provider import MultiSafepayProvider
from .wire import MSPError

KLARNA_CURRENCIES = {"EUR", "GBP", "DKK", "NOK", "SEK"}
CENT = Decimal("0.01")
# The first field in error decides the code; fields not listed are 1000 ("Invalid <field>").
FIELD_CODES = [
    ("amount", 1001, "Invalid amount"), ("currency", 1002, "Invalid currency"),
    ("order_id", 1006, "Invalid transaction ID"), ("description", 1008, "Invalid description"),
    ("customer.ip_address", 1007, "Invalid IP address"), ("var1", 1010, "Invalid var1"),
    ("var2", 1010, "Invalid var2"), ("var3", 1010, "Invalid var3"),
    ("customer.country", 1018, "Invalid country code"), ("delivery.country", 1018, "Invalid country code"),
    ("gateway", 1023, "No gateway (payment method) available"),
    ("checkout_options", 1028, "Invalid tax table"), ("shopping_cart", 5001, "Cart not validated"),
]


def _paths(errors: Any, prefix: str = "") -> list[str]:
    if isinstance(errors, dict):
        return [p for key, value in errors.items()
                for p in _paths(value, prefix if key == "non_field_errors" else f"{prefix}.{key}".lstrip("."))]
    if isinstance(errors, list) and errors and not all(isinstance(e, str) for e in errors):
        return [p for i, item in enumerate(errors) if item for p in _paths(item, f"{prefix}[{i}]")]
    return [prefix or "body"]


def spec_check(provider: MultiSafepayProvider, schema_name: str, data: dict) -> None:
    """Refuse what the official schema refuses, with the code of the first offending field."""
    schema = (provider.schemas or {}).get(schema_name)
    if schema is None:
        return
    _, errors = provider.validator.validate(schema, data)
    if not errors:
        return
    path = _paths(errors)[0]
    if path.endswith(".unit_price"):
        raise MSPError(400, 1031, f"Invalid unit price: {path}")
    for prefix, code, info in FIELD_CODES:
        if path == prefix or path.startswith(prefix + ".") or path.startswith(prefix + "["):
            raise MSPError(400, code, f"{info}: {path}" if path != prefix else info)
    raise MSPError(400, 1000, f"Invalid {path}")


def decimal(value: Any, code: int, info: str) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise MSPError(400, code, info) from None
    if not number.is_finite():
        raise MSPError(400, code, info)
    return number


def tax_rates(order: dict) -> dict[str, Decimal]:
    """{table name: rate} from checkout_options.tax_tables; '' is the default table (1028 when bad)."""
    tables = ((order.get("checkout_options") or {}).get("tax_tables")) or {}
    if not isinstance(tables, dict):
        raise MSPError(400, 1028, "Invalid tax table")
    rates: dict[str, Decimal] = {}
    default = tables.get("default")
    if isinstance(default, dict) and default.get("rate") is not None:
        rates[""] = decimal(default["rate"], 1028, "Invalid tax table rate")
    for table in tables.get("alternate") or []:
        rules = (table or {}).get("rules") or []
        if not table.get("name") or not rules:
            raise MSPError(400, 1028, "Invalid tax table")
        rates[str(table["name"])] = decimal(rules[0].get("rate"), 1028, "Invalid tax table rate")
    if any(not 0 <= rate <= 1 for rate in rates.values()):
        raise MSPError(400, 1028, "Invalid tax table rate")
    return rates


def cart_total(items: list[dict], rates: dict[str, Decimal], currency: str) -> int:
    """The rounding rule in minor units; 1029 for an unknown selector, 1031 for a bad price, 1027 for a
    total too large to round."""
    net = vat = Decimal(0)
    for index, item in enumerate(items):
        selector = str(item.get("tax_table_selector") or "")
        if selector not in rates:
            raise MSPError(400, 1029, f"Invalid tax table selector: shopping_cart.items[{index}]")
        if item.get("currency") not in (None, "", currency):
            raise MSPError(400, 1030, "Invalid item currency")
        price = decimal(item.get("unit_price"), 1031, "Invalid unit price")
        quantity = decimal(item.get("quantity"), 1000, f"Invalid quantity: shopping_cart.items[{index}]")
        if quantity != quantity.to_integral_value():
            raise MSPError(400, 1000, f"Invalid quantity: shopping_cart.items[{index}]")
        net += price * quantity
        vat += price * quantity * rates[selector]
    try:
        rounded = net.quantize(CENT, rounding=ROUND_HALF_UP) + vat.quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        # a total beyond Decimal's 28 digits (a unit_price of 1e308) has no cents, and no amount equals it
        raise MSPError(400, 1027, "Invalid cart amount") from None
    return int(rounded * 100)


def check_order(provider: MultiSafepayProvider, data: dict, exact: dict) -> tuple[list[dict], dict[str, Decimal]]:
    """All create-order rules; `exact` is the same body parsed with Decimal numbers. Returns the cart items
    (exact) and the tax rates. Raises MSPError with MultiSafepay's code."""
    spec_check(provider, "order", data)
    if str(data.get("gateway") or "").upper() != "KLARNA":
        raise MSPError(400, 1023, "No gateway (payment method) available")
    if (data.get("type") or "redirect") not in ("redirect", "direct"):
        raise MSPError(400, 1000, "Invalid type")
    amount = decimal(data.get("amount"), 1001, "Invalid amount")
    if amount < 1 or amount != amount.to_integral_value():
        raise MSPError(400, 1001, "Invalid amount")
    if str(data.get("currency") or "").upper() not in KLARNA_CURRENCIES:
        raise MSPError(400, 1023, "No gateway (payment method) available")
    customer, delivery = data.get("customer") or {}, data.get("delivery") or {}
    if not re.fullmatch(r"[0-9a-fA-F.:]{3,45}", str(customer.get("ip_address") or "")):
        raise MSPError(400, 1007, "Invalid IP address")
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", str(delivery.get("email") or "")):
        raise MSPError(400, 1000, "Invalid delivery.email")
    _check_gateway_info(data)
    items = ((exact.get("shopping_cart") or {}).get("items")) or []
    if not items:
        raise MSPError(400, 5001, "Cart not validated: shopping_cart.items")
    rates = tax_rates(exact)
    if cart_total(items, rates, str(data["currency"]).upper()) != int(amount):
        raise MSPError(400, 1027, "Invalid cart amount")
    return items, rates


def _check_gateway_info(data: dict) -> None:
    """Klarna's credit check needs birthday, phone and email; a `redirect` order may leave them to the
    payment page, a `direct` order cannot (there is no page of ours in between)."""
    info = data.get("gateway_info") or {}
    required = ("birthday", "phone", "email") if (data.get("type") or "redirect") == "direct" else ()
    for key in ("birthday", "phone", "email"):
        value = str(info.get(key) or "")
        if not value:
            if key in required:
                raise MSPError(400, 1000, f"Invalid gateway_info.{key}")
            continue
        if key == "birthday":
            try:
                born = date.fromisoformat(value)
            except ValueError:
                raise MSPError(400, 1000, "Invalid gateway_info.birthday") from None
            if born >= date.today():
                raise MSPError(400, 1000, "Invalid gateway_info.birthday")
        if key == "email" and (len(value) > 64 or "@" not in value):
            raise MSPError(400, 1000, "Invalid gateway_info.email")
        if key == "phone" and (len(value) > 25 or not re.fullmatch(r"\+?[0-9 ()./-]{6,25}", value)):
            raise MSPError(400, 1000, "Invalid gateway_info.phone")
