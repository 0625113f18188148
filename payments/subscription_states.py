"""A subscription's state machine: its statuses, one transition table, and the two ways its row changes.

The provider runs a provider-run subscription's life and we mirror it; for a shop-run one the shop's
renewals move it. Cancelled is terminal, so a stale read or a late webhook can never bring a cancelled
subscription back. Every change records a SubscriptionEvent in the same transaction.
"""
from django.db import transaction
from django.utils import timezone

from .states import TransitionResult

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


def subscription_renewed(sub, *, next_renewal_at, source, message) -> TransitionResult:
    """A paid cycle of an active subscription (`sub` as the caller read it, unlocked): its next renewal
    date moved to `next_renewal_at` and the event recorded, in the caller's transaction.

    One UPDATE … WHERE status = active AND next_renewal_at = <the date read>: it takes the row lock and proves
    nobody changed the subscription since (a duplicate charge task, a cancel, a merchant's new date); then
    the date moves on once only. When it did change, the locked subscription_transition decides instead.
    """
    from .models import Subscription, SubscriptionEvent

    if Subscription.objects.filter(pk=sub.pk, status=Subscription.Status.ACTIVE,
                                   next_renewal_at=sub.next_renewal_at).update(
            next_renewal_at=next_renewal_at, updated_at=timezone.now()):
        SubscriptionEvent.objects.create(subscription=sub, kind="sync", source=source, message=message[:500])
        return TransitionResult(sub, True)
    return subscription_transition(sub.pk, "active", source=source, next_renewal_at=next_renewal_at,
                                   message=message)
