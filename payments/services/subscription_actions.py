"""What merchants (admin) and subscribers (their signed page) can do to a subscription, and the
periodic read-back that keeps every mirror in step with the provider."""
import logging
from datetime import datetime, timedelta

from django.utils import timezone

from ..exceptions import InvalidReturn, PaymentError, ProviderError
from ..models import Subscription, SubscriptionEvent
from ..providers.registry import get_adapter
from ..states import subscription_transition
from .subscriptions import subscription_sync

log = logging.getLogger(__name__)

CANCEL_REASONS = {
    "not_satisfied_with_product": "Not satisfied with the product",
    "product_too_expensive": "Too expensive",
    "cancel_recurring": "No longer needed",
    "unwanted_subscription": "Did not want a subscription",
    "recurring_payment_declined": "Recurring payment declined",
    "disputed_cancel_recurring": "Disputed",
    "schedule_ended": "Schedule ended",
    "other": "Other",
}


class SubscriptionActionError(PaymentError):
    shopper_message = "We could not change your subscription right now. Please try again later."


def _act(subscription_id, action: str, call, *, source: str, message: str) -> Subscription:
    sub = Subscription.objects.get(pk=subscription_id)
    try:
        info = call(get_adapter(sub.route), sub)
    except (ProviderError, InvalidReturn) as exc:
        SubscriptionEvent.objects.create(subscription=sub, kind=f"{action}_failed", source=source,
                                         message=f"{message}: {exc}"[:500])
        raise SubscriptionActionError(f"{action} of subscription {sub.provider_id} failed: {exc}") from exc
    SubscriptionEvent.objects.create(subscription=sub, kind=action, source=source, message=message[:500])
    return subscription_sync(subscription=sub, info=info, source=source)


def _shop_run(subscription_id) -> bool:
    sub = Subscription.objects.get(pk=subscription_id)
    return get_adapter(sub.route).renewals_by == "shop"


def _charge_now(subscription_id, *, source, message) -> Subscription:
    from .renewals import subscription_charge

    sub = Subscription.objects.get(pk=subscription_id)
    SubscriptionEvent.objects.create(subscription=sub, kind="charge", source=source, message=message)
    try:
        outcome = subscription_charge(subscription_id=subscription_id, source=source, force=True)
    except (ProviderError, InvalidReturn) as exc:
        raise SubscriptionActionError(f"charging subscription {sub.provider_id} failed: {exc}") from exc
    if outcome == "skipped":
        raise SubscriptionActionError("this subscription cannot be charged now")
    sub.refresh_from_db()
    return sub


def subscription_renew_now(*, subscription_id, source="admin") -> Subscription:
    """Renew now: 29 Next's /renew/ (active only), or our own charge on the customer token."""
    if _shop_run(subscription_id):
        return _charge_now(subscription_id, source=source, message="Renewal charged now")
    return _act(subscription_id, "renew", lambda a, s: a.subscription_renew(s.provider_id),
                source=source, message="Renewal requested now")


def subscription_retry(*, subscription_id, source="admin") -> Subscription:
    """Retry a past-due subscription's payment (29 Next: /retry/; Klarna: the open cycle again)."""
    if _shop_run(subscription_id):
        return _charge_now(subscription_id, source=source, message="Payment retried")
    return _act(subscription_id, "retry", lambda a, s: a.subscription_retry(s.provider_id),
                source=source, message="Payment retry requested")


def subscription_cancel(*, subscription_id, reason: str, message: str = "", source="admin") -> Subscription:
    """Cancel at the provider with one of its reasons; cancelled is final."""
    if reason not in CANCEL_REASONS:
        raise SubscriptionActionError(f"unknown cancel reason {reason!r}")
    sub = Subscription.objects.get(pk=subscription_id)
    if sub.is_canceled:
        return sub
    if _shop_run(subscription_id):
        return _cancel_token(sub, reason=reason, message=message, source=source)
    return _act(subscription_id, "cancel",
                lambda a, s: a.subscription_cancel(s.provider_id, reason=reason, message=message),
                source=source, message=f"Cancelled: {CANCEL_REASONS[reason]}. {message}".strip())


def subscription_reschedule(*, subscription_id, when: datetime, source="admin") -> Subscription:
    """Move the next renewal date (a past date makes the provider renew soon)."""
    if _shop_run(subscription_id):
        subscription_transition(subscription_id, Subscription.objects.get(pk=subscription_id).status, source=source,
                                next_renewal_at=when, message=f"Next renewal moved to {when.isoformat()}")
        return Subscription.objects.get(pk=subscription_id)
    return _act(subscription_id, "reschedule", lambda a, s: a.subscription_reschedule(s.provider_id, when),
                source=source, message=f"Next renewal moved to {when.isoformat()}")


def _cancel_token(sub, *, reason, message, source) -> Subscription:
    """Shop-run subscription: cancel the customer token at the provider, then here (final)."""
    if sub.customer_token:
        try:
            get_adapter(sub.route).cancel_customer_token(sub.customer_token)
        except (ProviderError, InvalidReturn) as exc:
            if getattr(exc, "http_status", None) != 404:
                raise SubscriptionActionError(f"cancelling the token failed: {exc}") from exc
    subscription_transition(sub.pk, "canceled", source=source, cancel_reason=reason, next_renewal_at=None,
                            message=f"Cancelled: {CANCEL_REASONS[reason]}. {message}".strip())
    return Subscription.objects.get(pk=sub.pk)


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
    from ..providers.registry import _factories

    return [key for key in _factories() if get_adapter(key).renewals_by == "provider"]
