"""Validation of the recurring and upsell calls: add-line-items, subscription PATCH, cancel and retry.

Why like `rules.py`: the official schemas (AddLineItem, PatchedUpdateSubscription, CancelSubscription,
RetrySubscription) say what 29 Next accepts; the rules here add what the emulator can honour (no catalog,
so an added line needs its price; one gateway; no subscriptions started from an upsell). FALLBACKS stand
in for the schemas when the spec file is missing, with the fields the emulator uses.
"""
from __future__ import annotations

from typing import Any

from ..schema import Errors, Validator, merge_errors
from .orders import GATEWAY
from .rules import DECIMAL, line_rules

INTERVALS = ["day", "week", "month", "year"]
CANCEL_REASONS = ["not_satisfied_with_product", "product_too_expensive", "cancel_recurring",
                  "unwanted_subscription", "recurring_payment_declined", "disputed_cancel_recurring",
                  "schedule_ended", "other"]
_NULLABLE_INT = {"type": ["integer", "null"]}
_NULLABLE_STR = {"type": ["string", "null"]}
_OBJECT_OR_NULL = {"type": ["object", "null"]}
_LINE = {
    "type": "object", "required": ["product_id", "quantity"],
    "properties": {"product_id": {"type": "integer"}, "quantity": {"type": "integer", "minimum": 1},
                   "price": DECIMAL, "is_upsell": {"type": "boolean", "default": False}, "metadata": {},
                   "subscription": _OBJECT_OR_NULL},
}

FALLBACKS = {
    "AddLineItem": {
        "type": "object", "required": ["lines"],
        "properties": {"lines": {"type": "array", "items": _LINE},
                       "payment_details": {"type": ["object", "null"], "properties": {
                           "payment_gateway": _NULLABLE_INT, "payment_gateway_group": _NULLABLE_INT,
                           "statement_descriptor": _NULLABLE_STR}}},
    },
    "PatchedUpdateSubscription": {
        "type": "object",
        "properties": {
            "interval": {"type": "string", "enum": INTERVALS}, "interval_count": {"type": "integer", "minimum": 1},
            "next_renewal_date": {"type": ["string", "null"], "format": "date-time"},
            "status": {"type": "string", "enum": ["active", "past_due", "canceled", "retrying"]},
            "shipping_code": _NULLABLE_STR,
            "shipping_price": {"type": ["string", "null"], "format": "decimal",
                               "pattern": r"^-?\d{0,7}(?:\.\d{0,2})?$"},
            "shipping_address": _OBJECT_OR_NULL, "billing_address": _OBJECT_OR_NULL,
            "attribution": {"type": "object"}, "payment_details": _OBJECT_OR_NULL, "is_test": {"type": "boolean"},
        },
    },
    "CancelSubscription": {
        "type": "object", "required": ["cancel_reason"],
        "properties": {"cancel_reason": {"type": "string", "enum": CANCEL_REASONS},
                       "cancel_reason_other_message": _NULLABLE_STR,
                       "send_cancel_notification": {"type": "boolean", "default": True}},
    },
    "RetrySubscription": {"type": "object", "properties": {"payment_gateway": _NULLABLE_INT}},
}


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
