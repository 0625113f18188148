"""Validation of `POST /orders/`: the official CreateOrder schema plus the emulator's own rules.

Why two layers: the spec says what 29 Next accepts in general; the rules below say what the emulator can
honour (Klarna only, no catalog so every line carries its price) and what the guides add to the spec
(Klarna needs `payment_return_url`, phone numbers are E.164). When the spec file is missing, FALLBACK_*
schemas stand in with the fields the emulator uses, so a bad request is still refused the same way.
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from ..schema import Errors, Validator, merge_errors

DECIMAL = {"type": "string", "format": "decimal", "pattern": r"^-?\d{0,10}(?:\.\d{0,2})?$"}
_OBJECT_OR_NULL = {"type": ["object", "null"]}
PAYMENT_METHODS = ["card_token", "saved_card", "apple_pay", "google_pay", "external", "paypal", "affirm",
                   "bancontact", "giropay", "ideal", "klarna", "link", "sepa_debit", "sofort", "twint", None]

FALLBACK_CREATE_ORDER = {
    "type": "object",
    "required": ["lines"],
    "properties": {
        "lines": {"type": "array", "items": {
            "type": "object", "required": ["product_id", "quantity"],
            "properties": {
                "product_id": {"type": "integer"}, "quantity": {"type": "integer", "minimum": 1},
                "price": DECIMAL, "is_upsell": {"type": "boolean", "default": False}, "metadata": {},
                "subscription": {"type": "object", "required": ["interval", "interval_count"], "properties": {
                    "interval": {"type": "string", "enum": ["day", "week", "month", "year"]},
                    "interval_count": {"type": "integer", "minimum": 1}, "price": DECIMAL}},
            }}},
        "currency": {"type": "string", "maxLength": 3},
        "payment_method": {"type": ["string", "null"], "enum": PAYMENT_METHODS},
        "payment_details": {"type": ["object", "null"], "additionalProperties": True, "properties": {
            "payment_return_url": {"type": ["string", "null"], "format": "uri"}}},
        "user": {"type": "object", "additionalProperties": True, "properties": {
            "email": {"type": ["string", "null"], "format": "email"}}},
        "shipping_address": _OBJECT_OR_NULL, "billing_address": _OBJECT_OR_NULL,
        "billing_same_as_shipping_address": {"type": "boolean", "default": False},
        "shipping_code": {"type": ["string", "null"]}, "shipping_price": DECIMAL,
        "tags": {"type": "array", "items": {"type": ["string", "null"]}},
        "metadata": {}, "attribution": {"type": "object"},
    },
}

FALLBACK_WEBHOOK = {
    "type": "object",
    "required": ["target", "events"],
    "properties": {
        "target": {"type": "string", "format": "uri", "maxLength": 255},
        "events": {"type": "array", "items": {"type": ["string", "null"]}},
        "name": {"type": ["string", "null"]}, "active": {"type": "boolean"},
        "api_version": {"type": ["string", "null"]}, "secret_key": {"type": ["string", "null"]},
    },
}

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
    cleaned["currency"] = cleaned["currency"].upper()
    return cleaned, None
