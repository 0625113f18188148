"""A renewal the provider charged while its subscriber was cancelling: the cancel committed after the status
was read for the charge and before the charge was recorded (payments.subscription_states reports it as
CANCELLED_MEANWHILE). The subscriber was told nothing more would be charged, so the cancel wins: the charge
is undone at once, through the same keyed operations a merchant's cancel or refund uses (payment_undo). A
route that can do neither keeps the charge, and the merchant is told to refund it at the provider.
"""
import logging

from ..exceptions import PaymentError
from ..models import PaymentAttempt, PaymentEvent, SubscriptionEvent
from ..providers.registry import get_adapter
from ..providers.types import Operation
from ..states import record_event

log = logging.getLogger(__name__)
# The event that marks a charge to undo; reconcile finds the ones whose undo failed by it (PaymentEvent's
# partial index paymentevent_renewal_voids names this key).
VOID_AFTER_CANCEL = "renewal:void-after-cancel"


def charged_after_cancel(charge, source) -> bool:
    """Record, in the caller's transaction (the one that records the payment, so a crash before the undo
    leaves it for reconcile), what becomes of a cycle charged while its subscription was being cancelled.
    True when it is to be undone (renewal_void, once the caller commits; no receipt then); False when the
    route cannot undo it: it stands, with its receipt, and both timelines tell the merchant to refund it."""
    operations = get_adapter(charge.subscription.route).capabilities.operations
    undoable = bool({Operation.CANCEL, Operation.REFUND} & operations)
    cycle = f"Cycle {charge.billing_cycle} was charged while the subscription was being cancelled"
    if undoable:
        subscription_note, kind, key = f"{cycle}: the charge is undone", "rejected", VOID_AFTER_CANCEL
        attempt_note = ("The subscriber cancelled while this renewal was being charged: it is undone, as they "
                        "were told nothing more would be charged")
    else:
        subscription_note = attempt_note = (f"{cycle}, and this route cannot undo it from the shop: refund it at the "
                                            "provider")
        kind, key = "note", f"{VOID_AFTER_CANCEL}:manual"
    SubscriptionEvent.objects.create(subscription_id=charge.subscription_id, kind="sync", source=source,
                                     message=subscription_note)
    record_event(charge.attempt.pk, kind=kind, source=source, dedupe_key=key, message=attempt_note)
    return undoable


def renewal_void(attempt_id, *, source) -> bool:
    """Undo a renewal charge marked VOID_AFTER_CANCEL (payment_undo). True when undone (or under way); a
    provider that cannot do it now leaves a note, and reconcile calls this again."""
    from .order_management import OperationRefused, payment_undo

    attempt = PaymentAttempt.objects.get(pk=attempt_id)
    try:
        undone = payment_undo(attempt, source=source, description="Renewal charged while the subscriber cancelled")
    except (OperationRefused, PaymentError) as exc:
        log.warning("renewal %s charged after its cancel not undone yet: %s", attempt.reference, exc)
        record_event(attempt.pk, kind="note", source=source,
                     message=f"Undoing failed for now ({exc}); reconcile tries again"[:500])
        return False
    if not undone:
        # Nothing left to cancel or refund (the merchant undid it already): the mark is settled.
        record_event(attempt.pk, kind="note", source=source, dedupe_key=f"{VOID_AFTER_CANCEL}:nothing",
                     message="Nothing left to undo on this renewal")
    return undone


def renewal_voids_retry() -> int:
    """Renewals charged while their subscriber cancelled whose undo failed earlier are tried again (reconcile)."""
    from .duplicates import PAYING

    pending = (PaymentEvent.objects.filter(dedupe_key=VOID_AFTER_CANCEL, attempt__status__in=PAYING)
               .values_list("attempt_id", flat=True))
    return sum(renewal_void(pk, source="reconcile") for pk in pending)
