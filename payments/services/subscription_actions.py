"""What merchants (admin) and subscribers (their signed page) can do to a subscription, and the
periodic read-back that keeps every mirror in step with the provider."""
import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from ..exceptions import ProviderUnavailable
from ..models import Subscription
from ..providers.registry import get_adapter
from ..providers.types import Renewals
from ..signals import send_on_commit, subscription_cancelled
from .confirmations import subscription_confirm, subscription_confirmed
from .renewal_strategies import CANCEL_REASONS, SubscriptionActionError, routes_renewed_by, strategy_for, token_lock
from .subscription_sweep import subscription_targets, subscriptions_apply_page, subscriptions_sweep

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


def _confirmed(subscription_id, action, *, confirmation, source, status=None, due=None) -> Subscription:
    """The subscription as read under its row lock, where the merchant's confirmation form (its one-time
    key, payments.services.confirmations) is recorded before any provider call. Raises AlreadyConfirmed
    when that form was already acted on, so a double click charges once; SubscriptionActionError when
    the action needs another `status`. The lock is released before the provider is called.

    A cancel locks every subscription on the same customer token first (pk order, as the cancel itself does,
    renewal_strategies.token_lock): a caller whose transaction keeps this lock (operation_settle's) would
    otherwise hold its own row while waiting for a sibling's, and two such cancels of one token deadlock."""
    with transaction.atomic():
        if action == "cancel":
            token_lock(Subscription.objects.get(pk=subscription_id))
        sub = Subscription.objects.select_for_update().get(pk=subscription_id)
        subscription_confirmed(subscription_id=sub.pk, key=confirmation)
        if status is not None and sub.status != status:
            needs = {Subscription.Status.ACTIVE: "only an active subscription can be renewed now",
                     Subscription.Status.PAST_DUE: "only a past-due subscription can be retried"}[status]
            raise SubscriptionActionError(f"{needs} (this one is {sub.status})")
        if due is not None:
            _still_due(sub, action, due)
        subscription_confirm(sub, action, key=confirmation, source=source,
                             details={"due": due.isoformat()} if due is not None else None)
    return sub


def _still_due(sub, action, due) -> None:
    """Refuse a renewal confirmed for a period that is no longer the next one, or that another page's renewal
    confirmed a moment ago (its charge may still be at the provider; a renewal that failed can be asked
    again from a fresh page once in_flight_for has passed)."""
    from .operation_outcomes import in_flight_for

    if sub.next_renewal_at != due:
        now_due = f"{timezone.localtime(sub.next_renewal_at):%Y-%m-%d %H:%M}" if sub.next_renewal_at else "none"
        raise SubscriptionActionError(
            f"this page was for the renewal due {timezone.localtime(due):%Y-%m-%d %H:%M}, and the next one is now "
            f"due {now_due} (renewed, retried or moved since the page was shown): nothing was charged")
    if sub.events.filter(kind="confirmed", payload__action=action, payload__due=due.isoformat(),
                         created_at__gte=timezone.now() - in_flight_for()).exists():
        raise SubscriptionActionError("a renewal of this same period was confirmed from another page a moment ago "
                                      "and may still be under way: nothing was charged; see the history")


def subscription_renew_now(*, subscription_id, source="admin", confirmation="", due=None) -> Subscription:
    """Renew now: the provider's own renewal, or our charge on the stored token (strategy_for). Once per
    confirmation form (_confirmed), and, given `due` (the next renewal date the merchant's page showed), once
    per period: refused when the subscription no longer renews next on `due` (a page from before a renewal,
    retry or reschedule: probe I I1, two tabs renewed two periods), or while another page's renewal of the
    same period is under way."""
    sub = _confirmed(subscription_id, "renew", confirmation=confirmation, source=source,
                     status=Subscription.Status.ACTIVE, due=due)
    return strategy_for(sub.route).renew_now(sub, source=source)


