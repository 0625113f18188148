"""Checkout: the details form beside a cart summary; a valid POST places the order and sends the
shopper to the payment provider.

The order exists before any provider call, so a provider that is down or declines leaves a real order
the shopper can retry from the failure page without typing anything again.
"""
import logging
import re
import secrets
import time

from django.contrib import messages
from django.core.cache import cache
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render

from payments.exceptions import PaymentError
from payments.selectors import route_choices
from payments.services.payment_start import payment_start

from ..browser_orders import LAST_ORDER_SESSION_KEY, remember_placed
from ..cart import Cart, CartError
from ..forms import CheckoutForm
from ..links import order_url
from ..orders import checkout_submit
from ..templatetags.money import money

logger = logging.getLogger(__name__)

DETAILS_SESSION_KEY = "checkout_details"
# Each checkout page carries a one-time submission key: a second POST of the same page (a double click, a
# click again while the provider is slow) follows the first to where it went instead of placing a second
# order (probe F F3). Kept in the cache (Redis in production: shared by every web process).
SUBMISSION_KEY = re.compile(r"[A-Za-z0-9_-]{20,64}")
SUBMISSION_SECONDS = 15 * 60
FIRST_SUBMISSION_WAIT = 30.0


def see_other(url):
    """303 to `url` (may be the provider's host): the browser follows it with GET, never re-POSTs."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def start_payment_and_redirect(request, *, order, route):
    """Start a payment for `order` and send the shopper to the provider, or to the failure page with
    the provider's shopper-safe message. Shared by checkout and retry so both behave the same."""
    try:
        attempt = payment_start(order=order, route=route)
    except PaymentError as exc:
        logger.warning("payment start failed for order %s on %s: %s", order.number, route, exc)
        messages.error(request, exc.shopper_message)
        return see_other(order_url(order, "shop:order_failed"))
    return see_other(attempt.redirect_url)


def offered_routes(*, recurring: bool, country: str = ""):
    """The routes to offer for a cart (with subscriptions: only routes that can renew them), and for each
    enabled route left out for that reason a sentence saying so, shown before the order is placed."""
    routes = route_choices(country=country, recurring=recurring)
    offered = {route.key for route in routes}
    notes = [f"{route.display_name} cannot pay for subscriptions, so it is not offered for this order."
             for route in route_choices(country=country) if route.key not in offered and not route.recurring]
    return routes, notes


def checkout(request):
    cart = Cart(request.session)
    lines = cart.lines()
    if not lines:
        messages.info(request, "Your cart is empty. Add something before checking out.")
        return redirect("shop:cart")

    has_subscription = any(line.product.is_subscription for line in lines)
    routes, route_notes = offered_routes(recurring=has_subscription)
    totals = cart.totals(lines)
    if request.method == "POST":
        form = CheckoutForm(request.POST, routes=routes)
        if form.is_valid():
            shown = request.POST.get("shown_total", "")
            if shown and shown != str(totals.total):
                # The button said another total (a price changed, another tab changed the cart): nothing is
                # charged that the shopper was not shown (probe F F5). The page shows the new total.
                messages.error(request, "The total changed while this page was open: it is now "
                                        f"{money(totals.total, totals.currency)}. Check your order and place it again.")
            else:
                return _submit_once(request, cart, form)
    else:
        form = CheckoutForm(routes=routes, initial=request.session.get(DETAILS_SESSION_KEY) or None)

    return render(request, "shop/checkout.html", {
        "form": form,
        "lines": lines,
        "totals": totals,
        "has_subscription": has_subscription,
        "route_notes": route_notes,
        "submission": secrets.token_urlsafe(24),
    })


def _submit_once(request, cart, form):
    """Place and pay once per checkout page: the first POST of a submission key does it; any later one
    waits for it and goes where it went."""
    key = request.POST.get("submission", "")
    slot = f"checkout-submission:{key}" if SUBMISSION_KEY.fullmatch(key) else None
    if slot is None:
        return _place_and_pay(request, cart, form)  # a page from before the key existed
    if not cache.add(slot, "", SUBMISSION_SECONDS):
        return _follow_first(request, slot)
    try:
        response = _place_and_pay(request, cart, form)
    except BaseException:
        cache.delete(slot)
        raise
    cache.set(slot, response["Location"], SUBMISSION_SECONDS)
    return response


def _follow_first(request, slot):
    deadline = time.monotonic() + FIRST_SUBMISSION_WAIT
    while (where := cache.get(slot)) == "" and time.monotonic() < deadline:
        time.sleep(0.2)
    if where:
        return see_other(where)
    messages.info(request, "Your order is already being placed; we will email you as soon as it is confirmed.")
    return redirect("shop:cart")


def _place_and_pay(request, cart, form):
    route = form.cleaned_data["route"]
    details = {**form.cleaned_data, "ip_address": request.META.get("REMOTE_ADDR") or None}
    try:
        attempt = checkout_submit(cart=cart, details=details, route=route,
                                  previous_number=request.session.get(LAST_ORDER_SESSION_KEY) or "")
    except CartError as exc:
        # The cart emptied between page load and submit (another tab, a withdrawn product).
        messages.error(request, str(exc))
        return redirect("shop:cart")
    except PaymentError as exc:
        order = getattr(exc, "order", None)
        _remember(request.session, DETAILS_SESSION_KEY, form.details())
        if order is None:
            raise
        remember_placed(request.session, order.number)
        logger.warning("payment start failed for order %s on %s: %s", order.number, route, exc)
        messages.error(request, exc.shopper_message)
        return see_other(order_url(order, "shop:order_failed"))
    _remember(request.session, DETAILS_SESSION_KEY, form.details())
    remember_placed(request.session, attempt.order.number)
    return see_other(attempt.redirect_url)


def _remember(session, key, value):
    # Assigning marks the session changed, and a changed session is written back: only when it differs.
    if session.get(key) != value:
        session[key] = value
