"""The subscriptions' state machine: nothing else assigns Subscription.status (payments.states holds the
payments', whose rules these follow: a row lock, a recorded event, compare-and-set where a caller has just
read the row).
"""
from django.db import models, transaction
from django.utils import timezone

from common.db import per_row

from .statuses import SUBSCRIPTION_TRANSITIONS, Renewed, TransitionResult

# The provider runs a provider-run subscription's life and we mirror it; for a shop-run one the shop's
# renewals move it. Cancelled is terminal, so a stale read or a late webhook can never bring a cancelled
# subscription back (statuses.SUBSCRIPTION_TRANSITIONS). Every change records a SubscriptionEvent in the
# same transaction.


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


CANCELLED_MEANWHILE = "cancelled meanwhile"  # the subscriber cancelled while the cycle was being charged


def subscription_renewed(sub, *, next_renewal_at, source, message) -> TransitionResult:
    """A paid cycle of an active subscription (`sub` as the caller read it, unlocked): its next renewal
    date moved to `next_renewal_at` and the event recorded, in the caller's transaction.

    One UPDATE … WHERE status = active AND next_renewal_at = <the date read>: it takes the row lock and proves
    nobody changed the subscription since (a duplicate charge task, a cancel, a merchant's new date); then
    the date moves on once only. When it did change, _renewed_after_change decides instead.
    """
    from .models import Subscription, SubscriptionEvent

    if Subscription.objects.filter(pk=sub.pk, status=Subscription.Status.ACTIVE,
                                   next_renewal_at=sub.next_renewal_at).update(
            next_renewal_at=next_renewal_at, updated_at=timezone.now()):
        SubscriptionEvent.objects.create(subscription=sub, kind="sync", source=source, message=message[:500])
        return TransitionResult(sub, True)
    return _renewed_after_change(sub, next_renewal_at, source=source, message=message)


def _renewed_after_change(sub, next_renewal_at, *, source, message) -> TransitionResult:
    """A paid cycle of a subscription somebody changed since `sub` was read. Still active under another
    date: that date was set meanwhile (a merchant's reschedule) and stands. Cancelled: nothing moves, the
    reason is CANCELLED_MEANWHILE (the caller undoes the charge). Otherwise the locked subscription_transition
    decides, moving the date on from the one read."""
    from .models import Subscription

    current = (Subscription.objects.select_for_update().filter(pk=sub.pk)
               .values_list("status", "next_renewal_at").first())
    if current is not None and current[0] == Subscription.Status.CANCELED:
        return TransitionResult(sub, False, CANCELLED_MEANWHILE)
    if current is not None and current[0] == Subscription.Status.ACTIVE and current[1] != sub.next_renewal_at:
        return subscription_transition(sub.pk, "active", source=source,
                                       message=f"{message}; the next renewal date set meanwhile is kept")
    return subscription_transition(sub.pk, "active", source=source, next_renewal_at=next_renewal_at,
                                   message=message)


def subscriptions_renewed(renewals: list[Renewed], *, source) -> set[int]:
    """subscription_renewed() for many subscriptions, in the caller's transaction; returns the ids of those
    found cancelled (CANCELLED_MEANWHILE).

    Locks them (pk order); those still active on the date read move on in one UPDATE, with their events
    in one INSERT; one somebody changed meanwhile (a cancel, a merchant's new date) is decided as
    subscription_renewed decides for one. A single renewal is subscription_renewed's compare-and-set.
    """
    from .models import Subscription, SubscriptionEvent

    if len(renewals) <= 1:
        return {r.subscription.pk for r in renewals
                if subscription_renewed(r.subscription, next_renewal_at=r.next_renewal_at, source=source,
                                        message=r.message).reason == CANCELLED_MEANWHILE}
    with transaction.atomic(savepoint=False):
        current = {pk: (status, date) for pk, status, date in Subscription.objects.select_for_update()
                   .filter(pk__in=[r.subscription.pk for r in renewals]).order_by("pk")
                   .values_list("pk", "status", "next_renewal_at")}
        fast, slow = [], []
        for r in renewals:
            sub = r.subscription
            ok = (sub.next_renewal_at is not None
                  and current.get(sub.pk) == (Subscription.Status.ACTIVE, sub.next_renewal_at))
            (fast if ok else slow).append(r)
        if fast:
            Subscription.objects.filter(pk__in=[r.subscription.pk for r in fast]).update(
                next_renewal_at=per_row([(r.subscription.pk, r.next_renewal_at) for r in fast],
                                         models.DateTimeField()),
                updated_at=timezone.now())
            SubscriptionEvent.objects.bulk_create(
                SubscriptionEvent(subscription=r.subscription, kind="sync", source=source, message=r.message[:500])
                for r in fast)
        cancelled = {r.subscription.pk for r in slow if current[r.subscription.pk][0] == Subscription.Status.CANCELED}
        for r in (r for r in slow if r.subscription.pk not in cancelled):
            _renewed_after_change(r.subscription, r.next_renewal_at, source=source, message=r.message)
        return cancelled
