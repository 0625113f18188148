"""What a money-moving admin action is about to do, in one sentence with the amounts in the payment's
currency ('Capture € 12.90 of payment pa_…'), shown on the confirmation page before anything runs.

Pure functions of the payment (or subscription) and the merchant's cleaned form data: they read no
provider and change nothing, so the page can be shown, abandoned or reloaded freely. Payment amounts
are the provider's order as a whole, read back; the provider still has the last word when it runs.
"""
from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.formats import date_format

from common.money import format_minor


@dataclass(frozen=True)
class Stated:
    """A statement that also fills in what the merchant left empty with what it states (`carried`, cleaned
    values by field name): an empty capture amount becomes "everything left, which is € X", so the confirmed
    form captures the figure the merchant read, or nothing when an upsell raised the order meanwhile (the
    merchant is told the new figure and confirms again)."""

    text: str
    carried: dict = field(default_factory=dict)


def _money(amount, obj):
    return format_minor(amount, obj.currency)


def _order(attempt):
    from ..services.order_management import provider_order

    return provider_order(attempt)


def capture(attempt, data):
    order = _order(attempt)
    amount = data.get("amount") or order.remaining
    return Stated(f"Capture {order.money(amount)} of provider order {attempt.provider_reference}: the shopper "
                  f"is charged {order.money(amount)} now ({order.money(order.remaining)} is authorized and not "
                  f"yet captured).", {} if data.get("amount") else {"amount": amount, "everything": True})


def refund(attempt, data):
    order = _order(attempt)
    return (f"Refund {order.money(data.get('amount') or 0)} of provider order {attempt.provider_reference} to "
            f"the shopper ({order.money(order.captured)} captured, {order.money(order.refunded)} refunded so "
            f"far, {order.money(max(order.captured - order.refunded, 0))} refundable).")


def cancel(attempt, data):
    order = _order(attempt)
    return (f"Cancel the authorization of {order.money(order.remaining)} on provider order "
            f"{attempt.provider_reference}: the shopper will not be charged this amount and it cannot be "
            f"captured afterwards.")


def release(attempt, data):
    order = _order(attempt)
    return (f"Release the {order.money(order.remaining)} of provider order {attempt.provider_reference} that "
            f"was authorized but not captured; the {order.money(order.captured)} captured stays charged.")


def renew(subscription, data):
    due = subscription.next_renewal_at
    when = f" ({date_format(timezone.localtime(due), 'DATETIME_FORMAT')})" if due else ""
    # The page renews the period due then, once: a second page for it, confirmed after the first renewed it,
    # is refused (subscription_renew_now), not charged for the period after.
    return Stated(f"Charge {_money(subscription.amount, subscription)} for subscription {subscription.provider_id} "
                  f"now, ahead of its next renewal date{when}.", {"due": due.isoformat()} if due else {})


def retry(subscription, data):
    return (f"Try again to charge the past-due {_money(subscription.amount, subscription)} of subscription "
            f"{subscription.provider_id}.")


# Payment operations that move money, by the action keys payments.admin.operations uses; an action not
# listed here (extend) moves none and needs no stated amount.
PAYMENT_STATEMENTS = {"capture": capture, "refund": refund, "cancel": cancel, "release": release}
SUBSCRIPTION_STATEMENTS = {"renew": renew, "retry": retry}
