"""What the emulated authorizePayment accepts, and who gets which outcome.

Validation (400 VALIDATION_ERROR, one `validation_errors` entry per problem): `currency` is three letters;
`request_payment_transaction.amount` a positive integer with a `payment_transaction_reference` of 1..255
characters; line items (when sent) obey total_amount = quantity × unit_price, 0 <= total_tax_amount <=
total_amount, and add up to the amount [S for the sum, I for the rest]; `step_up_config` (when sent) has
`customer_interaction_config.method` HANDOVER or SDK and an http(s) `return_url`.

Personas, like Klarna's sandboxes, by the customer's email in supplementary_purchase_data (local part):
`+denied` → DECLINED at once; `+approved` → APPROVED at once (a recognised customer); anything else →
STEP_UP_REQUIRED (the shopper confirms in the purchase journey, where they may still decline).
"""
from __future__ import annotations

import re

from .wire import invalid

CURRENCY = re.compile(r"^[A-Z]{3}$")


def problems(body: dict) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if not isinstance(body.get("currency"), str) or not CURRENCY.match(body["currency"]):
        found.append(("currency", "must be an ISO 4217 code"))
    transaction = body.get("request_payment_transaction")
    amount = None
    if not isinstance(transaction, dict):
        found.append(("request_payment_transaction", "is required"))
    else:
        amount = transaction.get("amount")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            found.append(("request_payment_transaction.amount", "must be a positive integer"))
            amount = None
        reference = transaction.get("payment_transaction_reference")
        if not isinstance(reference, str) or not 1 <= len(reference) <= 255:
            found.append(("request_payment_transaction.payment_transaction_reference", "must be 1..255 characters"))
    purchase = body.get("supplementary_purchase_data", {})
    if not isinstance(purchase, dict):
        found.append(("supplementary_purchase_data", "must be an object"))
    else:
        if purchase.get("customer") is not None and not isinstance(purchase["customer"], dict):
            found.append(("supplementary_purchase_data.customer", "must be an object"))
        found.extend(_line_problems(purchase.get("line_items"), amount))
    step_up = body.get("step_up_config")
    if step_up is not None:
        interaction = step_up.get("customer_interaction_config") if isinstance(step_up, dict) else None
        if not isinstance(interaction, dict) or interaction.get("method") not in ("HANDOVER", "SDK"):
            found.append(("step_up_config.customer_interaction_config.method", "must be HANDOVER or SDK"))
        elif not str(interaction.get("return_url") or "").startswith(("http://", "https://")):
            found.append(("step_up_config.customer_interaction_config.return_url", "must be an http(s) URL"))
    return found


def _line_problems(items, amount) -> list[tuple[str, str]]:
    if items is None:
        return []
    if not isinstance(items, list):
        return [("supplementary_purchase_data.line_items", "must be a list")]
    found = []
    total = 0
    for index, item in enumerate(items):
        where = f"supplementary_purchase_data.line_items[{index}]"
        numbers = {k: item.get(k) if isinstance(item, dict) else None
                   for k in ("quantity", "unit_price", "total_amount", "total_tax_amount")}
        if any(isinstance(v, bool) or not isinstance(v, int) for v in numbers.values()):
            found.append((where, "quantity, unit_price, total_amount and total_tax_amount must be integers"))
            continue
        if numbers["total_amount"] != numbers["quantity"] * numbers["unit_price"]:
            found.append((f"{where}.total_amount", "must be quantity × unit_price"))
        if not 0 <= numbers["total_tax_amount"] <= max(numbers["total_amount"], 0):
            found.append((f"{where}.total_tax_amount", "must be between 0 and total_amount"))
        total += numbers["total_amount"]
    if amount is not None and items and total != amount:
        found.append(("supplementary_purchase_data.line_items", "must add up to request_payment_transaction.amount"))
    return found


def check(body: dict) -> None:
    found = problems(body)
    if found:
        raise invalid(*found)


def persona(body: dict) -> str:
    """APPROVED, DECLINED or STEP_UP_REQUIRED for a customer-present first call."""
    purchase = body.get("supplementary_purchase_data")
    customer = (purchase.get("customer") if isinstance(purchase, dict) else None) or {}
    email = customer.get("email") if isinstance(customer, dict) else None
    local = str(email or "").split("@")[0].lower()
    if "+denied" in local:
        return "DECLINED"
    if "+approved" in local:
        return "APPROVED"
    return "STEP_UP_REQUIRED"
