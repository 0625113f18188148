"""Hand-written stand-ins for the 29 Next spec schemas the emulator validates with, used when
`next-admin-api/2024-04-01.yaml` is missing (the emulator then warns and still refuses a bad request the
same way), plus the shared pieces (decimal strings, enums) the rules use.

Why here and not in `rules.py`: the spec is the contract and these are only its fallback copy, with the
fields the emulator uses; `rules.py` holds what the emulator adds on top of the spec.
"""
from __future__ import annotations

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

INTERVALS = ["day", "week", "month", "year"]
CANCEL_REASONS = ["not_satisfied_with_product", "product_too_expensive", "cancel_recurring",
                  "unwanted_subscription", "recurring_payment_declined", "disputed_cancel_recurring",
                  "schedule_ended", "other"]
_NULLABLE_INT = {"type": ["integer", "null"]}
_NULLABLE_STR = {"type": ["string", "null"]}
_LINE = {
    "type": "object", "required": ["product_id", "quantity"],
    "properties": {"product_id": {"type": "integer"}, "quantity": {"type": "integer", "minimum": 1},
                   "price": DECIMAL, "is_upsell": {"type": "boolean", "default": False}, "metadata": {},
                   "subscription": _OBJECT_OR_NULL},
}

RECURRING = {
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

ORDER_ACTIONS = {
    "RefundOrder": {
        "type": "object", "required": ["transactions"],
        "properties": {"transactions": {"type": "array", "items": {
            "type": "object", "required": ["amount", "id"],
            "properties": {"amount": DECIMAL, "id": {"type": "integer"},
                           "is_external": {"type": "boolean", "default": False}}}},
            "note": {"type": "string"}, "refund_lines": {"type": "array"}, "refund_shipping": {"type": "object"},
            "send_refund_notification": {"type": "boolean", "default": True}},
    },
    "CancelOrder": {
        "type": "object", "required": ["cancel_reason"],
        "properties": {"cancel_reason": {"type": "string"}, "full_refund": {"type": "boolean", "default": False},
                       "send_cancel_notification": {"type": "boolean", "default": True}},
    },
}

FALLBACKS = {"CreateOrder": FALLBACK_CREATE_ORDER, "Webhook": FALLBACK_WEBHOOK, **RECURRING, **ORDER_ACTIONS}
