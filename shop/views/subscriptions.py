"""The subscriber's own page, reached by a signed link (no account): status, next date, history, cancel.

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
from payments.services.subscription_actions import CANCEL_REASONS, subscription_cancel

from ..links import subscription_id_from_token, subscription_url

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
        "lines": sub.order.lines.exclude(interval=""),
        "reasons": [(key, CANCEL_REASONS[key]) for key in SHOPPER_REASONS],
        "cancel_url": request.path + "cancel/",
    })


@never_cache
@require_POST
def subscription_cancel_view(request, token):
    sub = _subscription(token)
    reason = request.POST.get("reason", "")
    if reason not in SHOPPER_REASONS:
        messages.error(request, "Please choose a reason.")
        return redirect(subscription_url(sub))
    try:
        subscription_cancel(subscription_id=sub.pk, reason=reason, source="shopper",
                            message=request.POST.get("message", "")[:255])
    except PaymentError as exc:
        messages.error(request, exc.shopper_message)
    else:
        messages.success(request, "Your subscription is cancelled. You will not be charged again.")
    return redirect(subscription_url(sub))
