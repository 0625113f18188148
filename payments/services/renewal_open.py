"""The shop-run beat: open the billing cycles that have come due, by the batch, before anything is charged.

Exactly once (DESIGN rule 5): each due cycle gets its SubscriptionCharge row (unique per subscription and
cycle), its renewal order and its PaymentAttempt in one transaction, under the subscriptions' row locks,
and only after that commits is one `charge_renewal` task queued per charge. Two beats running at once
lock disjoint subscriptions (SKIP LOCKED) and the unique cycle constraint stops anything that slipped
past; a subscription whose cycle is already open is never opened again, and a cycle whose task was lost
(broker down, worker killed before acking) is queued again once it has waited RENEWAL_REQUEUE_AFTER.

Statements: a batch of BATCH subscriptions costs a fixed dozen, whatever its size.
"""
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from common.db import bulk_create_with_pks

from ..models import PaymentAttempt, SubscriptionCharge
from ..orders import order_book
from ..states import IN_BETWEEN, SUCCESSFUL
from .renewals import subscriptions_due

log = logging.getLogger(__name__)
BATCH = 200
# An open cycle not charged after this long lost its task: the beat queues it again (the charge is
# idempotent on its row's key, so a task that was only slow charges nothing twice).
RENEWAL_REQUEUE_AFTER = timedelta(minutes=15)


@dataclass
class DueRenewals:
    """What one batch found: cycles to charge with the new path, subscriptions for the one-by-one path."""

    charges: list[int] = field(default_factory=list)
    legacy: list[int] = field(default_factory=list)
    last_pk: int | None = None


def renewals_open_due(*, now=None, batch=BATCH, after_pk=0) -> DueRenewals:
    """Open the due cycles of up to `batch` active shop-run subscriptions with pk > `after_pk`, in pk order.

    Locks those subscriptions (FOR UPDATE SKIP LOCKED: another beat's batch is skipped, not waited for)
    for one transaction that inserts, for each one without an open cycle, its renewal order and lines,
    its PaymentAttempt and its SubscriptionCharge. Returns the charges to queue (new ones and stale open
    ones), the subscriptions the one-by-one path must handle (no customer token, or an open cycle whose
    last try failed: `subscription_charge` records or retries those as it always has) and the last pk
    seen (None when nothing was left). Raises IntegrityError only if a batch failed three times.
    """
    now = now or timezone.now()
    for _ in range(3):
        try:
            with transaction.atomic():
                return _open_batch(now, batch, after_pk)
        except IntegrityError:
            # A clash of random order numbers, or a cycle another process opened: read again and redo.
            log.warning("opening a renewal batch after pk %s clashed; running it again", after_pk)
    raise IntegrityError("could not open the renewal batch")


def _open_batch(now, batch, after_pk) -> DueRenewals:
    last_charge = SubscriptionCharge.objects.filter(subscription=OuterRef("pk")).order_by("-billing_cycle")
    subs = list(subscriptions_due(now=now).select_for_update(skip_locked=True, of=("self",))
                .filter(pk__gt=after_pk)
                .annotate(last_charge_id=Subquery(last_charge.values("pk")[:1]))
                .only("pk", "order", "route", "amount", "currency", "interval", "interval_count", "customer_token")
                .order_by("pk")[:batch])
    found = DueRenewals(last_pk=subs[-1].pk if subs else None)
    last = {row["pk"]: row for row in SubscriptionCharge.objects.filter(
        pk__in=[s.last_charge_id for s in subs if s.last_charge_id])
        .values("pk", "billing_cycle", "attempt__status", "updated_at")}
    opening = []
    for sub in subs:
        previous = last.get(sub.last_charge_id)
        if not sub.customer_token:
            found.legacy.append(sub.pk)
        elif previous is None or previous["attempt__status"] in SUCCESSFUL:
            opening.append((sub, previous["billing_cycle"] + 1 if previous else 1))
        elif previous["attempt__status"] in IN_BETWEEN and previous["billing_cycle"] > 0:
            if previous["updated_at"] <= now - RENEWAL_REQUEUE_AFTER:
                found.charges.append(previous["pk"])  # open, and its task is long overdue
        else:
            # The cycle's last try failed or was cancelled (or its checkout): the one-by-one path tries it again,
            # or opens the next cycle when the merchant withdrew it (renewals.cycle_withdrawn).
            found.legacy.append(sub.pk)
    if opening:
        found.charges.extend(_open(opening))
    return found


def _open(opening) -> list[int]:
    """Orders, attempts and charges for (subscription, cycle) pairs: four INSERTs (plus the shop's reads)."""
    order_ids = order_book().create_renewals(
        [(sub.order_id, cycle, sub.amount, (sub.interval, sub.interval_count)) for sub, cycle in opening])
    attempts = bulk_create_with_pks(PaymentAttempt, [
        PaymentAttempt(order_id=order_id, route=sub.route, kind=PaymentAttempt.Kind.RENEWAL, amount=sub.amount,
                       currency=sub.currency)
        for (sub, _), order_id in zip(opening, order_ids, strict=True)], unique="reference")
    charges = bulk_create_with_pks(SubscriptionCharge, [
        SubscriptionCharge(subscription=sub, billing_cycle=cycle, amount=sub.amount, currency=sub.currency,
                           attempt=attempt)
        for (sub, cycle), attempt in zip(opening, attempts, strict=True)], unique="idempotency_key")
    return [charge.pk for charge in charges]
