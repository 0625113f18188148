"""The request schemas the Klarna handlers validate against: the official specs, amended where they are
known to be wrong or behind the docs, or hand-written fallbacks when a spec file is absent.

Why amendments: the specs in `shared/reference/klarna/` are third-party copies (see SOURCES.md). The Payments
spec's `intent` enum predates `buy_and_default_tokenize` (documented in prose), and the Order Management spec
declares `order_line.type` as one enum value "physical|discount|..." instead of a list. Both are corrected
here, in one visible place, instead of being worked around in handlers.

Why fallbacks: the emulator must still start and enforce the essentials without the reference folder
(`GET /_emulator/health` then reports `specs.klarna: false`).
"""
from __future__ import annotations

import copy

# --- amendments ------------------------------------------------------------------------------
INTENTS = ["buy", "tokenize", "buy_and_tokenize", "buy_and_default_tokenize", "buy_and_link"]
OM_LINE_TYPES = ["physical", "discount", "shipping_fee", "sales_tax", "store_credit", "gift_card", "digital",
                 "surcharge", "return_fee"]


def amend(api: str, components: dict) -> dict:
    """A corrected copy of one spec's component schemas (the loaded document is left untouched)."""
    components = copy.deepcopy(components)
    if api == "payments":
        for name in ("session_create", "session", "session_read"):
            intent = components.get(name, {}).get("properties", {}).get("intent")
            if intent is not None:
                intent["enum"] = list(INTENTS)
    if api == "orders":
        line_type = components.get("order_line", {}).get("properties", {}).get("type")
        if line_type is not None:
            line_type.pop("pattern", None)
            line_type["enum"] = list(OM_LINE_TYPES)
    if api == "tokens":
        status = components.get("customer_token_status_update_request", {}).get("properties", {}).get("status")
        if status is not None:
            status["enum"] = ["CANCELLED"]  # the handler upper-cases first: krokedil sends `cancelled`
    return components


# --- fallbacks (only the fields the emulator reads, with the spec's types and bounds) ----------
_INT = {"type": "integer"}
_STR = {"type": "string"}
_TEXT99 = {"type": "string", "maxLength": 99}
# The spec's `address` bounds: Klarna refuses a longer street or name (BAD_VALUE) when the order is placed.
_ADDRESS = {"type": "object", "additionalProperties": True, "properties": {
    **{field: _TEXT99 for field in ("attention", "city", "email", "family_name", "given_name", "organization_name",
                                    "region", "street_address", "street_address2")},
    "phone": {"type": "string", "minLength": 5, "maxLength": 99}, "title": {"type": "string", "maxLength": 20},
    "country": {"type": "string", "pattern": "^[A-Za-z]{2,2}$"}, "postal_code": {
        "type": "string", "maxLength": 10}}}
_SUBSCRIPTION = {"type": "object", "required": ["name", "interval", "interval_count"], "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 255},
    "interval": {"type": "string", "enum": ["DAY", "WEEK", "MONTH", "YEAR"]},
    "interval_count": {"type": "integer", "minimum": 1}}}
_LINE = {"type": "object", "additionalProperties": True, "required": ["name", "quantity", "total_amount", "unit_price"],
         "properties": {
             "type": _STR, "reference": {"type": "string", "maxLength": 256},
             "name": {"type": "string", "minLength": 1, "maxLength": 255},
             "quantity": {"type": "integer", "minimum": 0},
             "unit_price": {"type": "integer", "maximum": 100000000},
             "tax_rate": {"type": "integer", "minimum": 0, "maximum": 10000},
             "total_amount": {"type": "integer", "maximum": 100000000},
             "total_discount_amount": {"type": "integer", "minimum": 0},
             "total_tax_amount": _INT, "subscription": _SUBSCRIPTION}}
_LINES = {"type": "array", "items": _LINE, "minItems": 1, "maxItems": 1000}
_URLS = {"type": "object", "properties": {k: {"type": "string", "maxLength": 2000}
                                          for k in ("authorization", "confirmation", "notification", "push")}}
