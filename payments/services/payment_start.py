"""Starting a payment: one new PaymentAttempt per try, created before the provider is called.

The route answers with one explicit outcome (payments.providers.types): Redirect, Widget, Done or
Declined. This module acts on the outcome and never asks which route it holds.
"""
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from ..exceptions import (
    OrderAlreadyPaid,
    OrderCancelledByShop,
    PaymentDeclined,
    ProviderError,
    RouteNotAvailable,
    StartAnswerLost,
)
from ..models import PaymentAttempt
from ..orders import OrderDetails, OrderPage, OrderPaymentStatus, order_book
from ..providers.registry import get_adapter, get_enabled_adapter
from ..providers.types import CheckoutRequest, Declined, Done, Redirect, StartOutcome, Widget
from ..selectors import cancelled_by_shop
from ..states import IN_BETWEEN, SUCCESSFUL, Status, record_event, record_new_event, transition
from .payment_confirm import expected_lines

log = logging.getLogger(__name__)
RETURN_SALT = "payments.return"
# Why an open attempt was given up when its order was checked out again: reconcile keeps asking about these.
REPLACED = "Replaced by a newer checkout"
FIELD_WORDS = {"birthday": "date of birth", "gender": "title"}


def return_token(attempt) -> str:
    """Binds a return URL to one attempt: the signed attempt reference, salted per route."""
    return signing.dumps(attempt.reference, salt=f"{RETURN_SALT}.{attempt.route}", compress=False)


def return_url(attempt, token: str | None = None) -> str:
    """`token`: the attempt's return_token when the caller made it already (it signs the same reference)."""
    return settings.SHOP_BASE_URL + reverse("payments:return", args=[attempt.route, token or return_token(attempt)])


def widget_url(attempt) -> str:
    return settings.SHOP_BASE_URL + reverse("payments:widget", args=[attempt.route, return_token(attempt)])


def notification_url(attempt, token: str | None = None) -> str:
    return settings.SHOP_BASE_URL + reverse("payments:notification",
                                            args=[attempt.route, token or return_token(attempt)])


def payment_start(*, order, route) -> PaymentAttempt:
    """Create an attempt for `order` on `route` and act on the route's outcome. Returns the attempt, whose
    redirect_url is where the shopper goes next (the provider, our widget page, or the confirmation).

    Locks the order while deciding, so a double-clicked "pay" on a paid order cannot start a charge.
    Raises RouteNotAvailable (before any attempt: another market, or what route_serves refuses),
    OrderAlreadyPaid, OrderCancelledByShop, PaymentDeclined (the provider refused at once), or the
    provider's ProviderError; on any of these the attempt is recorded as failed and the order stays as it
    was (nothing charged, nothing lost). Not idempotent by design: each call is a new try.
    """
    adapter = get_enabled_adapter(route)
    reusable = open_session_attempt(order_id=order.pk, route=route)
    if reusable is not None:
        return _update_session(adapter, reusable)
    unanswered = unanswered_starts(order.pk)
    for _ in range(3):
        _learn_answers(unanswered)
        attempt, details, unanswered = _open_under_lock(order, adapter, route)
        if attempt is not None:
            return payment_send(attempt, details)
    raise StartAnswerLost("an earlier start of this order is still unanswered")


def _learn_answers(unanswered) -> None:
    for attempt in unanswered:
        # Its start may have charged: learn its answer before another attempt could charge again (a
        # StartAnswerLost again tells the shopper it is still unknown). Declined: the new attempt goes on.
        try:
            payment_send(attempt, source="checkout")
        except PaymentDeclined:
            pass


def _open_under_lock(order, adapter, route):
    """Under the order's lock: (the new attempt, the order's details, []) with the open ones superseded, or
    (None, None, starts) when an open attempt's start may be charging right now (a start that replays, sent
    by a request that committed it after this one looked: two tabs' "Try again" at the same moment). That
    one is never superseded: its answer is learned first, under its own key (probe G F4)."""
    book = order_book()
    with transaction.atomic():
        details = book.lock(order.pk)
        if details.status == OrderPaymentStatus.PAID:
            raise OrderAlreadyPaid(f"order {details.number} is already paid")
        if details.status == OrderPaymentStatus.CANCELLED and cancelled_by_shop(order.pk):
            raise OrderCancelledByShop(f"order {details.number} was cancelled by the shop")
        payment_check(adapter, details)
        open_before = list(PaymentAttempt.objects.filter(order_id=order.pk, kind=PaymentAttempt.Kind.CHECKOUT,
                                                         status__in=IN_BETWEEN))
        in_flight = [a for a in open_before if a.status == Status.CREATED and route_can(a.route, "start_replays")]
        if in_flight:
            return None, None, in_flight
        attempt = _open(details, route)
        for older in open_before:
            # A resubmitted checkout supersedes the open one. Expired, not cancelled: if the shopper still
            # pays at the old provider page, that money is recorded (and undone as a duplicate).
            transition(older, Status.EXPIRED, source="checkout", failure_reason=REPLACED,
                       message=f"Superseded by {attempt.reference}")
        book.payment_started(order.pk, route)
    return attempt, details, []


