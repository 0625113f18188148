"""One paid checkout per order (issue: two tabs, the back button, a resubmitted cart).

A shopper can approve two payments for one order: an old widget tab after a retry, a provider page
reached again with the back button. The first checkout attempt whose payment succeeded pays the order;
any later one is a duplicate and is undone at the provider at once, the way the route allows (cancel an
authorization, refund a capture), through the same PaymentOperation rows a merchant's action uses, so it
is idempotent and recorded in both payments' timelines. A route that can do neither leaves the duplicate
flagged for the merchant (admin's "duplicate payments" filter) with the reason.
"""
import logging

from django.db import transaction

from ..exceptions import PaymentError
from ..models import PaymentAttempt, PaymentEvent
from ..orders import order_book
from ..states import Status, record_event

log = logging.getLogger(__name__)
# Statuses in which a checkout attempt is what pays its order (a refunded one no longer does).
PAYING = (Status.AUTHORIZED, Status.CAPTURED, Status.PARTIALLY_REFUNDED)


def payer_of(order_id) -> PaymentAttempt | None:
    """The checkout attempt that paid the order first: the one whose success was recorded first."""
    first = (PaymentEvent.objects.filter(attempt__order_id=order_id, attempt__kind=PaymentAttempt.Kind.CHECKOUT,
                                         attempt__status__in=PAYING, kind=PaymentEvent.Kind.TRANSITION,
                                         to_status__in=PAYING)
             .order_by("id").select_related("attempt").first())
    return first.attempt if first else None


def checkout_duplicate_settle(*, attempt_id) -> bool:
    """If another checkout attempt paid this attempt's order first, undo this one. Returns True when the
    attempt is a duplicate (undone now, or flagged when the route cannot undo it).

    Decides under the order's row lock, so two payments succeeding at once agree on which came first;
    each attempt only ever undoes itself. Safe to call again (reconcile does, after a provider outage):
    the undo operations are keyed rows, and an undone attempt is no longer paying.
    """
    attempt = _paying_checkout(attempt_id)
    if attempt is None or not PaymentAttempt.objects.filter(
            order_id=attempt.order_id, kind=PaymentAttempt.Kind.CHECKOUT, status__in=PAYING).exclude(pk=attempt.pk).exists():
        # Safe without the lock: this attempt's success is committed, so any other payment committing
        # later sees it and settles itself.
        return False
    with transaction.atomic():
        order_book().lock_status(attempt.order_id)
        first = payer_of(attempt.order_id)
        if first is None or first.pk == attempt.pk:
            return False
        if _marked(attempt, first.pk, why=f"The order was already paid by {first.reference}: undoing this payment"):
            record_event(first.pk, kind="note", source="duplicate",
                         message=f"A second payment ({attempt.reference}) arrived for this already paid order; "
                                 "it is undone at the provider")
    _undo(attempt)
    return True


def checkout_withdrawn_settle(*, attempt_id) -> bool:
    """If the shop had withdrawn this attempt's order (the merchant cancelled the payment that paid it), undo
    this late payment (an old provider page paid after the withdrawal, probe G F8). Returns True when it was
    such a payment. Decided under the order's row lock; safe to call again, like checkout_duplicate_settle."""
    from ..orders import OrderPaymentStatus
    from ..selectors import withdrawn_payment_of

    attempt = _paying_checkout(attempt_id)
    if attempt is None:
        return False
    with transaction.atomic():
        if order_book().lock_status(attempt.order_id) != OrderPaymentStatus.CANCELLED:
            return False
        withdrawn = withdrawn_payment_of(attempt.order_id, besides=attempt.pk)
        if withdrawn is None:
            return False
        # Marked like a duplicate (of the payment the merchant cancelled), so reconcile retries a failed undo.
        _marked(attempt, withdrawn, why="The shop had withdrawn this order: undoing this payment")
    _undo(attempt, description="Payment for an order the shop had withdrawn")
    return True


def _paying_checkout(attempt_id) -> PaymentAttempt | None:
    """The attempt when it is a checkout payment that still pays (only such a one is ever undone here)."""
    attempt = PaymentAttempt.objects.get(pk=attempt_id)
    return attempt if attempt.kind == PaymentAttempt.Kind.CHECKOUT and attempt.status in PAYING else None


def _marked(attempt, standing_id, *, why) -> bool:
    """Mark `attempt` as standing behind payment `standing_id`, with `why` in its timeline, once; True the
    first time."""
    if attempt.duplicate_of_id is not None:
        return False
    PaymentAttempt.objects.filter(pk=attempt.pk).update(duplicate_of_id=standing_id)
    record_event(attempt.pk, kind="rejected", source="duplicate", message=why)
    return True


def _undo(attempt, *, description="Duplicate payment for an order already paid") -> None:
    from .order_management import OperationRefused, payment_undo

    try:
        undone = payment_undo(attempt, source="duplicate", description=description)
    except (OperationRefused, PaymentError) as exc:
        log.warning("duplicate payment %s not undone yet: %s", attempt.reference, exc)
        record_event(attempt.pk, kind="note", source="duplicate",
                     message=f"Undoing failed for now ({exc}); reconcile tries again"[:500])
        return
    if not undone:
        record_event(attempt.pk, kind="note", source="duplicate", dedupe_key="duplicate:manual",
                     message="This route cannot undo the payment from the shop: refund or cancel it at the provider")
