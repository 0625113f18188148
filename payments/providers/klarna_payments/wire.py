"""Klarna Payments on the wire: where it takes payments, how its statuses read, which intent a cart
needs, and reading what Klarna (or the widget page) sends us. Pure functions, no calls."""
from datetime import datetime, timedelta

from django.conf import settings

from ...exceptions import InvalidReturn
from ..inbound import clean_text, load_json_object
from ..types import CheckoutRequest, InboundMessage

FRAUD_STATUS = {"ACCEPTED": "authorized", "PENDING": "pending", "REJECTED": "failed"}
# Klarna error codes meaning the customer token itself can no longer be charged.
TOKEN_GONE = {"TOKEN_SUSPENDED", "TOKEN_CANCELED", "TOKEN_CANCELLED", "TOKEN_NOT_FOUND"}
# Where Klarna Payments takes payments: each purchase country in its own currency (Klarna refuses EUR for
# Sweden, Denmark or Norway with BAD_VALUE purchase_currency). From Klarna's list of markets.
EURO_COUNTRIES = "AT BE CY DE EE ES FI FR GR HR IE IT LT LU LV MT NL PT SI SK".split()
MARKETS = frozenset({*((country, "EUR") for country in EURO_COUNTRIES), ("US", "USD"), ("GB", "GBP"),
                     ("SE", "SEK"), ("NO", "NOK"), ("DK", "DKK"), ("CH", "CHF"), ("PL", "PLN"), ("CZ", "CZK"),
                     ("HU", "HUF"), ("RO", "RON"), ("AU", "AUD"), ("NZ", "NZD"), ("CA", "CAD"), ("MX", "MXN")})
# Payment sessions live 48 hours; an hour of margin so the shopper never meets the edge.
SESSION_LIFETIME = timedelta(hours=47)
# An authorization token places its order and makes its customer token within 60 minutes of the approval.
# Counted from the order's placement, a little after the approval: asking past the real end is harmless
# (Klarna refuses, and the shop stops asking).
AUTHORIZATION_LIFETIME = timedelta(minutes=60)
# An order's authorization lapses uncaptured after Klarna's default of 28 days (the merchant's agreement may
# set another). A renewal's token order answers with no expiry, and reading the order back for it would cost
# one more call per renewal: its expiry is counted from the answer with this; the payment's operation page
# reads the order's own.
ORDER_AUTHORIZATION_LIFETIME = timedelta(days=28)
OM_STATUS = {"AUTHORIZED": "authorized", "PART_CAPTURED": "captured", "CAPTURED": "captured",
             "CANCELLED": "cancelled", "EXPIRED": "expired", "CLOSED": "captured"}
# The spec's limits on what address_body sends (payments v1 `address`: given_name, family_name, street_address,
# street_address2, city, email 99 characters; postal_code 10), by the shop's Address field. Klarna refuses a
# longer one (400 BAD_VALUE) only when the order is placed, after the shopper approved in the widget, so the
# checkout form refuses it first (the adapter's detail_problems): a street cut short could lose its house
# number, an e-mail cannot be cut at all.
ADDRESS_LIMITS = {"first_name": 99, "last_name": 99, "line1": 99, "line2": 99, "city": 99, "postcode": 10}
MAX_EMAIL = 99


def intent_for(request: CheckoutRequest) -> str:
    """buy for one-off carts; tokenize for a free trial; buy_and_tokenize when a subscription is bought;
    buy_and_default_tokenize for one-off goods mixed with a subscription when the merchant enables it."""
    recurring = [line for line in request.lines if line.interval]
    if not recurring:
        return "buy"
    if request.amount == 0:
        return "tokenize"
    one_off = len(recurring) < len(request.lines)
    if one_off and settings.KLARNA_DEFAULT_TOKENIZE:
        return "buy_and_default_tokenize"
    return "buy_and_tokenize"


def address_body(address, request: CheckoutRequest) -> dict:
    return {
        "given_name": address.first_name, "family_name": address.last_name, "email": request.customer.email,
        "street_address": address.line1, "street_address2": address.line2, "postal_code": address.postcode[:10],
        "city": address.city, "phone": request.customer.phone, "country": address.country,
    }


def instant(value) -> datetime | None:
    """An ISO 8601 instant as Klarna writes it (`...Z`); None for anything else."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def int_or_none(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def notification(message: InboundMessage) -> dict:
    """Klarna's notification about a pending fraud decision: {order_id, event_type}, JSON."""
    data = load_json_object(message.body, what="notification body")
    order_id, event_type = data.get("order_id"), data.get("event_type")
    if not isinstance(order_id, str) or not isinstance(event_type, str) or not order_id or not event_type:
        raise InvalidReturn("not a Klarna notification")
    return {"order_id": clean_text(order_id, limit=64), "event_type": clean_text(event_type, limit=64)}


def authorization_token(message: InboundMessage) -> str | None:
    """The authorization token a return carries, or None for the widget's "declined" POST.

    The widget page POSTs a form (`authorization_token` or `declined`); Klarna's authorization callback
    POSTs JSON `{authorization_token, session_id}` to the same URL."""
    if message.method != "POST":
        raise InvalidReturn("Klarna returns by POST")
    data = load_json_object(message.body, what="callback body") if "json" in message.content_type else message.params
    if data.get("declined"):
        return None
    token = data.get("authorization_token")
    if not isinstance(token, str) or not 8 <= len(token) <= 512 or clean_text(token, limit=512) != token:
        raise InvalidReturn("no usable authorization_token")
    return token
