"""The subscriber's own page, reached by a signed link (no account): status, next date, history, cancel,
and for a past-due subscription when the next try is, or paying the due amount now where the route can.

The link is the credential and the page shows what the subscriber buys and where it goes: never cached
(Cache-Control: private, no-store).
"""
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from payments.exceptions import PaymentError
from payments.models import Subscription
from payments.providers.types import Renewals
from payments.services.renewal_strategies import strategy_for
from payments.services.subscription_actions import (
    CANCEL_REASONS,
    subscription_actions_allowed,
    subscription_cancel,
    subscription_retry,
)

from ..email_content import next_retry_at
from ..links import subscription_id_from_token, subscription_url
from ..selectors import subscription_lines

# Reasons a subscriber may give; the provider's other reasons are for merchants and dunning.
SHOPPER_REASONS = ["cancel_recurring", "product_too_expensive", "not_satisfied_with_product",
                   "unwanted_subscription", "other"]


def _subscription(token):
    pk = subscription_id_from_token(token)
    sub = Subscription.objects.select_related("order").filter(pk=pk).first() if pk else None
    if sub is None:
        raise Http404("No such subscription")
    return sub


@never_cache
def subscription_manage(request, token):
    sub = _subscription(token)
    charges = sub.charges.select_related("attempt__order").order_by("-billing_cycle")
    return render(request, "shop/subscription.html", {
        "subscription": sub,
        "charges": charges,
        "lines": subscription_lines(sub),
        "reasons": [(key, CANCEL_REASONS[key]) for key in SHOPPER_REASONS],
        "cancel_url": request.path + "cancel/",
        "pay_url": request.path + "pay/" if _can_pay_now(sub) else None,
        "next_try": next_retry_at(sub) if sub.status == Subscription.Status.PAST_DUE else None,
    })


def _can_pay_now(sub) -> bool:
    """Past due, and its route renews at all (the shop on a token, or the provider's retry)."""
    return "retry" in subscription_actions_allowed(sub) and strategy_for(sub.route).renewals != Renewals.NONE


@never_cache
@require_POST
def subscription_pay_view(request, token):
    """Charge the past-due cycle now with the stored payment method; the dunning row keys make it once."""
    sub = _subscription(token)
    if not _can_pay_now(sub):
        messages.error(request, "There is nothing to pay on this subscription right now.")
        return redirect(subscription_url(sub))
    try:
        after = subscription_retry(subscription_id=sub.pk, source="shopper")
    except PaymentError as exc:
        messages.error(request, exc.shopper_message)
    else:
        if after.status == Subscription.Status.ACTIVE:
            messages.success(request, "Paid. Thank you: your subscription is active again.")
        else:
            messages.error(request, "Klarna declined the payment again. Nothing was charged; check your payment "
                                    "method in the Klarna app, or we will try again on the date below.")
    return redirect(subscription_url(sub))


@never_cache
@require_POST
def subscription_cancel_view(request, token):
    sub = _subscription(token)
    reason = request.POST.get("reason", "")
    if reason not in SHOPPER_REASONS:
        messages.error(request, "Please choose a reason.")
        return redirect(subscription_url(sub))
    message = request.POST.get("message", "")
    if any(ch < " " and ch not in "\r\n\t" for ch in message):
        # Before any provider call: what the provider keeps, the shop must be able to keep too.
        messages.error(request, "Your message contains characters we cannot store (control characters). "
                                "Please remove them and try again.")
        return redirect(subscription_url(sub))
    try:
        subscription_cancel(subscription_id=sub.pk, reason=reason, source="shopper", message=message[:255])
    except PaymentError as exc:
        messages.error(request, exc.shopper_message)
    else:
        messages.success(request, "Your subscription is cancelled. You will not be charged again.")
    return redirect(subscription_url(sub))
