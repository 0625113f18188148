"""Starting a payment: one new PaymentAttempt per try, created before the provider is called."""
import logging
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from shop.models import Order

from ..exceptions import OrderAlreadyPaid, ProviderError
from ..models import PaymentAttempt
from ..providers.registry import get_enabled_adapter
from ..providers.types import Address, CheckoutLine, CheckoutRequest, Customer
from ..states import Status, record_event, transition

log = logging.getLogger(__name__)
RETURN_SALT = "payments.return"


def return_token(attempt) -> str:
    """Binds a return URL to one attempt: the signed attempt reference, salted per route."""
    return signing.dumps(attempt.reference, salt=f"{RETURN_SALT}.{attempt.route}", compress=False)


def return_url(attempt) -> str:
    path = reverse("payments:return", args=[attempt.route, return_token(attempt)])
    return settings.SHOP_BASE_URL + path


def payment_start(*, order, route) -> PaymentAttempt:
    """Create an attempt for `order` on `route` and ask the provider where the shopper goes.

    Locks the order while deciding, so a double-clicked "pay" on a paid order cannot start a charge.
    Raises RouteNotAvailable, OrderAlreadyPaid, or the provider's ProviderError; on a provider error the
    attempt is recorded as failed and the order stays as it was (nothing charged, nothing lost).
    Not idempotent by design: each call is a new try with its own attempt row.
    """
    adapter = get_enabled_adapter(route)
    reusable = open_session_attempt(order=order, route=route)
    if reusable is not None:
        return _update_session(adapter, order, reusable)
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.status == Order.Status.PAID:
            raise OrderAlreadyPaid(f"order {order.number} is already paid")
        attempt = PaymentAttempt.objects.create(
            order=order, route=route, amount=order.total, currency=order.currency
        )
        Order.objects.filter(pk=order.pk).update(route=route)
        record_event(attempt.pk, kind="note", source="checkout",
                     message=f"Checkout started for {order.number} on {route}")
    try:
        start = adapter.start_checkout(checkout_request(order, attempt))
    except ProviderError as exc:
        log.warning("payment_start %s failed: %s", attempt.reference, exc)
        transition(attempt.pk, Status.FAILED, source="checkout", message=str(exc)[:500],
                   failure_reason=exc.shopper_message)
        raise
    # A route whose widget runs on our own page (Klarna Payments) sends the shopper there.
    redirect = start.redirect_url or widget_url(attempt)
    PaymentAttempt.objects.filter(pk=attempt.pk).update(redirect_url=redirect, client_token=start.client_token,
                                                        provider_session=start.session_id)
    transition(attempt.pk, Status.PENDING, source="checkout", provider_reference=start.provider_reference,
               message="Shopper sent to the provider", payload={"redirect_url": redirect})
    attempt.refresh_from_db()
    return attempt


def widget_url(attempt) -> str:
    return settings.SHOP_BASE_URL + reverse("payments:widget", args=[attempt.route, return_token(attempt)])


def notification_url(attempt) -> str:
    return settings.SHOP_BASE_URL + reverse("payments:notification", args=[attempt.route, return_token(attempt)])


def checkout_request(order, attempt) -> CheckoutRequest:
    def address(data):
        return Address(first_name=data["first_name"], last_name=data["last_name"], line1=data["line1"],
                       line2=data["line2"], city=data["city"], postcode=data["postcode"],
                       country=data["country"])

    return CheckoutRequest(
        reference=attempt.reference,
        order_number=order.number,
        amount=order.total,
        currency=order.currency,
        lines=tuple(
            CheckoutLine(sku=line.sku, name=line.name, quantity=line.quantity,
                         unit_price=line.unit_price, total=line.total, tax=line.tax,
                         vat_rate_bp=line.vat_rate_bp, provider_product_id=line.next_product_id,
                         interval=line.interval, interval_count=line.interval_count)
            for line in order.lines.all()
        ),
        shipping_fee=order.shipping_fee,
        customer=Customer(email=order.email, first_name=order.first_name, last_name=order.last_name,
                          phone=order.phone),
        shipping_address=address(order.shipping_address),
        billing_address=address(order.billing_address),
        return_url=return_url(attempt),
        notification_url=notification_url(attempt),
        shipping_vat_rate_bp=order.shipping_vat_rate_bp,
        locale=f"en-{order.billing_address['country'] or order.shipping_country}",
    )


# Widget sessions (Klarna Payments) live 48 hours; an hour of margin so the shopper never meets the edge.
SESSION_LIFETIME = timedelta(hours=47)


def attempt_session_expired(attempt) -> bool:
    return bool(attempt.client_token) and attempt.created_at < timezone.now() - SESSION_LIFETIME


def payment_replace(*, attempt) -> PaymentAttempt:
    """Give up an attempt whose provider session has expired and start a fresh one for the same order."""
    transition(attempt.pk, Status.EXPIRED, source="checkout", message="Provider session expired; replaced",
               failure_reason="Session expired")
    return payment_start(order=attempt.order, route=attempt.route)


def open_session_attempt(*, order, route):
    """A pending attempt on `route` whose provider session can still be updated (Klarna Payments, under
    48 hours old), or None. Routes without updatable sessions always start a fresh attempt."""
    from ..providers.registry import get_adapter

    if not get_adapter(route).updates_sessions:
        return None
    attempt = (order.payment_attempts.filter(route=route, status=Status.PENDING, kind=PaymentAttempt.Kind.CHECKOUT)
               .exclude(provider_session="").order_by("-created_at").first())
    if attempt is None or attempt_session_expired(attempt) or attempt.provider_reference:
        return None
    return attempt


def _update_session(adapter, order, attempt) -> PaymentAttempt:
    """The order changed while its session was open: send the new cart and addresses to the same session
    (an authorization made for the old ones can no longer be placed: Klarna refuses the mismatch)."""
    order.refresh_from_db()
    PaymentAttempt.objects.filter(pk=attempt.pk).update(amount=order.total, currency=order.currency)
    attempt.refresh_from_db()
    try:
        adapter.update_checkout(attempt.provider_session, checkout_request(order, attempt))
    except ProviderError as exc:
        transition(attempt.pk, Status.FAILED, source="checkout", message=f"Session update failed: {exc}"[:500],
                   failure_reason=exc.shopper_message)
        raise
    record_event(attempt.pk, kind="note", source="checkout",
                 message=f"Session updated: the order now totals {order.total} {order.currency}")
    attempt.refresh_from_db()
    return attempt


def order_revisable(order) -> bool:
    """An unpaid order may be rewritten only while no provider can still take money for its old contents:
    every pending attempt must be on a route whose session we update before any order is placed."""
    from ..providers.registry import get_adapter

    if order.status == Order.Status.PAID:
        return False
    pending = order.payment_attempts.filter(status__in=[Status.CREATED, Status.PENDING])
    return all(get_adapter(a.route).updates_sessions and not a.provider_reference for a in pending)
