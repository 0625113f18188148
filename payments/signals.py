"""Payment events the rest of the project may react to (the shop sends its emails from these).

payments never imports the shop (DESIGN rule 1), so it announces what happened and lets listeners act.
Each signal is sent only after the transaction that made the event true has committed
(`send_on_commit`): a listener never sees an event that a rollback undid, and a listener's failure can
never undo the payment. Arguments are plain ids, so listeners read the committed rows themselves.
Services may send the same event more than once (a repeated webhook, a retried task); listeners must be
idempotent, keyed on the event (the shop keys its email rows on these ids).
"""
import logging

from django.db import transaction
from django.dispatch import Signal

log = logging.getLogger(__name__)

# A checkout payment succeeded: order_id, attempt_id.
checkout_paid = Signal()
# A one-click upsell was charged and added to its order: upsell_id, order_id.
upsell_added = Signal()
# One billing cycle of a subscription was paid: charge_id (SubscriptionCharge), subscription_id, and the
# subscriber's email when the sender has it (saves the listener a read).
renewal_paid = Signal()
# Many billing cycles were paid together (the renewal batch): renewals, a list of dicts with charge_id,
# subscription_id and email, one per cycle; a listener may handle them in bulk.
renewals_paid = Signal()
# A renewal was declined: subscription_id, billing_cycle, failures (count so far for that cycle).
renewal_failed = Signal()
# A subscription was cancelled (by the subscriber, the merchant, dunning or the provider): subscription_id.
subscription_cancelled = Signal()
# Money went back to the shopper: operation_id (PaymentOperation), attempt_id, amount.
refund_issued = Signal()


def send_on_commit(signal: Signal, **kwargs) -> None:
    """Send `signal` once the current transaction commits (at once outside one).

    send_robust: a broken listener is logged and never reaches the payment code that announced the event.
    """
    def send():
        for receiver, result in signal.send_robust(sender=None, **kwargs):
            if isinstance(result, Exception):
                log.error("listener %r failed on a payment event: %r", receiver, result)

    transaction.on_commit(send)
