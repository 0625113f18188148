"""Validation rules of the 29 Next Admin API calls: the official schemas (CreateOrder, AddLineItem,
PatchedUpdateSubscription, CancelSubscription, RetrySubscription) plus what the emulator adds.

Why two layers: the spec says what 29 Next accepts in general; the rules below say what the emulator can
honour (Klarna only, no catalog so every line carries its price, one gateway, no subscription started from an
upsell) and what the guides add to the spec (Klarna needs `payment_return_url`, phone numbers are E.164).
When the spec file is missing, the schemas in `schemas.py` stand in.
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from ..schema import Errors, Validator, merge_errors
from .orders import GATEWAY
from .schemas import DECIMAL

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
CURRENCY = re.compile(r"^[A-Za-z]{3}$")


def klarna_rules(body: dict, errors: Errors | None) -> Errors | None:
    """The emulator's rules on top of the spec; a field the spec rejected as a whole is not checked again."""
    errors = errors if isinstance(errors, dict) else {}
    found: dict = {}
    if "payment_method" not in errors and body.get("payment_method") != "klarna":
        found["payment_method"] = ["The emulator supports only klarna."]
    details = body.get("payment_details")
    if "payment_details" not in errors and not (isinstance(details, dict) and details.get("payment_return_url")):
        found["payment_details"] = {"payment_return_url": ["This field is required for klarna."]}
    currency = body.get("currency")
    if "currency" not in errors:
        if currency in (None, ""):
            found["currency"] = ["This field is required."]
        elif not isinstance(currency, str) or not CURRENCY.match(currency):
            found["currency"] = ["Enter a 3-letter ISO 4217 currency code."]
    user = body.get("user")
    phone = user.get("phone_number") if isinstance(user, dict) else None
    if isinstance(phone, str) and phone and not E164.match(phone):
        found["user"] = {"phone_number": ["Enter a valid phone number."]}
    lines = body.get("lines")
    if isinstance(lines, list):  # per-line messages are merged with the spec's, not replaced
        if not lines:
            found["lines"] = ["This list may not be empty."]
        else:
            line_errors = [line_rules(line) for line in lines]
            if any(line_errors):
                found["lines"] = line_errors
    return found or None


def line_rules(line: Any) -> dict:
    if not isinstance(line, dict):
        return {}
    price = line.get("price")
    if price in (None, ""):
        return {"price": ["This field is required: the emulator has no catalog to price the product."]}
    if isinstance(price, str) and re.match(DECIMAL["pattern"], price) and price not in ("-", ".", "-."):
        if Decimal(price or "0") <= 0:
            return {"price": ["Ensure this value is greater than 0."]}
    return {}


def validate_create_order(validator: Validator, schema: dict, body: Any) -> tuple[dict, Errors | None]:
    """Spec errors and rule errors together, like one DRF serializer would report them."""
    cleaned, errors = validator.validate(schema, body)
    if not isinstance(body, dict):
        return {}, errors
    errors = merge_errors(errors, klarna_rules(body, errors))
    if errors:
        return {}, errors
    schedule_errors = _schedule_errors(cleaned.get("lines") or [])
    if schedule_errors:
        return {}, {"lines": schedule_errors}
    cleaned["currency"] = cleaned["currency"].upper()
    return cleaned, None


def _schedule_errors(lines: list) -> list[dict] | None:
    """A subscription whose first renewal would fall past the calendar (the spec bounds interval_count only
    by 2**31 - 1) is refused up front, as a serializer's validate() would, not when the order completes."""
    from datetime import datetime, timezone

    from .subscriptions import ScheduleOutOfRange, add_interval

    found, bad = [], False
    for line in lines:
        plan = line.get("subscription") if isinstance(line, dict) else None
        try:
            if isinstance(plan, dict) and plan.get("interval") and plan.get("interval_count"):
                add_interval(datetime.now(timezone.utc), plan["interval"], int(plan["interval_count"]))
            found.append({})
        except ScheduleOutOfRange as exc:
            found.append({"subscription": {"interval_count": [str(exc)]}})
            bad = True
    return found if bad else None


def gateway_errors(gateway: Any) -> list[str] | None:
    """DRF's PrimaryKeyRelatedField message: the emulated store has one gateway (NEXT Payments, id 1)."""
    if gateway is None or gateway == GATEWAY["id"]:
        return None
    return [f'Invalid pk "{gateway}" - object does not exist.']


def validate(validator: Validator, schema: dict, body: Any) -> tuple[dict, Errors | None]:
    """A whole-body check that fails on a JSON array or scalar the DRF way."""
    cleaned, errors = validator.validate(schema, body)
    return (cleaned if isinstance(cleaned, dict) else {}), errors


def validate_add_line_items(validator: Validator, schema: dict, body: Any) -> tuple[dict, Errors | None]:
    """AddLineItem plus the emulator's line rules (price required and > 0, no subscription on an upsell)."""
    cleaned, errors = validate(validator, schema, body)
    if not isinstance(body, dict):
        return {}, errors
    found: dict = {}
    lines = body.get("lines")
    if isinstance(lines, list) and not (isinstance(errors, dict) and isinstance(errors.get("lines"), list)
                                        and all(isinstance(e, str) for e in errors["lines"])):
        if not lines:
            found["lines"] = ["This list may not be empty."]
        else:
            line_errors = [_added_line_errors(line) for line in lines]
            if any(line_errors):
                found["lines"] = line_errors
    details = body.get("payment_details")
    if isinstance(details, dict) and "payment_details" not in (errors or {}):
        bad_gateway = gateway_errors(details.get("payment_gateway"))
        if bad_gateway:
            found["payment_details"] = {"payment_gateway": bad_gateway}
    errors = merge_errors(errors, found or None)
    return ({}, errors) if errors else (cleaned, None)


def _added_line_errors(line: Any) -> dict:
    errors = line_rules(line)
    if isinstance(line, dict) and line.get("subscription"):
        errors["subscription"] = ["The emulator cannot start a subscription from added line items."]
    return errors


def validate_refund(validator: Validator, schema: dict, body: Any) -> tuple[dict, Errors | None]:
    """RefundOrder plus the emulator's limits: it refunds amounts by transaction and keeps no stock, so
    `refund_lines` and `refund_shipping` are refused rather than silently ignored; at least one transaction."""
    cleaned, errors = validate(validator, schema, body)
    if not isinstance(body, dict):
        return {}, errors
    found: dict = {}
    if isinstance(body.get("transactions"), list) and not body["transactions"] and "transactions" not in (errors or {}):
        found["transactions"] = ["This list may not be empty."]
    for key in ("refund_lines", "refund_shipping"):
        if body.get(key):
            found[key] = ["The emulator refunds amounts per transaction only; send transactions."]
    errors = merge_errors(errors, found or None)
    return ({}, errors) if errors else (cleaned, None)