_ORDER = {
    "purchase_country": {"type": "string", "pattern": "^[A-Za-z]{2,2}$"},
    "purchase_currency": {"type": "string", "pattern": "^[A-Za-z]{3,3}$"},
    "locale": {"type": "string", "pattern": "^[A-Za-z]{2,2}(?:-[A-Za-z]{2,2})*$"},
    "order_amount": {"type": "integer", "minimum": 0}, "order_tax_amount": {"type": "integer", "minimum": 0},
    "order_lines": _LINES, "merchant_urls": _URLS, "billing_address": _ADDRESS, "shipping_address": _ADDRESS,
    "customer": {"type": "object", "additionalProperties": True, "properties": {}},
    "merchant_reference1": {"type": "string", "maxLength": 255},
    "merchant_reference2": {"type": "string", "maxLength": 255},
    "merchant_data": {"type": "string", "maxLength": 6000},
}
_REQUIRED = ["order_amount", "order_lines", "purchase_country", "purchase_currency"]
_SESSION = {"type": "object", "properties": {**_ORDER, "intent": {"type": "string", "enum": INTENTS}}}

FALLBACKS: dict[str, dict[str, dict]] = {
    "payments": {
        "session_create": {**_SESSION, "required": _REQUIRED},
        "session": _SESSION,
        "create_order_request": {"type": "object", "required": _REQUIRED, "properties": {
            **_ORDER, "auto_capture": {"type": "boolean", "default": False}}},
        "customer_token_creation_request": {
            "type": "object", "required": ["description", "intended_use", "locale", "purchase_country",
                                           "purchase_currency"],
            "properties": {"description": {"type": "string", "maxLength": 255},
                           "intended_use": {"type": "string", "enum": ["SUBSCRIPTION"]},
                           "locale": _ORDER["locale"], "purchase_country": _ORDER["purchase_country"],
                           "purchase_currency": _ORDER["purchase_currency"], "billing_address": _ADDRESS,
                           "customer": _ORDER["customer"], "merchant_urls": _URLS}},
    },
    "tokens": {
        "customer_token_order": {
            "type": "object", "required": ["order_amount", "order_lines", "order_tax_amount", "purchase_currency"],
            "properties": {**{k: _ORDER[k] for k in ("purchase_currency", "locale", "order_tax_amount", "order_lines",
                                                     "merchant_reference1", "merchant_reference2", "merchant_data",
                                                     "merchant_urls", "shipping_address")},
                           "order_amount": {"type": "integer", "minimum": 1},
                           "auto_capture": {"type": "boolean", "default": False}}},
        "customer_token_status_update_request": {
            "type": "object", "required": ["status"], "properties": {"status": {"type": "string",
                                                                                "enum": ["CANCELLED"]}}},
    },
    "orders": {
        "CaptureObject": {"type": "object", "required": ["captured_amount"], "properties": {
            "captured_amount": {"type": "integer", "minimum": 0, "maximum": 200000000},
            "description": {"type": "string", "maxLength": 255}, "reference": {"type": "string", "maxLength": 255},
            "order_lines": {"type": "array", "items": _LINE, "maxItems": 1000},
            "shipping_info": {"type": "array", "items": {"type": "object", "additionalProperties": True,
                                                         "properties": {}}, "maxItems": 500},
            "shipping_delay": {"type": "integer", "minimum": 0}}},
        "RefundObject": {"type": "object", "required": ["refunded_amount"], "properties": {
            "refunded_amount": {"type": "integer", "minimum": 0, "maximum": 200000000},
            "description": {"type": "string", "maxLength": 255}, "reference": {"type": "string", "maxLength": 255},
            "order_lines": {"type": "array", "items": _LINE, "maxItems": 1000}}},
        "Update authorization": {"type": "object", "required": ["order_amount"], "properties": {
            "order_amount": {"type": "integer", "minimum": 0, "maximum": 200000000},
            "description": {"type": "string", "maxLength": 255},
            "order_lines": {"type": "array", "items": _LINE, "maxItems": 1000}}},
        "UpdateShippingInfo": {"type": "object", "required": ["shipping_info"], "properties": {
            "shipping_info": {"type": "array", "minItems": 1, "maxItems": 500, "items": {
                "type": "object", "additionalProperties": True, "properties": {}}}}},
        "Update merchant references": {"type": "object", "properties": {
            "merchant_reference1": {"type": "string", "maxLength": 255},
            "merchant_reference2": {"type": "string", "maxLength": 255}}},
        "UpdateConsumer": {"type": "object", "properties": {"shipping_address": _ADDRESS}},
    },
}
