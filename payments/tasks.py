"""Celery tasks: ids in, one service call, safe to run twice (DESIGN rule 8).

Only retryable provider errors (ProviderUnavailable) are retried, with bounded exponential backoff;
everything else is an outcome the service has already recorded.
"""
from celery import shared_task

from .exceptions import ProviderUnavailable

MAX_RETRIES = 6


def _backoff(retries: int) -> int:
    return min(600, 5 * 2 ** retries)


@shared_task(acks_late=True)
def reconcile_stuck_payments():
    from .services.reconcile import payments_reconcile

    report = payments_reconcile()
    return {"checked": report.checked, "settled": report.settled, "expired": report.expired}


@shared_task(acks_late=True)
def reapply_webhook(delivery_id):
    from .services.webhooks import webhook_apply

    return webhook_apply(delivery_id=delivery_id)


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def charge_upsell(self, upsell_id):
    """acks_late + the service's lease and read-back: a worker killed mid-call is harmless."""
    from .services.upsells import lease_length, upsell_charge

    try:
        outcome = upsell_charge(upsell_id=upsell_id)
    except ProviderUnavailable as exc:
        if self.request.is_eager:
            # No broker to retry through (laptop mode): reconcile_upsells settles it later.
            return "pending"
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc
    if outcome.state == "busy":
        # Another worker holds the lease, or a dead one did: come back when it has run out.
        raise self.retry(countdown=lease_length().total_seconds(), max_retries=MAX_RETRIES + 3)
    return outcome.state


@shared_task(acks_late=True)
def reconcile_upsells():
    from .services.upsells import upsells_reconcile

    return upsells_reconcile()


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def link_subscription(self, route, provider_id, order_id):
    from .services.subscriptions import subscription_link

    try:
        return subscription_link(route=route, provider_id=provider_id, order_id=order_id).pk
    except ProviderUnavailable as exc:
        if self.request.is_eager:
            return None  # reconcile links it from the next subscription webhook or read-back
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc


@shared_task(acks_late=True)
def reconcile_subscriptions():
    from .services.subscription_actions import subscriptions_reconcile

    return subscriptions_reconcile()


@shared_task(acks_late=True)
def run_dunning():
    from .services.dunning import subscriptions_dunning_run

    return subscriptions_dunning_run()


@shared_task(acks_late=True)
def check_due_subscriptions():
    """Fan out: one refresh task per subscription whose renewal date has passed."""
    from .services.subscription_actions import subscriptions_due

    due = subscriptions_due()
    for subscription_id in due:
        refresh_subscription.delay(subscription_id)
    return len(due)


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def refresh_subscription(self, subscription_id):
    from .services.subscription_actions import subscription_refresh

    try:
        return subscription_refresh(subscription_id=subscription_id).status
    except ProviderUnavailable as exc:
        if self.request.is_eager:
            return None
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc


@shared_task(acks_late=True)
def charge_due_subscriptions():
    """Fan out: one charge task per shop-run subscription whose renewal date has come."""
    from .services.renewals import subscriptions_charge_due

    due = subscriptions_charge_due()
    for subscription_id in due:
        charge_subscription.delay(subscription_id)
    return len(due)


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def charge_subscription(self, subscription_id):
    """Safe to retry: the charge row's idempotency key makes Klarna answer a retry with the first result."""
    from .services.renewals import subscription_charge

    try:
        return subscription_charge(subscription_id=subscription_id)
    except ProviderUnavailable as exc:
        if self.request.is_eager:
            return "unknown"
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc
