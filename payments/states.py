"""The one payment state machine. Nothing else assigns PaymentAttempt.status or Order.status.

transition() locks the attempt row, checks TRANSITIONS, writes a PaymentEvent and saves, all in one
database transaction. Re-applying the same provider event (same dedupe_key) or asking for the status the
attempt already has is a no-op, which is what makes return POSTs, webhooks and reconcile safe to repeat
and to race each other.
"""
from dataclasses import dataclass

from django.db import IntegrityError, models, transaction
from django.utils import timezone


class Status(models.TextChoices):
    CREATED = "created", "Created"
    PENDING = "pending", "Waiting for the shopper at the provider"
    AUTHORIZED = "authorized", "Authorized"
    CAPTURED = "captured", "Paid (captured)"
    FAILED = "failed", "Failed or declined"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
    REFUNDED = "refunded", "Refunded"


S = Status
SUCCESSFUL = frozenset({S.AUTHORIZED, S.CAPTURED, S.PARTIALLY_REFUNDED, S.REFUNDED})
# Still waiting for an outcome: the reconcile task re-reads these from the provider.
IN_BETWEEN = frozenset({S.CREATED, S.PENDING})

TRANSITIONS = {
    S.CREATED: {S.PENDING, S.AUTHORIZED, S.CAPTURED, S.FAILED, S.CANCELLED},
    S.PENDING: {S.AUTHORIZED, S.CAPTURED, S.FAILED, S.CANCELLED, S.EXPIRED},
    S.AUTHORIZED: {S.CAPTURED, S.CANCELLED, S.EXPIRED, S.PARTIALLY_REFUNDED, S.REFUNDED},
    S.CAPTURED: {S.PARTIALLY_REFUNDED, S.REFUNDED},
    S.PARTIALLY_REFUNDED: {S.PARTIALLY_REFUNDED, S.REFUNDED},
    # A provider-confirmed success after we had given up (the shopper paid in another tab, a webhook
    # arrived late): money was taken, so the books must say so.
    S.FAILED: {S.AUTHORIZED, S.CAPTURED},
    S.EXPIRED: {S.AUTHORIZED, S.CAPTURED},
    S.CANCELLED: set(),
    S.REFUNDED: set(),
}


class InvalidTransition(Exception):
    """Raised by transition(strict=True) when TRANSITIONS does not allow the change."""


@dataclass(frozen=True)
class TransitionResult:
    attempt: object
    changed: bool
    reason: str = ""


def transition(attempt_id, to_status, *, source, dedupe_key=None, message="", payload=None,
               provider_reference=None, failure_reason=None, strict=False, fields=None) -> TransitionResult:
    """Move attempt `attempt_id` to `to_status`, recording why.

    Locks the attempt row (select_for_update) for the whole change. Idempotent: a dedupe_key already
    recorded for this attempt, or a transition to the current status, changes nothing. A transition the
    table forbids is recorded as an IGNORED event (the merchant sees it in the timeline) and returns
    changed=False, or raises InvalidTransition when strict. `fields` (attempt columns, e.g. where the
    shopper is sent) are saved with the change, in the same statement.
    """
    from .models import PaymentAttempt, PaymentEvent

    to_status = Status(to_status)
    with transaction.atomic():
        attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt_id)
        if dedupe_key and attempt.events.filter(dedupe_key=dedupe_key).exists():
            return TransitionResult(attempt, False, "already applied")
        if provider_reference and not attempt.provider_reference:
            attempt.provider_reference = provider_reference
        current = Status(attempt.status)
        if to_status == current:
            if provider_reference:
                attempt.save(update_fields=["provider_reference", "updated_at"])
            return TransitionResult(attempt, False, "already in that status")
        if to_status not in TRANSITIONS[current]:
            reason = f"{current} → {to_status} is not allowed"
            if strict:
                raise InvalidTransition(reason)
            _record(attempt, PaymentEvent.Kind.IGNORED, source, current, to_status,
                    f"{reason}. {message}".strip(), dedupe_key, payload)
            return TransitionResult(attempt, False, reason)
        attempt.status = to_status
        columns = ["status", "provider_reference", "updated_at"]
        if failure_reason is not None:
            attempt.failure_reason = failure_reason[:255]
            columns.append("failure_reason")
        for name, value in (fields or {}).items():
            setattr(attempt, name, value)
            columns.append(name)
        attempt.save(update_fields=columns)
        _record(attempt, PaymentEvent.Kind.TRANSITION, source, current, to_status, message,
                dedupe_key, payload)
        _sync_order(attempt)
        return TransitionResult(attempt, True)


