"""What merchants (admin) and subscribers (their signed page) can do to a subscription, and the
periodic read-back that keeps every mirror in step with the provider."""
import logging
from datetime import datetime, timedelta

from django.utils import timezone

from ..exceptions import InvalidReturn, ProviderError
from ..models import Subscription
from ..providers.registry import get_adapter
from ..providers.types import Renewals
from ..signals import send_on_commit, subscription_cancelled
from .renewal_strategies import CANCEL_REASONS, SubscriptionActionError, routes_renewed_by, strategy_for
from .subscriptions import subscription_sync

log = logging.getLogger(__name__)
__all__ = ["CANCEL_REASONS", "SubscriptionActionError", "subscription_cancel", "subscription_renew_now",
           "subscription_reschedule", "subscription_retry", "subscriptions_due", "subscriptions_reconcile"]


def subscription_actions_allowed(sub: Subscription) -> list[str]:
    """The merchant actions a subscription's state allows: renew an active one, retry a past-due one,
    cancel or reschedule any that is not cancelled. Admin offers only these; the services refuse the rest."""
    if sub.is_canceled:
        return []
    allowed = {"renew": sub.status == Subscription.Status.ACTIVE, "retry": sub.status == Subscription.Status.PAST_DUE,
               "cancel": True, "reschedule": True}
    return [action for action, ok in allowed.items() if ok]


def subscription_renew_now(*, subscription_id, source="admin") -> Subscription:
    """Renew now: the provider's own renewal, or our charge on the stored token (strategy_for)."""
    sub = Subscription.objects.get(pk=subscription_id)
    if sub.status != Subscription.Status.ACTIVE:
        raise SubscriptionActionError(f"only an active subscription can be renewed now (this one is {sub.status})")
    return strategy_for(sub.route).renew_now(sub, source=source)


def subscription_retry(*, subscription_id, source="admin") -> Subscription:
    """Retry a past-due subscription's payment. Refused for any other state: on an active subscription
    it would charge a cycle early."""
    sub = Subscription.objects.get(pk=subscription_id)
    if sub.status != Subscription.Status.PAST_DUE:
        raise SubscriptionActionError(f"only a past-due subscription can be retried (this one is {sub.status})")
    return strategy_for(sub.route).retry(sub, source=source)


def subscription_cancel(*, subscription_id, reason: str, message: str = "", source="admin") -> Subscription:
    """Cancel with one of the provider's reasons; cancelled is final (a second cancel changes nothing)."""
    if reason not in CANCEL_REASONS:
        raise SubscriptionActionError(f"unknown cancel reason {reason!r}")
    sub = Subscription.objects.get(pk=subscription_id)
    if sub.is_canceled:
        return sub
    cancelled = strategy_for(sub.route).cancel(sub, reason=reason, message=message, source=source)
    send_on_commit(subscription_cancelled, subscription_id=sub.pk)
    return cancelled


def subscription_reschedule(*, subscription_id, when: datetime, source="admin") -> Subscription:
    """Move the next renewal date (a past date makes the provider renew soon)."""
    sub = Subscription.objects.get(pk=subscription_id)
    return strategy_for(sub.route).reschedule(sub, when, source=source)


def subscriptions_reconcile(*, older_than=3600, limit=500) -> int:
    """Re-read subscriptions not synced for `older_than` seconds; returns how many were read."""
    cutoff = timezone.now() - timedelta(seconds=older_than)
    stale = (Subscription.objects.exclude(status=Subscription.Status.CANCELED).filter(route__in=_provider_run())
             .filter(provider_synced_at__lte=cutoff).order_by("provider_synced_at")[:limit])
    read = 0
    for sub in stale:
        try:
            subscription_sync(subscription=sub, info=get_adapter(sub.route).fetch_subscription(sub.provider_id),
                              source="reconcile")
            read += 1
        except (ProviderError, InvalidReturn) as exc:
            log.warning("subscription %s not reconciled: %s", sub.provider_id, exc)
    return read


def subscriptions_due(*, now=None) -> list[int]:
    """Active subscriptions whose renewal date has passed: the provider should have renewed them, so
    the shop reads each back now rather than waiting for a webhook that may never come."""
    now = now or timezone.now()
    return list(Subscription.objects.filter(status=Subscription.Status.ACTIVE, next_renewal_at__lte=now,
                                            route__in=_provider_run())
                .exclude(provider_synced_at__gte=now).values_list("pk", flat=True))


def subscription_refresh(*, subscription_id, source="renewal-check") -> Subscription:
    """Read one subscription back from the provider and record what changed (renewals included).
    Raises ProviderError for the task to retry."""
    sub = Subscription.objects.get(pk=subscription_id)
    return subscription_sync(subscription=sub, info=get_adapter(sub.route).fetch_subscription(sub.provider_id),
                             source=source)


def _provider_run() -> list[str]:
    """Routes whose provider runs (and can be asked about) its subscriptions."""
    return routes_renewed_by(Renewals.PROVIDER)
