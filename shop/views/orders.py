"""Order pages reached by signed link: status, thank-you, payment failed, and retry.

None of them needs the session: the token in the URL is the credential (shop.links). The session is
only consulted to clear the cart of the browser that placed a now-paid order.

Each page shows the shopper's name and address (or leads to one) and its URL is the credential, so none
may be stored by a shared or browser cache: every view here is `never_cache` (Cache-Control: private,
no-store, and more).

Every unpaid order can be paid again: payments.states marks an order cancelled when all its attempts
were cancelled (the shopper backed out at the provider), which is not a reason to stop them paying.
"""
from django.contrib import messages
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from payments.selectors import (
    cancelled_by_shop,
    in_review_ids,
    lapsed_payment_of,
    route_names,
    upsells_of,
    withdrawn_payment_of,
)
from payments.services.upsell_terms import upsell_offers_shown

from .. import selectors
from ..browser_orders import first_settlement, placed_here, remember_placed
from ..cart import Cart
from ..forms import RetryForm
from ..links import order_url, subscription_url
from ..models import Order
from .checkout import offered_routes, start_payment_and_redirect

# Orders the thank-you page has nothing to thank for: the shopper belongs on the try-again page.
UNPAID_FINAL = {Order.Status.PAYMENT_FAILED, Order.Status.CANCELLED}


def _order_or_404(token, **kwargs):
    order = selectors.order_for_token(token, **kwargs)
    if order is None:
        raise Http404("No such order")
    return order


def _retry_routes(order):
    return offered_routes(recurring=order.lines.exclude(interval="").exists(),
                          country=order.billing_address["country"])


def _settle_cart(request, order) -> bool:
    """Once a paid order's page is seen by the browser that placed it, that browser's cart gives up what
    the order bought, once; anything added since stays. Someone opening the link elsewhere keeps their
    cart. Returns whether this browser placed the order."""
    here = placed_here(request.session, order)
    if here and order.is_paid and first_settlement(request.session, order.number):
        Cart(request.session).settle(order.lines.filter(is_upsell=False, product__isnull=False)
                                     .values_list("product_id", "quantity"))
    return here


@never_cache
def order_status(request, token):
    order = _order_or_404(token, with_attempts=True)
    # Paid while the shopper waited here (a review, a late confirmation): the cart settles here too.
    _settle_cart(request, order)
    # A route the merchant has since disabled still shows by its key rather than disappearing.
    names = route_names()
    # Withdrawn by the shop (admin cancelled its payment): said as the shop's doing, with no way to pay, as
    # the failure page says it (and payment_start refuses it).
    withdrawn_id = withdrawn_payment_of(order.pk) if order.status == Order.Status.CANCELLED else None
    # Approved, then not captured in time: not a decline, and not the shopper's doing.
    lapsed_id = lapsed_payment_of(order.pk) if order.status == Order.Status.PAYMENT_FAILED else None
    return render(request, "shop/order_status.html", {
        "order": order,
        "subscriptions": [(sub, subscription_url(sub)) for sub in order.subscriptions.all()],
        "attempts": [(attempt, names.get(attempt.route, attempt.route))
                     for attempt in order.payment_attempts.all()],
        "review_ids": in_review_ids(order.payment_attempts.all()) if order.status == Order.Status.PENDING else (),
        "withdrawn": withdrawn_id is not None,
        "refund": selectors.order_refund(order) if order.is_paid else None,
        "withdrawn_id": withdrawn_id,
        "lapsed_id": lapsed_id,
        "pay_url": None if order.is_paid or withdrawn_id is not None else order_url(order, "shop:order_failed"),
    })


@never_cache
def order_confirmation(request, token):
    order = _order_or_404(token)
    if order.status in UNPAID_FINAL:
        return redirect(order_url(order, "shop:order_failed"))
    here = _settle_cart(request, order)
    refund = selectors.order_refund(order) if order.is_paid else None
    return render(request, "shop/order_confirmation.html", {
        "order": order,
        "refund": refund,
        "status_url": order_url(order),
        # One-click extras only for the browser that placed the order (see views.upsells), each with the
        # signed terms its form posts back.
        "offers": upsell_offers_shown(order) if order.is_paid and here and not refund else [],
        "upsells": upsells_of(order),
        "upsell_status_url": reverse("shop:upsell_status", args=[token]),
        "token": token,
        "subscriptions": [(sub, subscription_url(sub)) for sub in order.subscriptions.all()],
        "payment_method": route_names().get(order.route, order.route),
        "status_json_url": reverse("shop:order_status_json", args=[token]),
        "in_review": bool(in_review_ids(order.payment_attempts.all())) if not order.is_paid else False,
    })


@never_cache
@require_GET
def order_status_json(request, token):
    """What the waiting confirmation page polls: the order's status, nothing personal."""
    order = _order_or_404(token)
    return JsonResponse({"status": order.status, "paid": order.is_paid})


@never_cache
def order_failed(request, token):
    order = _order_or_404(token)
    if order.is_paid:
        return redirect(order_url(order, "shop:order_confirmation"))
    routes, route_notes = _retry_routes(order)
    return render(request, "shop/order_failed.html", {
        "order": order,
        # A payment still in between (at the provider, in review, or its answer lost): nothing is known to
        # have failed, so the page must not say "declined" or "nothing was charged" (probe F F12).
        "in_progress": selectors.payment_in_progress(order),
        # Withdrawn by the shop: no "try again" (payment_start refuses it too).
        "closed": order.status == Order.Status.CANCELLED and cancelled_by_shop(order.pk),
        # Approved, then not captured in time: neither "declined" nor "your cart is still here" (it was taken).
        "lapsed": order.status == Order.Status.PAYMENT_FAILED and lapsed_payment_of(order.pk) is not None,
        "form": RetryForm(routes=routes, initial={"route": order.route}),
        "route_notes": route_notes,
        "retry_url": order_url(order, "shop:order_retry"),
        "status_url": order_url(order),
    })


@never_cache
@require_POST
def order_retry(request, token):
    order = _order_or_404(token)
    if order.is_paid:
        return redirect(order_url(order, "shop:order_confirmation"))
    form = RetryForm(request.POST, routes=_retry_routes(order)[0])
    if not form.is_valid():
        for error in form.errors.get("route", []):
            messages.error(request, error)
        return redirect(order_url(order, "shop:order_failed"))
    # The retrying browser is the one whose cart should clear once this order is paid.
    remember_placed(request.session, order.number)
    return start_payment_and_redirect(request, order=order, route=form.cleaned_data["route"])
