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
import contextvars
import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from ..exceptions import InvalidReturn, ProviderError, ProviderUnavailable
from ..models import Subscription, SubscriptionCharge, SubscriptionEvent
from ..providers.registry import get_adapter
from ..providers.types import SubscriptionInfo
from ..states import SUCCESSFUL
from .subscription_prices import subscription_price_align
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
    if not targets.exists():
        return SweepProgress(None)

    def fetch(after):
        return adapter.list_subscriptions(cursor=after, statuses=LIVE_STATUSES)

    # The next page is requested while this one is written, so the provider's rate, not our writes, sets
    # the pace. The thread runs in a copy of this context, keeping the caller's budget priority. At most
    # one page read ahead is wasted, when the last target turns up.
    with ThreadPoolExecutor(max_workers=1) as pool:
        ahead = pool.submit(contextvars.copy_context().run, fetch, cursor)
        while True:
            page = ahead.result()
            calls += 1
            more = page.next_cursor is not None and (deadline is None or time.monotonic() < deadline)
            ahead = pool.submit(contextvars.copy_context().run, fetch, page.next_cursor) if more else None
            page_read, page_changed = subscriptions_apply_page(route=route, infos=page.infos, source=source)
            read, changed = read + page_read, changed + page_changed
            if page.next_cursor is None:
                return _read_leftovers(adapter, targets, route, source, SweepProgress(None, read, changed, calls))
            if ahead is None:
                return SweepProgress(page.next_cursor, read, changed, calls)
            if not targets.exists():
                try:
                    ahead.result()  # the page read ahead: spent, not needed, its failure is no failure
                except (ProviderError, InvalidReturn):
                    pass
                return SweepProgress(None, read, changed, calls + 1)


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


MIRRORED_FIELDS = ("next_renewal_at", "interval", "interval_count", "amount", "cancel_reason")


def subscriptions_apply_page(*, route: str, infos: tuple[SubscriptionInfo, ...], source: str) -> tuple[int, int]:
    """Apply one page of the provider's view to our mirrors; returns (mirrors read, mirrors changed).

    Subscriptions we do not mirror are left to the webhook path that links them. A new status or a
    renewal order we have not recorded goes through subscription_sync (state machine, renewal orders).
    A change of schedule, amount or cancel reason alone is written for the whole page at once
    (_apply_fields: rows locked, one "sync" event each, as subscription_transition records it); an
    unchanged mirror only has `provider_synced_at` moved, in one UPDATE for the page, and no event."""
    by_id = {info.provider_id: info for info in infos}
    mirrors = list(Subscription.objects.filter(route=route, provider_id__in=by_id))
    paid = set(SubscriptionCharge.objects.filter(subscription__in=[m.pk for m in mirrors],
                                                 attempt__status__in=SUCCESSFUL)
               .values_list("subscription_id", "billing_cycle"))
    unchanged, fields_only, changed = [], {}, 0
    for mirror in mirrors:
        info = by_id[mirror.provider_id]
        if mirror.status != info.status or _unrecorded_renewal(mirror, info, paid):
            try:
                subscription_sync(subscription=mirror, info=info, source=source)
            except ProviderUnavailable:
                raise
            except (ProviderError, InvalidReturn) as exc:
                # e.g. a renewal order the provider will not show: the next sweep tries again
                log.warning("subscription %s not synced: %s", mirror.provider_id, exc)
                continue
            changed += 1
        elif _changed_fields(mirror, info):
            fields_only[mirror.pk] = info
        else:
            unchanged.append(mirror.pk)
    now = timezone.now()
    if fields_only:
        unchanged += _apply_fields(fields_only, source=source, now=now)
        changed += len(fields_only)
    if unchanged:
        Subscription.objects.filter(pk__in=unchanged).update(provider_synced_at=now)
    _align_prices(mirrors, by_id, source=source)
    return len(mirrors), changed


def _align_prices(mirrors, by_id, *, source: str) -> None:
    """Mirrors the provider renews at another price than the pages said: set it right now, before their
    renewal (subscription_prices). ProviderUnavailable ends the sweep for its task to retry; the page's
    reads are written already."""
    for mirror in mirrors:
        info = by_id[mirror.provider_id]
        wanted = mirror.advertised_amount
        if wanted is not None and info.amount != wanted and info.status != Subscription.Status.CANCELED:
            subscription_price_align(subscription_id=mirror.pk, source=source)


def _apply_fields(infos: dict, *, source: str, now) -> list:
    """Write schedule/amount changes of mirrors whose status stays, under their row locks, with the event
    subscription_transition would record ("sync", "updated <fields>"). Returns the pks that turned out
    unchanged (or changed status) once locked: the first are only marked synced, the second are left to
    the next read."""
    unchanged, events, updated = [], [], []
    with transaction.atomic():
        for sub in Subscription.objects.select_for_update().filter(pk__in=infos).order_by("pk"):
            info = infos[sub.pk]
            names = _changed_fields(sub, info) if sub.status == info.status else []
            if not names:
                unchanged.append(sub.pk)
                continue
            for name in names:
                setattr(sub, name, getattr(info, name))
            sub.provider_synced_at = sub.updated_at = now  # bulk_update does not run auto_now
            updated.append(sub)
            events.append(SubscriptionEvent(subscription=sub, kind="sync", source=source, payload=info.raw,
                                            message=("updated " + ", ".join(names + ["provider_synced_at"]))[:500]))
        if updated:
            Subscription.objects.bulk_update(updated, [*MIRRORED_FIELDS, "provider_synced_at", "updated_at"])
            SubscriptionEvent.objects.bulk_create(events)
    return unchanged


def _changed_fields(mirror: Subscription, info: SubscriptionInfo) -> list[str]:
    return [name for name in MIRRORED_FIELDS if getattr(mirror, name) != getattr(info, name)]


def _unrecorded_renewal(mirror: Subscription, info: SubscriptionInfo, paid: set) -> bool:
    """A renewal order (cycle >= 1) the provider names without a paid charge of ours."""
    return any(cycle >= 1 and (mirror.pk, cycle) not in paid for _, cycle in info.orders)