def record_new_event(attempt, *, kind, source, message="", payload=None):
    """The first events of an attempt created in the caller's transaction: no one else can see the row
    yet, so there is nothing to lock and no key to dedupe."""
    _record(attempt, kind, source, attempt.status, attempt.status, message, None, payload)


def record_event(attempt_id, *, kind, source, message="", payload=None, dedupe_key=None):
    """Append a non-transition event (a note, a rejected forgery) to an attempt's timeline.

    Returns False when an event with the same dedupe_key already exists.
    """
    from .models import PaymentAttempt

    with transaction.atomic():
        attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt_id)
        try:
            with transaction.atomic():
                _record(attempt, kind, source, attempt.status, attempt.status, message, dedupe_key,
                        payload)
        except IntegrityError:
            return False
    return True


def _record(attempt, kind, source, from_status, to_status, message, dedupe_key, payload):
    from .models import PaymentEvent

    PaymentEvent.objects.create(
        attempt=attempt, kind=kind, source=source, from_status=from_status, to_status=to_status,
        message=(message or "")[:500], dedupe_key=dedupe_key, payload=payload,
    )


def _sync_order(attempt):
    """Derive the order's status from its attempts: paid as soon as any attempt succeeded.

    Runs inside transition()'s transaction with the order row locked (through the shop's OrderBook), so
    two attempts finishing at once cannot both decide the order's fate from a stale view.
    """
    from .models import PaymentAttempt
    from .orders import OrderPaymentStatus, order_book

    book = order_book()
    current = book.lock_status(attempt.order_id)
    if current == OrderPaymentStatus.PENDING and attempt.status in IN_BETWEEN:
        # Still waiting: had any attempt succeeded, its own transition would have made the order paid.
        return
    statuses = set(PaymentAttempt.objects.filter(order_id=attempt.order_id).values_list("status", flat=True))
    if statuses & SUCCESSFUL:
        new = OrderPaymentStatus.PAID
    elif statuses & IN_BETWEEN:
        new = OrderPaymentStatus.PENDING
    elif statuses == {S.CANCELLED}:
        new = OrderPaymentStatus.CANCELLED
    else:
        new = OrderPaymentStatus.PAYMENT_FAILED
    if new != current:
        book.set_payment_status(attempt.order_id, new)


# --- Subscriptions ------------------------------------------------------------------------------------
# The provider runs a subscription's life; we mirror it. Cancelled is terminal, so a stale read or a
# late webhook can never bring a cancelled subscription back.
SUBSCRIPTION_TRANSITIONS = {
    "active": {"past_due", "retrying", "paused", "canceled"},
    "past_due": {"active", "retrying", "canceled", "paused"},
    "retrying": {"active", "past_due", "canceled"},
    "paused": {"active", "canceled"},
    "canceled": set(),
}


def subscription_transition(subscription_id, to_status, *, source, message="", payload=None,
                            dedupe_key=None, **fields) -> TransitionResult:
    """Set a subscription's status (and other mirrored `fields`), recording a SubscriptionEvent.

    Locks the subscription row. A forbidden move is recorded as ignored and changes nothing; a
    repeated dedupe_key is a no-op. `fields` are saved along with the status.
    """
    from .models import Subscription, SubscriptionEvent

    with transaction.atomic():
        sub = Subscription.objects.select_for_update().get(pk=subscription_id)
        if dedupe_key and sub.events.filter(dedupe_key=dedupe_key).exists():
            return TransitionResult(sub, False, "already applied")
        current = sub.status
        if to_status != current and to_status not in SUBSCRIPTION_TRANSITIONS.get(current, set()):
            SubscriptionEvent.objects.create(
                subscription=sub, kind="ignored", source=source, dedupe_key=dedupe_key, payload=payload,
                message=f"{current} → {to_status} is not allowed. {message}"[:500])
            return TransitionResult(sub, False, "not allowed")
        changed_fields = [name for name, value in fields.items() if getattr(sub, name) != value]
        for name in changed_fields:
            setattr(sub, name, fields[name])
        if to_status != current:
            sub.status = to_status
            if to_status == "past_due" and sub.past_due_since is None:
                sub.past_due_since = timezone.now()
            if to_status == "active":
                sub.past_due_since, sub.dunning_step = None, 0
        sub.save()
        if to_status != current or changed_fields or message:
            text = message or (f"{current} → {to_status}" if to_status != current else
                               "updated " + ", ".join(changed_fields))
            SubscriptionEvent.objects.create(
                subscription=sub, kind="status" if to_status != current else "sync", source=source,
                dedupe_key=dedupe_key, payload=payload, message=text[:500])
        return TransitionResult(sub, to_status != current or bool(changed_fields))
