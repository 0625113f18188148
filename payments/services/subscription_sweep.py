"""Reading provider-run subscriptions back by the page (Renewals.PROVIDER), writing only what changed.

Why: the periodic read-back used to cost one provider call, eight queries and a SubscriptionEvent per
subscription even when nothing had changed, and a rate-limited provider (29 Next: 4 calls/s per token)
turned 1,000 subscriptions into minutes of the shop's whole API budget. A sweep reads the provider's list
endpoint instead (`capabilities.subscription_page_size` per call) and, per page, costs three queries plus
the ordinary `subscription_sync` for the subscriptions that really changed (a new status, date, schedule,
amount or a renewal order we have not recorded). Unchanged ones only get their `provider_synced_at` moved,
in one UPDATE for the page, and no event.

Which subscriptions a sweep is for (its *targets*) is a scope: `due` (active, renewal date passed: the
provider should have renewed them) or `stale` (not read for an hour: webhooks that never came). A sweep
stops as soon as no target is left unread, reads only live statuses (canceled subscriptions pile up at a
provider forever), and reads the targets it did not meet on the pages (canceled at the provider, or gone)
one by one. When the targets are fewer than a sweep's pages, they are read one by one from the start.

Everything is idempotent: a sweep interrupted anywhere can start again from any cursor (or none).
"""
import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from ..exceptions import InvalidReturn, ProviderError, ProviderUnavailable
from ..models import Subscription, SubscriptionCharge
from ..providers.registry import get_adapter
from ..providers.types import SubscriptionInfo
from ..states import SUCCESSFUL
from .subscriptions import subscription_sync

log = logging.getLogger(__name__)

LIVE_STATUSES = ("active", "past_due", "retrying", "paused")
# The source each scope's changes are recorded under in a subscription's history.
SCOPES = {"due": "renewal-check", "stale": "reconcile"}
# Targets not met on the pages and read one by one per run, at most: each costs a provider call.
LEFTOVER_LIMIT = 500


@dataclass(frozen=True)
class SweepProgress:
    """Where a sweep stands: `cursor` is the next page to read (None: finished); counts are this run's."""

    cursor: str | None
    read: int = 0
    changed: int = 0
    calls: int = 0


def subscription_targets(*, route: str, scope: str, cutoff: datetime):
    """The mirrors a sweep of `scope` still has to read: those in scope not synced since `cutoff`."""
    mirrors = Subscription.objects.filter(route=route, provider_synced_at__lt=cutoff)
    if scope == "due":
        return mirrors.filter(status=Subscription.Status.ACTIVE, next_renewal_at__lte=cutoff)
    if scope == "stale":
        return mirrors.exclude(status=Subscription.Status.CANCELED)
    raise ValueError(f"unknown sweep scope {scope!r}")


def subscriptions_sweep(*, route: str, scope: str, cutoff: datetime, cursor: str | None = None,
                        seconds: float | None = None, source: str | None = None) -> SweepProgress:
    """Read `route`'s subscriptions back until no target of `scope` (see subscription_targets) is left, or
    for about `seconds` (None: until done); returns where to go on. Raises ProviderUnavailable for the
    caller to retry from the same cursor. Locks each changed subscription as subscription_sync does."""
    adapter, source = get_adapter(route), source or SCOPES[scope]
    deadline = None if seconds is None else time.monotonic() + seconds
    targets = subscription_targets(route=route, scope=scope, cutoff=cutoff)
    read = changed = calls = 0
    page_size = adapter.capabilities.subscription_page_size
    if cursor is None and not _sweep_pays(targets, route, page_size):
        return _read_leftovers(adapter, targets, route, source, SweepProgress(None))
    while targets.exists():
        page = adapter.list_subscriptions(cursor=cursor, statuses=LIVE_STATUSES)
        calls += 1
        page_read, page_changed = subscriptions_apply_page(route=route, infos=page.infos, source=source)
        read, changed, cursor = read + page_read, changed + page_changed, page.next_cursor
        if cursor is None:
            return _read_leftovers(adapter, targets, route, source, SweepProgress(None, read, changed, calls))
        if deadline is not None and time.monotonic() >= deadline:
            return SweepProgress(cursor, read, changed, calls)
    return SweepProgress(None, read, changed, calls)


def _sweep_pays(targets, route: str, page_size: int) -> bool:
    """Whether listing every live subscription costs fewer calls than reading the targets one by one."""
    if not page_size:
        return False
    wanted = targets.count()
    live = Subscription.objects.filter(route=route).exclude(status=Subscription.Status.CANCELED).count()
    return wanted > math.ceil(live / page_size)


def _read_leftovers(adapter, targets, route: str, source: str, progress: SweepProgress) -> SweepProgress:
    read, changed, calls = progress.read, progress.changed, progress.calls
    for provider_id in list(targets.values_list("provider_id", flat=True)[:LEFTOVER_LIMIT]):
        calls += 1
        try:
            info = adapter.fetch_subscription(provider_id)
        except ProviderUnavailable:
            raise
        except (ProviderError, InvalidReturn) as exc:
            log.warning("subscription %s not read back: %s", provider_id, exc)
            continue
        page_read, page_changed = subscriptions_apply_page(route=route, infos=(info,), source=source)
        read, changed = read + page_read, changed + page_changed
    return SweepProgress(None, read, changed, calls)


def subscriptions_apply_page(*, route: str, infos: tuple[SubscriptionInfo, ...], source: str) -> tuple[int, int]:
    """Apply one page of the provider's view to our mirrors; returns (mirrors read, mirrors changed).

    Subscriptions we do not mirror are left to the webhook path that links them. A changed mirror goes
    through subscription_sync (row lock, state machine, event, renewal orders); an unchanged one only has
    `provider_synced_at` moved, in one UPDATE for the page."""
    by_id = {info.provider_id: info for info in infos}
    mirrors = list(Subscription.objects.filter(route=route, provider_id__in=by_id))
    paid = set(SubscriptionCharge.objects.filter(subscription__in=[m.pk for m in mirrors],
                                                 attempt__status__in=SUCCESSFUL)
               .values_list("subscription_id", "billing_cycle"))
    unchanged, changed = [], 0
    for mirror in mirrors:
        info = by_id[mirror.provider_id]
        if _differs(mirror, info, paid):
            try:
                subscription_sync(subscription=mirror, info=info, source=source)
            except ProviderUnavailable:
                raise
            except (ProviderError, InvalidReturn) as exc:
                # e.g. a renewal order the provider will not show: the next sweep tries again
                log.warning("subscription %s not synced: %s", mirror.provider_id, exc)
                continue
            changed += 1
        else:
            unchanged.append(mirror.pk)
    if unchanged:
        Subscription.objects.filter(pk__in=unchanged).update(provider_synced_at=timezone.now())
    return len(mirrors), changed


def _differs(mirror: Subscription, info: SubscriptionInfo, paid: set) -> bool:
    """Whether subscription_sync would change anything: the fields it mirrors, or a renewal order (cycle
    >= 1) without a paid charge of ours."""
    mirrored = (mirror.status, mirror.next_renewal_at, mirror.interval, mirror.interval_count, mirror.amount,
                mirror.cancel_reason)
    provider = (info.status, info.next_renewal_at, info.interval, info.interval_count, info.amount,
                info.cancel_reason)
    if mirrored != provider:
        return True
    return any(cycle >= 1 and (mirror.pk, cycle) not in paid for _, cycle in info.orders)
