"""Reading 29 Next objects (Order, SubscriptionDetail) into our dataclasses."""
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from ...exceptions import InvalidReturn
from ..inbound import clean_text
from ..money import from_decimal_string
from ..types import ProviderPayment, SubscriptionInfo, SubscriptionPage, UpsellResult

PAYMENT_STATUS = {
    "paid": "captured",
    "authorized": "authorized",
    "expiring": "authorized",
    "partially_paid": "pending",
    "pending": "pending",
    "expired": "expired",
    "voided": "cancelled",
    "partially_voided": "captured",
    "refunded": "refunded",
    "partially_refunded": "partially_refunded",
}


def _int(value, what) -> int:
    """An integer field of a 29 Next object; 0 when absent. Raises InvalidReturn for anything else."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidReturn(f"29 Next {what} is not a number")
    try:
        return int(value)
    except ValueError:
        raise InvalidReturn(f"29 Next {what} is not a number") from None


# A billing cycle counts renewals: anything above this is no cycle 29 Next would send (and no integer
# column would hold).
MAX_BILLING_CYCLE = 100_000


def billing_cycle(value) -> int | None:
    """A subscription's billing cycle (0 = the first purchase); None when absent. Raises InvalidReturn for
    anything but a whole number in range (a float, Infinity, a bool)."""
    if value is None:
        return None
    cycle = _int(value, "billing cycle")
    if not 0 <= cycle <= MAX_BILLING_CYCLE:
        raise InvalidReturn("29 Next billing cycle is out of range")
    return cycle


def subscription_id(value) -> str:
    """A 29 Next subscription id as we store it. Raises InvalidReturn for anything but a short, printable
    number or string (a NUL, an object, a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidReturn("29 Next subscription id is not a number or string")
    text = str(value)
    if not text or len(text) > 64 or clean_text(text, limit=64) != text:
        raise InvalidReturn("29 Next subscription id is not readable")
    return text


def money_field(value, what) -> int:
    try:
        return from_decimal_string(value)
    except ValueError:
        raise InvalidReturn(f"29 Next {what} is not a readable amount") from None


def to_payment(order: dict) -> ProviderPayment:
    """An Order as a ProviderPayment for its checkout: upsell lines (added after payment, charged
    separately) are left out of both the lines and the amount, so the checkout still matches after
    an upsell. OrderLine.price_incl_tax is read as the line total (django-oscar's line price)."""
    if not isinstance(order, dict) or not order.get("number"):
        raise InvalidReturn("29 Next order without a number")
    metadata = order.get("metadata") if isinstance(order.get("metadata"), dict) else {}
    lines = order.get("lines")
    if not isinstance(lines, list):
        # Every 29 Next order has lines; without them nothing could be checked against our order.
        raise InvalidReturn("29 Next order without a list of lines")
    checkout_lines, line_totals, upsell_total = [], [], 0
    for line in lines:
        if not isinstance(line, dict):
            continue
        line_total = money_field(line.get("price_incl_tax") or "0", "line price")
        if line.get("is_upsell"):
            upsell_total += line_total
        else:
            product_id, quantity = _int(line.get("product_id"), "line product"), _int(line.get("quantity"), "line quantity")
            checkout_lines.append((product_id, quantity))
            line_totals.append((product_id, quantity, line_total))
    subscriptions = tuple(
        (subscription_id(item["id"]), billing_cycle(item.get("billing_cycle")) or 0)
        for item in order.get("subscriptions") or [] if isinstance(item, dict) and item.get("id") is not None
    )
    return ProviderPayment(
        provider_reference=str(order["number"]),
        status=PAYMENT_STATUS.get(str(order.get("payment_status")), "pending"),
        amount=money_field(order.get("total_incl_tax", ""), "order total") - upsell_total,
        currency=str(order.get("currency") or ""),
        reference=str(metadata.get("shop_reference") or ""),
        lines=tuple(sorted(checkout_lines)),
        supports_upsell=bool(order.get("supports_post_purchase_upsells")),
        subscriptions=subscriptions,
        line_totals=tuple(line_totals),
        **figures(order),
        raw=order,
    )


def find_upsell_line(order: dict, reference: str) -> UpsellResult | None:
    """The upsell line we tagged with `reference` in its metadata, if the order has it, with how 29 Next
    took its money (authorized or captured: an authorize-only store only authorizes the upsell too)."""
    for line in order.get("lines") or []:
        metadata = line.get("metadata") if isinstance(line, dict) else None
        if isinstance(metadata, dict) and metadata.get("shop_upsell") == reference:
            amount = money_field(line.get("price_incl_tax", "0"), "upsell line price")
            return UpsellResult(provider_reference=str(order.get("number")), amount=amount,
                                status=upsell_status(order, amount), raw=order)
    return None


def to_subscription(data: dict) -> SubscriptionInfo:
    if not isinstance(data, dict) or data.get("id") is None:
        raise InvalidReturn("29 Next subscription without an id")
    next_date = data.get("next_renewal_date")
    user = data.get("user") if isinstance(data.get("user"), dict) else {}
    return SubscriptionInfo(
        provider_id=subscription_id(data["id"]),
        status=str(data.get("status") or ""),
        interval=str(data.get("interval") or ""),
        interval_count=_int(data.get("interval_count"), "interval count") or 1,
        next_renewal_at=datetime.fromisoformat(next_date) if next_date else None,
        amount=money_field(data.get("total") or "0", "subscription total"),
        currency=str(data.get("currency") or ""),
        email=str(user.get("email") or ""),
        cancel_reason=str(data.get("cancel_reason") or ""),
        orders=tuple((str(o.get("order_number")), billing_cycle(o.get("billing_cycle")) or 0)
                     for o in data.get("orders") or [] if isinstance(o, dict)),
        raw=data,
    )


# --- the order's money, from its transactions ---------------------------------------------------------
TAKEN = ("debit", "capture")  # transactions that took the shopper's money


def _succeeded(order: dict) -> list[dict]:
    return [t for t in order.get("transactions") or []
            if isinstance(t, dict) and t.get("status") == "succeeded" and t.get("id") is not None]


def _children(order: dict, parent: dict, kind: str) -> list[dict]:
    return [t for t in _succeeded(order) if t.get("parent_id") == parent["id"] and t.get("type") == kind]


def open_authorizations(order: dict) -> list[dict]:
    """Authorizations neither captured nor voided: what a capture or a cancel acts on."""
    return [t for t in _succeeded(order) if t.get("type") == "authorize"
            and not _children(order, t, "capture") and not _children(order, t, "void")]


def upsell_status(order: dict, amount: int) -> str:
    """authorized, captured or cancelled: what the transaction add-line-items made for a line of `amount`
    says now. A transaction names no line, so it is the newest authorize or debit of that amount (one
    add-line-items call, one line, one transaction). Without one, the order's payment_status decides, as it
    does for the checkout, and only a status that says the money was taken counts as captured."""
    charges = [t for t in _succeeded(order) if t.get("type") in ("authorize", "debit")
               and money_field(t.get("amount") or "0", "transaction amount") == amount]
    if charges:
        charge = max(charges, key=lambda t: _int(t["id"], "transaction id"))
        if charge["type"] == "debit" or _children(order, charge, "capture"):
            return "captured"
        return "cancelled" if _children(order, charge, "void") else "authorized"
    status = PAYMENT_STATUS.get(str(order.get("payment_status")), "pending")
    return "captured" if status in ("captured", "partially_refunded", "refunded") else "authorized"


def refundable_transactions(order: dict) -> list[tuple[int, int]]:
    """(transaction id, what is left to refund of it) of every debit or capture, oldest first."""
    found = []
    for taken in (t for t in _succeeded(order) if t.get("type") in TAKEN):
        refunded = sum(money_field(r.get("amount") or "0", "refund") for r in _children(order, taken, "refund"))
        left = money_field(taken.get("amount") or "0", "transaction amount") - refunded
        if left > 0:
            found.append((int(taken["id"]), left))
    return found


def figures(order: dict) -> dict:
    """order_total, captured, refunded, remaining (minor units) of the whole order, upsells included."""
    succeeded = _succeeded(order)
    total = lambda kinds: sum(money_field(t.get("amount") or "0", "transaction amount")  # noqa: E731
                              for t in succeeded if t.get("type") in kinds)
    remaining = sum(money_field(t.get("amount") or "0", "authorization") for t in open_authorizations(order))
    return {"order_total": money_field(order.get("total_incl_tax") or "0", "order total"),
            "captured": total(TAKEN), "refunded": total(("refund",)),
            "remaining": 0 if order.get("status") == "canceled" else remaining}


def to_subscription_page(page: dict) -> SubscriptionPage:
    """A subscriptionsList page. Only the `cursor` of the `next` link is kept: the link's host is whatever
    the API believes its public URL is, and our client always calls its own base URL."""
    if not isinstance(page, dict) or not isinstance(page.get("results"), list):
        raise InvalidReturn("29 Next subscription list without results")
    cursor = None
    if page.get("next"):
        values = parse_qs(urlsplit(str(page["next"])).query).get("cursor")
        if not values:
            raise InvalidReturn("29 Next subscription list names a next page without a cursor")
        cursor = values[0]
    return SubscriptionPage(infos=tuple(to_subscription(item) for item in page["results"]), next_cursor=cursor)