def payment_begin(*, details: OrderDetails, route) -> PaymentAttempt:
    """The first attempt of an order the caller has just created in its still open transaction, so the
    order and its attempt commit together; the caller then calls payment_send() after the commit.

    Nobody else can see the order yet: nothing to lock, no earlier attempt to supersede, and the order was
    created waiting (pending) on `route`. Raises RouteNotAvailable (what payment_check refuses) before
    writing anything, so the caller's transaction is never left half done.
    """
    payment_check(get_enabled_adapter(route), details)
    return _open(details, route)


def payment_send(attempt, details: OrderDetails | None = None, *, source="checkout") -> PaymentAttempt:
    """Ask the route to start the committed `attempt` and act on its outcome (see payment_start).

    A lost answer on a route whose start replays (Capabilities.start_replays) leaves the attempt created,
    with a note, and raises StartAnswerLost: the call may have charged, so it is not called failed. The
    next payment_start of the order, or reconcile, sends it again (payment_send once more: the provider
    replays what it answered the first time, or answers now if the first call never reached it)."""
    adapter = get_adapter(attempt.route)
    try:
        outcome = adapter.start_checkout(checkout_request(attempt, details))
    except ProviderError as exc:
        log.warning("payment_start %s failed: %s", attempt.reference, exc)
        if exc.retryable and adapter.capabilities.start_replays:
            record_event(attempt.pk, kind="note", source=source,
                         message=f"No answer to the start ({exc}); it is sent again under the same key"[:500])
            lost = StartAnswerLost(str(exc), status=exc.http_status, code=exc.code, body=exc.body)
            raise lost from exc
        transition(attempt, Status.FAILED, source=source, message=str(exc)[:500],
                   failure_reason=exc.shopper_message)
        raise
    return _apply_outcome(attempt, outcome) or PaymentAttempt.objects.get(pk=attempt.pk)


def unanswered_starts_learn(*, attempt_ids) -> None:
    """Send each of the attempts `attempt_ids` (an order's unanswered starts) again under its own key and act on the answer the
    provider replays, as the order's own retry does first: before the shopper's next checkout places another
    order, whose payment would charge the same goods a second time if the lost one had gone through. Raises
    StartAnswerLost while a start is still unanswered (and what payment_send raises for a refused one, but a
    decline: nothing was charged). Idempotent: an answered start is no longer created, so it is not sent again."""
    _learn_answers(PaymentAttempt.objects.filter(pk__in=attempt_ids, status=Status.CREATED).order_by("pk"))


def unanswered_starts(order_id):
    """The order's checkout attempts whose start was never answered, on routes whose start replays."""
    return [attempt for attempt in PaymentAttempt.objects.filter(order_id=order_id, kind=PaymentAttempt.Kind.CHECKOUT,
                                                                  status=Status.CREATED)
            if route_can(attempt.route, "start_replays")]


def route_can(route, capability: str) -> bool:
    """A route's boolean capability; False for a route since removed from the code."""
    try:
        return getattr(get_adapter(route).capabilities, capability)
    except RouteNotAvailable:
        return False


def payment_check(adapter, details: OrderDetails) -> None:
    """Everything the shop knows a route refuses for this order, said before any attempt or call.
    Raises RouteNotAvailable with a message for the shopper."""
    country = details.billing_address.country or details.shipping_address.country
    if not adapter.capabilities.serves(country=country, currency=details.currency):
        # Never send a request the provider refuses for a reason we know: say so before any attempt.
        raise RouteNotAvailable(f"{adapter.display_name} takes no {details.currency} payments from {country}")
    route_serves(adapter, details)


