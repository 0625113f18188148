"""Dunning: past-due subscriptions are retried on a schedule, then cancelled.

SUBSCRIPTION_DUNNING_DAYS (default 1, 3, 7) are days after the subscription fell past due. Each step is
claimed with a conditional UPDATE of dunning_step before the provider is called, so two beat runs (or
two workers) never retry the same step twice; every step is written to the subscription's history.
"""
import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from ..exceptions import PaymentError
from ..models import Subscription, SubscriptionEvent
from .subscription_actions import subscription_cancel, subscription_retry

log = logging.getLogger(__name__)
FINAL_REASON = "recurring_payment_declined"


def subscriptions_dunning_run(*, now=None) -> dict:
    now = now or timezone.now()
    days = settings.SUBSCRIPTION_DUNNING_DAYS
    report = {"retried": 0, "cancelled": 0, "recovered": 0}
    past_due = Subscription.objects.filter(status=Subscription.Status.PAST_DUE, past_due_since__isnull=False)
    for sub in past_due:
        step = sub.dunning_step
        if step >= len(days):
            _give_up(sub, report)
            continue
        if now < sub.past_due_since + timedelta(days=days[step]):
            continue
        claimed = (Subscription.objects.filter(pk=sub.pk, dunning_step=step, status=Subscription.Status.PAST_DUE)
                   .update(dunning_step=step + 1))
        if not claimed:
            continue
        SubscriptionEvent.objects.create(subscription=sub, kind="dunning", source="dunning",
                                         message=f"Retry {step + 1} of {len(days)} (day {days[step]})")
        try:
            after = subscription_retry(subscription_id=sub.pk, source="dunning")
        except PaymentError as exc:
            log.warning("dunning retry of %s failed to run: %s", sub.provider_id, exc)
            if getattr(exc, "retryable", False):
                # Not a decline: the provider did not answer (and may have charged). The step is given back,
                # so the next run retries it (a shop-run charge under the same key: the provider's first
                # answer) instead of the last step ending in "all retries were declined".
                Subscription.objects.filter(pk=sub.pk, dunning_step=step + 1).update(dunning_step=step)
                SubscriptionEvent.objects.create(
                    subscription=sub, kind="dunning", source="dunning",
                    message=f"Retry {step + 1} got no answer from the provider ({exc}); it runs again"[:500])
            continue
        report["retried"] += 1
        if after.status == Subscription.Status.ACTIVE:
            report["recovered"] += 1
        elif step + 1 >= len(days):
            _give_up(after, report)
    return report


def _give_up(sub, report):
    try:
        subscription_cancel(subscription_id=sub.pk, reason=FINAL_REASON, source="dunning",
                            message="All scheduled retries were declined")
        report["cancelled"] += 1
    except PaymentError as exc:
        log.warning("dunning could not cancel %s: %s", sub.provider_id, exc)
