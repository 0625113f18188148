"""Celery tasks: ids in, one service call, safe to run twice (DESIGN rule 8).

Only retryable provider errors (ProviderUnavailable) are retried, with bounded exponential backoff;
everything else is an outcome the service has already recorded. In eager mode (no broker, a laptop)
there is nothing to retry through: the periodic reconcile tasks finish the work instead.
"""
from celery import shared_task
from celery.signals import task_postrun, task_prerun

from .exceptions import ProviderUnavailable
from .providers.budget import enter_background, leave_background

MAX_RETRIES = 6
# Opened cycles per charge_renewals task: enough that the per-task and per-transaction costs (Celery's
# handling of the message, BEGIN/COMMIT, the lock reads, the email task) are shared by many charges, few
# enough that C processes all get work (N / RENEWAL_CHUNK tasks) and one task's POSTs, made one after the
# other, take about a second at 50 ms each. bench/renewals.py --shop-run --chunk (N = 1,000, C = 16, 2
# busy cores) gave shop CPU per charge and wall: 16 → 5.3–7.3 ms, 5.8–7.5 s; 20 → 6.0 ms, 6.7 s;
# 25 → 4.9–6.5 ms, 6.2–7.1 s; 40 → 5.4 ms, 7.0 s. Within this machine's noise; 25 the least CPU.
RENEWAL_CHUNK = 25
# How long an eager upsell charge (make run: no worker) waits in the shopper's request for another upsell of its
# order to finish: its own provider call still has to fit in the web worker's 30 s timeout.
EAGER_UPSELL_WAIT = 8
# How long one subscription-sweep task reads pages before it queues the rest (see sweep_subscriptions).
SWEEP_TASK_SECONDS = 60


_background_tokens = {}


@task_prerun.connect
def _calls_are_background(task_id=None, task=None, **kwargs):
    """Provider calls of a worker's task yield to shoppers' calls in the provider's rate budget
    (payments.providers.budget), unless a shopper is waiting on that task (`shopper_waits`). An eager task
    runs inside the request that queued it and keeps that request's priority."""
    if task is not None and not task.request.is_eager and not getattr(task, "shopper_waits", False):
        _background_tokens[task_id] = enter_background()


@task_postrun.connect
def _calls_end_background(task_id=None, **kwargs):
    token = _background_tokens.pop(task_id, None)
    if token is not None:
        leave_background(token)


def _backoff(retries: int) -> int:
    return min(600, 5 * 2 ** retries)


def _retrying(task, call, *, eager_result=None):
    """Run `call`; on a provider outage retry the task later (or give `eager_result` in eager mode)."""
    try:
        return call()
    except ProviderUnavailable as exc:
        if task.request.is_eager:
            return eager_result
        raise task.retry(exc=exc, countdown=_backoff(task.request.retries)) from exc


def _fan_out(ids, task) -> int:
    for item in ids:
        task.delay(item)
    return len(ids)


def _fan_out_chunks(ids, task, size) -> int:
    for start in range(0, len(ids), size):
        task.delay(ids[start:start + size])
    return len(ids)


@shared_task(acks_late=True)
def reconcile_stuck_payments():
    from .services.reconcile import payments_reconcile

    report = payments_reconcile()
    return {"checked": report.checked, "settled": report.settled, "expired": report.expired}


@shared_task(acks_late=True)
def issue_customer_tokens():
    from .services.customer_tokens import subscriptions_issue_tokens

    return subscriptions_issue_tokens()


@shared_task(acks_late=True)
def book_dashboard_operations():
    """Captures and refunds made in a silent provider's own dashboard, read and booked (hourly)."""
    from .services.provider_figures import authorizations_book_dashboard

    return authorizations_book_dashboard()


@shared_task(acks_late=True)
def reapply_webhook(delivery_id):
    from .services.inbound import inbound_apply

    return inbound_apply(delivery_id=delivery_id)


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES, shopper_waits=True)
def charge_upsell(self, upsell_id):
    """acks_late + the service's lease and read-back: a worker killed mid-call is harmless."""
    from .services.upsells import lease_length, upsell_charge

    # Eager mode has no retry to come back with, so the shopper's request itself waits its turn behind
    # another upsell of the order (one provider call, at most a lease).
    # At most EAGER_UPSELL_WAIT: the shopper's request must end well inside the web worker's timeout (an upsell
    # still waiting then is "being added" and the reconcile task charges it).
    wait = min(lease_length().total_seconds(), EAGER_UPSELL_WAIT) if self.request.is_eager else 0
    outcome = _retrying(self, lambda: upsell_charge(upsell_id=upsell_id, wait=wait))
    if outcome is None:
        return "pending"
    if outcome.state == "busy":
        # Another worker holds the lease, or a dead one did: come back when it has run out.
        raise self.retry(countdown=lease_length().total_seconds(), max_retries=MAX_RETRIES + 3)
    if outcome.state == "waiting" and not self.request.is_eager:
        # Another upsell of the order is being charged: one provider call, so come back soon. (In eager
        # mode, still waiting after a lease: the reconcile task charges it.)
        raise self.retry(countdown=_backoff(self.request.retries), max_retries=MAX_RETRIES + 3)
    return outcome.state