def _open(details: OrderDetails, route) -> PaymentAttempt:
    attempt = PaymentAttempt.objects.create(order_id=details.id, route=route, amount=details.total,
                                            currency=details.currency, expected_lines=expected_lines(details.lines))
    record_new_event(attempt, kind="note", source="checkout",
                     message=f"Checkout started for {details.number} on {route}")
    return attempt


def route_serves(adapter, details: OrderDetails) -> None:
    """What the route says about this order before any attempt or call: subscriptions on a route that
    cannot renew them, shopper details it needs and the order lacks, then the route's own check (a cart
    its provider cannot express). Raises RouteNotAvailable with a message for the shopper."""
    name = adapter.display_name
    if not adapter.capabilities.recurring and any(line.interval for line in details.lines):
        raise RouteNotAvailable(f"{adapter.key} takes no recurring payments",
                                shopper_message=f"{name} cannot pay for subscriptions. "
                                                "Please choose another payment method.")
    missing = [str(field) for field in sorted(adapter.capabilities.customer_fields)
               if not getattr(details.customer, field, None)]
    if missing:
        asked = " and ".join(FIELD_WORDS.get(field, field) for field in missing)
        raise RouteNotAvailable(f"order {details.number} lacks {', '.join(missing)}",
                                shopper_message=f"{name} needs your {asked}. Add it with \"Change details\" "
                                                "or choose another payment method.")
    adapter.check_checkout(_request(details, reference="", return_url="", notification_url=""))


def _apply_outcome(attempt, outcome: StartOutcome) -> PaymentAttempt | None:
    match outcome:
        case Redirect(url=url, provider_reference=reference, session_id=session):
            return _wait_for_shopper(attempt, url, reference, provider_session=session)
        case Widget():
            return _wait_for_shopper(attempt, widget_url(attempt), "", provider_session=outcome.session_id,
                                     client_token=outcome.client_token, session_expires_at=outcome.expires_at,
                                     widget={"template": outcome.template, "sdk_url": outcome.sdk_url})
        case Done(payment=payment):
            from .payment_confirm import payment_confirm

            confirmation = settings.SHOP_BASE_URL + order_book().page_url(attempt.order_id, OrderPage.CONFIRMATION)
            PaymentAttempt.objects.filter(pk=attempt.pk).update(redirect_url=confirmation)
            payment_confirm(attempt_id=attempt.pk, payment=payment, source="checkout")
        case Declined(shopper_message=message, detail=detail):
            transition(attempt, Status.FAILED, source="checkout", failure_reason=message,
                       provider_reference=outcome.provider_reference or None,
                       message=f"Declined by the provider at once. {detail}".strip()[:500])
            declined = PaymentDeclined(detail or message)
            declined.shopper_message = message
            raise declined
        case _:
            raise TypeError(f"unknown start outcome {outcome!r}")


def _wait_for_shopper(attempt, url, provider_reference, **fields) -> PaymentAttempt:
    """Pending, with where the shopper goes, in one change of the row."""
    return transition(attempt, Status.PENDING, source="checkout", provider_reference=provider_reference or None,
                      message="Shopper sent to the provider", payload={"redirect_url": url},
                      fields={"redirect_url": url, **fields}).attempt


def checkout_request(attempt, details: OrderDetails | None = None) -> CheckoutRequest:
    """What the route needs to collect this attempt's amount, from the order as the shop has it now."""
    details = details or order_book().details(attempt.order_id)
    token = return_token(attempt)  # signed once for both URLs: a renewal batch builds one request per charge
    return _request(details, reference=attempt.reference, return_url=return_url(attempt, token),
                    notification_url=notification_url(attempt, token))


def _request(details: OrderDetails, *, reference: str, return_url: str, notification_url: str) -> CheckoutRequest:
    return CheckoutRequest(
        reference=reference,
        order_number=details.number,
        amount=details.total,
        currency=details.currency,
        lines=details.lines,
        shipping_fee=details.shipping_fee,
        customer=details.customer,
        shipping_address=details.shipping_address,
        billing_address=details.billing_address,
        return_url=return_url,
        notification_url=notification_url,
        shipping_vat_rate_bp=details.shipping_vat_rate_bp,
        locale=f"en-{details.billing_address.country or details.shipping_address.country}",
    )


def attempt_session_expired(attempt) -> bool:
    return attempt.session_expires_at is not None and attempt.session_expires_at <= timezone.now()


