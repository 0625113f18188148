"""What each shopper email says: (subject, template context) per kind, read from the rows at send time.

Built when the mail is sent, not when the event happened, so a retry sends the same facts the database
holds; every link is absolute (SHOP_BASE_URL) and signed, so it works from any mail client without the
shop's cookie.
"""
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from common.money import format_minor
from payments.models import PaymentAttempt, PaymentOperation, Subscription, SubscriptionCharge, Upsell
from payments.providers.registry import get_adapter
from payments.services.renewal_strategies import CANCEL_REASONS

from .links import order_url, subscription_url
from .models import Order
from .selectors import subscription_lines

# Who cancelled, from the source the cancelling service recorded.
CANCELLED_BY = {"shopper": "at your request", "admin": "by us", "dunning": "because the renewal payments failed"}
# A person's cancel request (recorded before the provider is called), however its answer went: a provider's
# webhook may mirror the cancel before the request's answer is back, or after it was lost; the cancel is theirs.
CANCEL_REQUESTS = ("cancel_requested", "cancel")


def _absolute(path: str) -> str:
    return settings.SHOP_BASE_URL + path


def _method(route: str) -> str:
    try:
        return get_adapter(route).display_name or "Klarna"
    except Exception:  # noqa: BLE001 - a route since disabled still paid this order with Klarna
        return "Klarna"


def _order_context(order: Order) -> dict:
    return {"order": order, "lines": list(order.lines.all()), "order_url": _absolute(order_url(order)),
            "payment_method": _method(order.route), "shipping": order.shipping_address}


def _subscription_context(sub: Subscription) -> dict:
    return {"subscription": sub, "manage_url": _absolute(subscription_url(sub)),
            "amount": format_minor(sub.amount, sub.currency),
            "product": ", ".join(line.name for line in subscription_lines(sub)) or "your subscription"}


def order_confirmation(*, order_id):
    order = Order.objects.get(pk=order_id)
    subs = [_subscription_context(sub) for sub in Subscription.objects.filter(order_id=order.pk).order_by("pk")]
    return f"Order {order.number} confirmed", {**_order_context(order), "subscriptions": subs}


def upsell_added(*, upsell_id):
    upsell = Upsell.objects.select_related("order").get(pk=upsell_id)
    order = upsell.order
    return (f"Added to order {order.number}: {upsell.name}",
            {**_order_context(order), "upsell": upsell, "upsell_total": format_minor(upsell.total, order.currency)})


def renewal_paid(*, charge_id):
    charge = SubscriptionCharge.objects.select_related("subscription__order", "attempt__order").get(pk=charge_id)
    return _renewal_paid(charge)


def _relay_fields(prefix, model, keep=("id",)):
    return [f"{prefix}__{field.name}" for field in model._meta.concrete_fields if field.name not in keep]


# What a receipt never reads of the rows it goes through: the attempt (only a way to its order) and the
# subscription's first order (only a way to its lines). Not selecting them halves the bulk read's columns
# (the ORM converts each value of each row); a field a template starts to use is loaded on first use.
_RELAYS = (_relay_fields("attempt", PaymentAttempt, keep=("id", "order"))
           + _relay_fields("subscription__order", Order))


def renewals_paid(params: list[dict]) -> list:
    """renewal_paid for many charges (a renewal batch's receipts): the charges with their subscriptions,
    orders and both orders' lines in three queries instead of three each. A charge since deleted gives
    None (its email fails alone, as it would one by one)."""
    charges = (SubscriptionCharge.objects.select_related("subscription__order", "attempt__order")
               .prefetch_related("subscription__order__lines", "attempt__order__lines")
               .defer(*_RELAYS).in_bulk([p["charge_id"] for p in params]))
    return [_renewal_paid(charges[p["charge_id"]]) if p["charge_id"] in charges else None for p in params]


def _renewal_paid(charge):
    sub, order = charge.subscription, charge.attempt.order
    return (f"Receipt for your subscription renewal ({order.number})",
            {**_order_context(order), **_subscription_context(sub), "charged": format_minor(charge.amount, charge.currency),
             "billing_cycle": charge.billing_cycle})


def next_retry_at(sub: Subscription):
    """When dunning tries the payment again (payments/services/dunning.py), or None after the last try.

    A provider may report the failure before the subscription is mirrored as past due: dunning then
    counts from now, so the date is never missing while tries remain.
    """
    days = settings.SUBSCRIPTION_DUNNING_DAYS
    if sub.dunning_step >= len(days):
        return None
    return (sub.past_due_since or timezone.now()) + timedelta(days=days[sub.dunning_step])


def renewal_failed(*, subscription_id, billing_cycle):
    sub = Subscription.objects.select_related("order").get(pk=subscription_id)
    return ("Your subscription payment did not go through",
            {**_subscription_context(sub), "billing_cycle": billing_cycle, "next_try": next_retry_at(sub),
             "last_try": sub.dunning_step == len(settings.SUBSCRIPTION_DUNNING_DAYS) - 1})


def subscription_cancelled(*, subscription_id):
    sub = Subscription.objects.select_related("order").get(pk=subscription_id)
    asked = sub.events.filter(kind__in=CANCEL_REQUESTS, source__in=("shopper", "admin"),
                              created_at__gte=timezone.now() - timedelta(days=1)).order_by("-created_at", "-pk")
    last = asked.first() or sub.events.filter(kind__in=["status", "cancel"]).order_by("-created_at", "-pk").first()
    return ("Your subscription is cancelled",
            {**_subscription_context(sub), "reason": CANCEL_REASONS.get(sub.cancel_reason, ""),
             "cancelled_by": CANCELLED_BY.get(last.source if last else "", "by the payment provider")})


def refund_issued(*, operation_id):
    """A refund; when it undid a second payment of an order another payment keeps paid (the attempt's
    `duplicate_of`, payments.services.duplicates), it says so: the order is not refunded and still ships."""
    op = PaymentOperation.objects.select_related("attempt__order", "attempt__duplicate_of").get(pk=operation_id)
    order, attempt = op.attempt.order, op.attempt
    context = {**_order_context(order), "refund": format_minor(op.amount or 0, order.currency)}
    kept = attempt.duplicate_of
    if kept is None or not order.is_paid:
        return f"Refund for order {order.number}", context
    # "Paid with" names the payment that pays the order, not the one returned (the order's last route).
    return (f"Your second payment for order {order.number} was returned",
            {**context, "duplicate": True, "payment_method": _method(kept.route),
             "returned_method": _method(attempt.route)})


CONTENT = {"order_confirmation": order_confirmation, "upsell_added": upsell_added, "renewal_paid": renewal_paid,
           "renewal_failed": renewal_failed, "subscription_cancelled": subscription_cancelled,
           "refund_issued": refund_issued}
# Kinds whose content is also read for many rows at once (params of each, in order -> content or None).
CONTENT_MANY = {"renewal_paid": renewals_paid}