@shared_task(acks_late=True)
def reconcile_upsells():
    from .services.upsells import upsells_reconcile

    return upsells_reconcile()


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def link_subscription(self, route, provider_id, order_id):
    from .services.subscriptions import subscription_link

    linked = _retrying(self, lambda: subscription_link(route=route, provider_id=provider_id, order_id=order_id))
    return linked.pk if linked else None


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def align_subscription_price(self, subscription_id):
    """Set a provider-run subscription's renewal price to the advertised one (retried while unreachable)."""
    from .services.subscription_prices import subscription_price_align

    return _retrying(self, lambda: subscription_price_align(subscription_id=subscription_id))


@shared_task(acks_late=True)
def align_subscription_prices():
    """One align_subscription_price per live subscription whose provider price is not the advertised one."""
    from .services.subscription_prices import subscriptions_mispriced

    return _fan_out(list(subscriptions_mispriced().values_list("pk", flat=True)), align_subscription_price)


@shared_task(acks_late=True)
def reconcile_subscriptions():
    """A sweep per provider-run route for mirrors not read for an hour (webhooks that never came)."""
    from datetime import timedelta

    from django.utils import timezone

    from .services.subscription_actions import provider_run_routes

    cutoff = (timezone.now() - timedelta(hours=1)).isoformat()
    for route in provider_run_routes():
        sweep_subscriptions.delay(route, "stale", cutoff)
    return len(provider_run_routes())


@shared_task(acks_late=True)
def run_dunning():
    from .services.dunning import subscriptions_dunning_run

    return subscriptions_dunning_run()


@shared_task(acks_late=True)
def check_due_subscriptions():
    """One sweep per provider-run route with due subscriptions (by the page, not one task and one call per
    subscription); returns how many are due."""
    from django.utils import timezone

    from .services.subscription_actions import subscriptions_due

    cutoff = timezone.now()
    due = subscriptions_due(now=cutoff)
    for route in due:
        sweep_subscriptions.delay(route, "due", cutoff.isoformat())
    return sum(due.values())


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def sweep_subscriptions(self, route, scope, cutoff, cursor=None):
    """Sweep for about SWEEP_TASK_SECONDS, then queue the rest from the cursor reached, so a deploy or a
    killed worker loses at most that much reading (acks_late runs a lost chunk again; reading is
    idempotent). Eagerly (no broker) the whole sweep runs in one call."""
    from datetime import datetime

    from .services.subscription_sweep import subscriptions_sweep

    seconds = None if self.request.is_eager else SWEEP_TASK_SECONDS
    progress = _retrying(self, lambda: subscriptions_sweep(route=route, scope=scope, cursor=cursor,
                                                           cutoff=datetime.fromisoformat(cutoff), seconds=seconds))
    if progress is None:
        return None
    if progress.cursor:
        sweep_subscriptions.delay(route, scope, cutoff, progress.cursor)
    return progress.read


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def refresh_subscription(self, subscription_id):
    """One subscription read back (kept for tasks queued before sweeps replaced the fan-out)."""
    from .services.subscription_actions import subscription_refresh

    refreshed = _retrying(self, lambda: subscription_refresh(subscription_id=subscription_id))
    return refreshed.status if refreshed else None


@shared_task(acks_late=True)
def charge_due_subscriptions():
    """Open the due shop-run cycles by the batch (renewal_open), then queue one charge_renewals task per
    RENEWAL_CHUNK cycles once its batch has committed; subscriptions the batch path leaves alone go through
    charge_subscription. Returns how many cycles and subscriptions were queued."""
    from .services.renewal_open import renewals_open_due

    after, queued = 0, 0
    while True:
        found = renewals_open_due(after_pk=after)
        if found.last_pk is None:
            return queued
        queued += (_fan_out_chunks(found.charges, charge_renewals, RENEWAL_CHUNK)
                   + _fan_out(found.legacy, charge_subscription))
        after = found.last_pk


@shared_task(bind=True, acks_late=True)
def charge_renewals(self, charge_ids):
    """A chunk of opened cycles charged, one provider POST each, and recorded together; safe to run twice
    (the rows' keys, the compare-and-sets). A charge whose outcome the provider left unknown goes on
    alone, as charge_renewal after a backoff, under the same key; the others are not held back by it.
    Eagerly (no broker) it is left to the beat, which queues an open cycle again once it is overdue."""
    from .services.renewals import renewals_charge

    batch = renewals_charge(charge_ids=charge_ids)
    if not self.request.is_eager:
        for charge_id in batch.unavailable:
            charge_renewal.apply_async(args=[charge_id], countdown=_backoff(0))
    return batch.outcomes


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def charge_renewal(self, charge_id):
    """One opened cycle charged; safe to retry or to run twice (the row's key, the compare-and-sets)."""
    from .services.renewals import renewal_charge

    return _retrying(self, lambda: renewal_charge(charge_id=charge_id), eager_result="unknown")


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def charge_subscription(self, subscription_id):
    """One subscription's open or due cycle, opened and charged one by one (admin, dunning, subscriptions
    without a token, messages queued before the batch beat). Safe to retry: the charge row's idempotency
    key makes Klarna answer a retry with the first result."""
    from .services.renewals import subscription_charge

    return _retrying(self, lambda: subscription_charge(subscription_id=subscription_id), eager_result="unknown")