def payment_replace(*, attempt) -> PaymentAttempt:
    """Give up an attempt whose provider session has expired and start a fresh one for the same order."""
    transition(attempt.pk, Status.EXPIRED, source="checkout", message="Provider session expired; replaced",
               failure_reason="Session expired")
    return payment_start(order=attempt.order, route=attempt.route)


def open_session_attempt(*, order_id, route):
    """A pending attempt on `route` whose provider session can still be rewritten, or None. Routes without
    session updates always start a fresh attempt."""
    if not get_adapter(route).capabilities.session_updates:
        return None
    attempt = (PaymentAttempt.objects.filter(order_id=order_id, route=route, status=Status.PENDING,
                                             kind=PaymentAttempt.Kind.CHECKOUT)
               .exclude(provider_session="").order_by("-created_at").first())
    if attempt is None or attempt_session_expired(attempt) or attempt.provider_reference:
        return None
    return attempt


def _update_session(adapter, attempt) -> PaymentAttempt:
    """The order changed while its session was open: send the new cart and addresses to the same session
    (an authorization made for the old ones can no longer be placed: the provider refuses the mismatch)."""
    details = order_book().details(attempt.order_id)
    PaymentAttempt.objects.filter(pk=attempt.pk).update(amount=details.total, currency=details.currency,
                                                        expected_lines=expected_lines(details.lines))
    attempt.refresh_from_db()
    try:
        adapter.update_checkout(attempt.provider_session, checkout_request(attempt, details))
    except ProviderError as exc:
        transition(attempt.pk, Status.FAILED, source="checkout", message=f"Session update failed: {exc}"[:500],
                   failure_reason=exc.shopper_message)
        raise
    record_event(attempt.pk, kind="note", source="checkout",
                 message=f"Session updated: the order now totals {details.total} {details.currency}")
    return PaymentAttempt.objects.select_related("order").get(pk=attempt.pk)


@dataclass(frozen=True)
class PreviousOrder:
    """What a new checkout must know of the shopper's previous unpaid order (previous_order_read)."""

    revisable_id: int | None  # the order, when it may be rewritten from the new cart
    unanswered: tuple[int, ...] = ()  # its checkout attempts whose start went unanswered (start_replays)


def previous_order_read(orders) -> PreviousOrder:
    """The order `orders` names (a queryset of one order, e.g. by its number): its id when it may be rewritten,
    and its unanswered starts, which may have charged. An unpaid order may be rewritten only while no provider
    can still take money for its old contents: every pending attempt must be on a route whose session we
    rewrite before any payment is placed. One query: the unpaid order LEFT JOINed with its attempts, cheaper
    than two reads and than an EXISTS subquery (which costs the ORM more to build than the round trip it
    saves)."""
    # A cancelled order is closed (the merchant may have withdrawn it): a new checkout makes a new order.
    rows = list(orders.exclude(status__in=[OrderPaymentStatus.PAID, OrderPaymentStatus.CANCELLED]).values_list(
        "pk", "payment_attempts__route", "payment_attempts__status", "payment_attempts__provider_reference",
        "payment_attempts__redirect_url", "payment_attempts__pk", "payment_attempts__kind"))
    if not rows:
        return PreviousOrder(None)
    attempts = [row[1:5] for row in rows if row[1] is not None]
    unanswered = tuple(row[5] for row in rows if row[1] is not None and row[2] == Status.CREATED
                       and row[6] == PaymentAttempt.Kind.CHECKOUT and route_can(row[1], "start_replays"))
    return PreviousOrder(rows[0][0] if _rewritable(attempts) else None, unanswered)


def revisable_order_id(orders) -> int | None:
    """The id of the order `orders` names when it may be rewritten, else None (previous_order_read)."""
    return previous_order_read(orders).revisable_id


def _rewritable(attempts) -> bool:
    """No attempt among (route, status, provider reference, redirect URL) rows that a provider could still
    charge for the old contents. One in between may change only on a route whose session we rewrite, and
    only before a payment is placed on it. A provider page the shopper was sent to (a redirect URL) on any
    other route may still be paid in an old tab, whatever the shop recorded since (replaced, abandoned,
    declined): its order keeps its contents, and a changed cart becomes a new order (probe F F1)."""
    for route, status, reference, sent in attempts:
        rewritten_by_us = route_can(route, "session_updates")
        if status in IN_BETWEEN and (not rewritten_by_us or reference):
            return False
        if sent and not rewritten_by_us and status not in SUCCESSFUL:
            return False
    return True
