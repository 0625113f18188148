"""Finishing a payment the shopper approved, when the shop's own call is what charges (Klarna v2's
finalizing authorize, Klarna Payments' create order): the one place that decides whether that call may
be made.

A shopper can approve an attempt that no longer stands: an old tab left open at the provider after the
order was retried (which replaced the attempt) or paid by another payment. Routes that undo a duplicate
afterwards (refund, cancel) may let it happen; a charge the shop makes itself is simply not made. The
attempt stays as it is, the approval is released at the provider where it can be (else it lapses
unfinished, which charges nothing), and the attempt's timeline says why. An approval that does not match
its attempt (another amount: the order changed meanwhile) is released as well, and the mismatch raised.

A late approval is still taken when nothing newer stands in its way: an attempt that failed or expired
while the shopper was still at the provider, that is its order's newest checkout, on an order neither
paid nor withdrawn by the shop.
"""
import logging

from django.db import transaction

from ..exceptions import PaymentDeclined, PaymentError, ProviderAuthError, ProviderRequestError, ReturnMismatch
from ..models import PaymentAttempt
from ..orders import OrderPaymentStatus, order_book
from ..providers.registry import get_adapter
from ..providers.types import APPROVED, ProviderPayment
from ..selectors import cancelled_by_shop, newer_checkout_exists
from ..states import IN_BETWEEN, SUCCESSFUL, Status, record_event, transition
from .payment_confirm import payment_confirm, payment_mismatches
from .payment_start import REPLACED, checkout_request

log = logging.getLogger(__name__)
# Closed by the shop's own timeout or a decline while the shopper could still approve at the provider.
LATE_APPROVAL = frozenset({Status.FAILED, Status.EXPIRED})
# An approval the provider refused to finish for good (probe I I5: Klarna refuses to place an order whose
# street is longer than it takes, 400 BAD_VALUE, every time): the shopper approved, nothing was charged,
# and only other details or another payment method can help.
APPROVAL_REFUSED = "Refused by the provider after the shopper's approval"


def payment_settle(*, attempt, payment: ProviderPayment, source: str, dedupe_key=None, request=None):
    """Apply the provider's word on `attempt` (an instance the caller has just read): payment_confirm,
    after finishing an APPROVED payment when the attempt may still be charged. `request` is the attempt's
    CheckoutRequest when the caller has it (else it is built from the order).

    Returns payment_confirm's TransitionResult, or None when nothing changed (still pending, or an
    approval not finished). Raises what payment_confirm raises, and the route's ProviderError /
    InvalidReturn from the finishing call (nothing is written then: the next message or reconcile asks
    again). Idempotent: the finishing call is keyed at the provider, and an attempt already paid is not
    finished again.
    """
    if payment.status != APPROVED:
        return payment_confirm(attempt=attempt, payment=payment, source=source, dedupe_key=dedupe_key)
    adapter = get_adapter(attempt.route)
    problems = payment_mismatches(attempt, payment)
    if problems:
        # The approval is not for what this attempt asks: nothing is finished; payment_confirm records and
        # raises the mismatch.
        _release(adapter, attempt, payment)
        return payment_confirm(attempt=attempt, payment=payment, source=source, dedupe_key=dedupe_key)
    with transaction.atomic():
        # The order's and the attempt's row locks are held over the finishing call, taken in payment_start's
        # order (order, then attempt): a retry from the order's failure page, which replaces this attempt
        # under the same locks, waits for the call and then finds the order paid, instead of both going
        # ahead; and neither can hold what the other waits for (a deadlock would roll back a charge made).
        order_status = order_book().lock_status(attempt.order_id)
        locked = PaymentAttempt.objects.select_for_update().get(pk=attempt.pk)
        if locked.status in SUCCESSFUL:
            return None  # finished already (the return and the webhook both came): nothing to do twice
        refusal = _not_chargeable(locked, order_status)
        if refusal is None:
            if request is None and locked.kind == PaymentAttempt.Kind.CHECKOUT:
                # A webhook or reconcile: the purchase is rebuilt from the order, as the checkout sent it
                # (the provider's read-back of an approval does not carry it).
                request = checkout_request(locked)
            finished = adapter.finish_payment(payment, request)
            try:
                return payment_confirm(attempt=locked, payment=finished, source=source, dedupe_key=dedupe_key)
            except ReturnMismatch as exc:
                refused = exc  # raised once committed, so the rejection stays in the attempt's timeline
    if refusal is None:
        raise refused
    # Once per approval: reconcile reads it again every run until the provider closes it.
    if record_event(attempt.pk, kind="rejected", source=source,
                    dedupe_key=f"not-finished:{payment.provider_reference}"[:120],
                    message=f"Approved at the provider ({payment.provider_reference}) but not finished: {refusal}. "
                            "Nothing was charged."):
        _release(adapter, attempt, payment)
    return None


def approval_refused(*, attempt, error, source: str, dedupe_key=None):
    """Fail `attempt` when the provider refused to finish its approval for good: `error`, raised by
    payment_settle's finishing call, is a 400 (the order's own body is invalid: the same body is refused
    every time) or a decline. Returns the TransitionResult, or None when the refusal is not final and the
    attempt waits as it is: anything but a 4xx; one about the shop's credentials (ProviderAuthError,
    401/403; Klarna's 403 also answers an authorization that placed its order already, which reconcile
    finds from the closed session and places again under the attempt's key); one about the approval the
    message named (404 unknown or expired, 409 made for another cart or attempt), which a message can
    carry from another tab or a stale page while the shopper can still approve again on this attempt.
    Locks the attempt (transition); idempotent: failing a failed attempt changes nothing.

    The attempt still takes a later approval (LATE_APPROVAL) while it is its order's newest checkout."""
    if not isinstance(error, ProviderRequestError) or isinstance(error, ProviderAuthError):
        return None
    if error.http_status != 400 and not isinstance(error, PaymentDeclined):
        return None
    return transition(attempt.pk, Status.FAILED, source=source, failure_reason=APPROVAL_REFUSED,
                      dedupe_key=f"{dedupe_key}:refused"[:120] if dedupe_key else None,
                      message=f"Approved, but the provider refused to finish it; nothing was charged: {error}"[:500])


def _not_chargeable(attempt, order_status) -> str | None:
    """Why an approved payment on `attempt` (locked, as its order) must not be charged, or None."""
    if attempt.kind != PaymentAttempt.Kind.CHECKOUT:
        return None
    if order_status == OrderPaymentStatus.PAID:
        return "the order is already paid by another payment"
    if attempt.status in IN_BETWEEN:
        return None
    closed = f"this payment was replaced or closed ({attempt.status}: {attempt.failure_reason or 'no reason'})"
    if attempt.status not in LATE_APPROVAL or attempt.failure_reason == REPLACED or order_status == \
            OrderPaymentStatus.CANCELLED or newer_checkout_exists(attempt) or cancelled_by_shop(attempt.order_id):
        return closed
    return None


def _release(adapter, attempt, payment) -> None:
    try:
        adapter.release_payment(payment)
    except PaymentError as exc:
        # Harmless: an approval the shop never finishes lapses at the provider without charging.
        log.info("approval %s of %s not released: %s", payment.provider_reference, attempt.reference, exc)