def subscription_retry(*, subscription_id, source="admin", confirmation="") -> Subscription:
    """Retry a past-due subscription's payment, once per confirmation form (_confirmed). Refused for any
    other state: on an active subscription it would charge a cycle early."""
    sub = _confirmed(subscription_id, "retry", confirmation=confirmation, source=source,
                     status=Subscription.Status.PAST_DUE)
    return strategy_for(sub.route).retry(sub, source=source)


def subscription_cancel(*, subscription_id, reason: str, message: str = "", source="admin",
                        confirmation="") -> Subscription:
    """Cancel with one of the provider's reasons; cancelled is final (a second cancel changes nothing)."""
    if reason not in CANCEL_REASONS:
        raise SubscriptionActionError(f"unknown cancel reason {reason!r}")
    if "\x00" in message:  # checked before the provider is told: the shop could not record it afterwards
        raise SubscriptionActionError("a cancel message cannot contain NUL characters")
    sub = _confirmed(subscription_id, "cancel", confirmation=confirmation, source=source)
    if sub.is_canceled:
        return sub
    cancelled = strategy_for(sub.route).cancel(sub, reason=reason, message=message, source=source)
    send_on_commit(subscription_cancelled, subscription_id=sub.pk)
    return cancelled


# How far a renewal date may move. A date in the past renews soon however far back it is, so a year back is
# room enough; five years ahead is more than any interval sold here. Beyond these lie dates a database or
# the renewal arithmetic cannot hold (0001-01-01 in Amsterdam's time is before year 1 in UTC).
RESCHEDULE_PAST = timedelta(days=366)
RESCHEDULE_FUTURE = timedelta(days=5 * 366)


def subscription_reschedule(*, subscription_id, when: datetime, source="admin", confirmation="") -> Subscription:
    """Move the next renewal date (a past date makes the provider renew soon). Raises SubscriptionActionError
    for a date more than a year back or five years ahead."""
    now = timezone.now()
    if not now - RESCHEDULE_PAST <= when <= now + RESCHEDULE_FUTURE:
        raise SubscriptionActionError(
            f"the next renewal must lie between {timezone.localtime(now - RESCHEDULE_PAST):%Y-%m-%d} and "
            f"{timezone.localtime(now + RESCHEDULE_FUTURE):%Y-%m-%d}")
    sub = _confirmed(subscription_id, "reschedule", confirmation=confirmation, source=source)
    return strategy_for(sub.route).reschedule(sub, when, source=source)


def subscriptions_reconcile(*, older_than=3600) -> int:
    """Read back every provider-run subscription not synced for `older_than` seconds, by the page
    (subscription_sweep); returns how many mirrors were read. A provider outage ends that route's sweep
    (logged): what was read stays read, and the next run goes on from there."""
    cutoff = timezone.now() - timedelta(seconds=older_than)
    read = 0
    for route in provider_run_routes():
        try:
            read += subscriptions_sweep(route=route, scope="stale", cutoff=cutoff).read
        except ProviderUnavailable as exc:
            log.warning("subscriptions of %s not reconciled: %s", route, exc)
    return read


def subscriptions_due(*, now=None) -> dict[str, int]:
    """Per provider-run route, how many active subscriptions have a renewal date that passed and were not
    read since: the provider should have renewed them, so the shop reads them back now rather than waiting
    for a webhook that may never come (a sweep per route, subscription_sweep)."""
    now = now or timezone.now()
    return {route: count for route in provider_run_routes()
            if (count := subscription_targets(route=route, scope="due", cutoff=now).count())}


def subscription_refresh(*, subscription_id, source="renewal-check") -> Subscription:
    """Read one subscription back and apply it only if it changed (subscriptions_apply_page). Raises
    ProviderError for the task to retry."""
    sub = Subscription.objects.get(pk=subscription_id)
    subscriptions_apply_page(route=sub.route, infos=(get_adapter(sub.route).fetch_subscription(sub.provider_id),),
                             source=source)
    sub.refresh_from_db()
    return sub


def provider_run_routes() -> list[str]:
    """Routes whose provider runs (and can be asked about) its subscriptions."""
    return routes_renewed_by(Renewals.PROVIDER)
