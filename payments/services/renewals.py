"""Renewals the shop charges itself (Renewals.SHOP: an order on the subscriber's stored customer token).

Exactly once (DESIGN rule 5): the SubscriptionCharge row for the billing cycle is created, with its
renewal order and PaymentAttempt, before the provider is called; the idempotency key is the row's key
plus the number of failed tries, so a retried or crashed task replays the provider's first answer, and
only a deliberate retry after a decline asks again.
"""
import logging
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from ..exceptions import PaymentDeclined, ProviderRequestError, ProviderUnavailable, TokenRevoked
from ..models import PaymentAttempt, Subscription, SubscriptionCharge
from ..orders import order_book
from ..providers.registry import get_adapter
from ..providers.types import Renewals
from ..signals import renewal_failed, renewal_paid, renewals_paid, send_on_commit, subscription_cancelled
from ..states import SUCCESSFUL, Status, Success, transition, transitions_succeeded
from ..statuses import Renewed
from ..subscription_states import (
    CANCELLED_MEANWHILE,
    subscription_renewed,
    subscription_transition,
    subscriptions_renewed,
)
from .payment_start import checkout_request
from .renewal_dates import renewal_next
from .renewal_strategies import routes_renewed_by
from .renewal_voids import charged_after_cancel, renewal_void

log = logging.getLogger(__name__)


def subscriptions_due(*, now=None):
    """Shop-run subscriptions whose renewal date has come (active ones; past-due ones are dunning's)."""
    return Subscription.objects.filter(route__in=routes_renewed_by(Renewals.SHOP), status=Subscription.Status.ACTIVE,
                                       next_renewal_at__lte=now or timezone.now())


def subscriptions_charge_due(*, now=None) -> list[int]:
    return list(subscriptions_due(now=now).values_list("pk", flat=True))


def subscription_charge(*, subscription_id, source="renewal", force=False, past_due_only=False) -> str:
    """Charge the subscription's open billing cycle once. Returns paid / declined / token_gone / skipped, or
    voided when the subscriber cancelled while it was being charged (renewal_voids).

    `force` charges the next cycle before its date (renew now); `past_due_only` (a retry) charges only while
    the subscription is past due, checked under its row lock (_open_charge), so retries racing one that
    already paid are skipped instead of charging the next cycle early.
    Raises ProviderUnavailable when the outcome is unknown; the retry uses the same idempotency key.
    """
    charge = _open_charge(subscription_id, force=force, past_due_only=past_due_only)
    if charge is None:
        return "skipped"
    sub, attempt = charge.subscription, charge.attempt
    if not sub.customer_token:
        # Started without a token (the provider did not issue one at checkout): it can never renew by itself.
        # Stopped once, said once, instead of a failed try on every beat run (probe D F4).
        with transaction.atomic():
            transition(attempt.pk, Status.CANCELLED, source=source,
                       message=f"Cycle {charge.billing_cycle} not charged: no customer token")
            _stop_for_token(sub, source, "No customer token: this subscription cannot renew by itself and "
                                         "stopped. Contact the subscriber.")
        return "token_gone"
    payment, declined = _charge_token(charge, checkout_request(attempt), source)
    if declined:
        return declined
    with transaction.atomic():
        moved = transition(attempt.pk, Status(payment.status), source=source,
                           provider_reference=payment.provider_reference, payload=payment.raw,
                           message=f"Renewal {charge.billing_cycle} charged to the customer token",
                           fields=_expiry(payment))
        if not moved.changed:
            return "paid"  # a charge_renewal task for the same cycle recorded it first: advance once only
        SubscriptionCharge.objects.filter(pk=charge.pk).update(provider_order=payment.provider_reference)
        renewed = _renewed(charge, forced=force)  # a date set meanwhile (a reschedule) stands
        voided = subscription_renewed(sub, next_renewal_at=renewed.next_renewal_at, source=source,
                                      message=renewed.message).reason == CANCELLED_MEANWHILE \
            and charged_after_cancel(charge, source)
        if not voided:
            send_on_commit(renewal_paid, charge_id=charge.pk, subscription_id=sub.pk)
    if voided:
        renewal_void(attempt.pk, source=source)
        return "voided"
    return "paid"


# What renewal_charge and _declined use of the charge, its subscription and attempt (and the whole
# order, which the shop turns into the provider's request): fewer columns to fetch and convert on every charge.
_CHARGE_READ = ("billing_cycle", "idempotency_key", "failures", "subscription__route",
                "subscription__provider_id", "subscription__email", "subscription__status",
                "subscription__interval", "subscription__interval_count", "subscription__next_renewal_at",
                "subscription__renewal_anchor", "subscription__created_at",
                "subscription__customer_token", "attempt__kind", "attempt__route", "attempt__reference",
                "attempt__status", "attempt__provider_reference", "attempt__order")


def renewal_charge(*, charge_id, source="renewal") -> str:
    """Charge one cycle the beat opened (renewal_open): renewals_charge for a batch of one, which costs
    what the single path always cost (a single success is recorded by compare-and-set, without the
    batch's row locks). Returns paid / declined / token_gone / skipped / voided. Raises ProviderUnavailable when
    the outcome is unknown, so the task retries with the same key.
    """
    batch = renewals_charge(charge_ids=[charge_id], source=source)
    if charge_id in batch.unavailable:
        raise batch.unavailable[charge_id]
    return batch.outcomes[charge_id]


@dataclass
class RenewalBatch:
    """What a batch did: an outcome per charge id (paid / declined / token_gone / skipped / voided / unknown), and
    the charges whose outcome the provider left unknown (to be charged again, alone, under the same key)."""

    outcomes: dict[int, str] = field(default_factory=dict)
    unavailable: dict[int, ProviderUnavailable] = field(default_factory=dict)


def renewals_charge(*, charge_ids, source="renewal") -> RenewalBatch:
    """Charge cycles the beat opened (renewal_open), one provider POST each, and record them together.

    Two unlocked reads for the whole batch (the charges with their subscriptions, attempts and orders;
    the orders' lines), then per charge the provider call under `{charge key}-{failures}` (a decline is
    recorded at once, in its own transaction, by _declined; an outage leaves that charge "unknown" and
    the others go on), then one transaction for all the successes (_record_paid): the attempts moved
    by a compare-and-set on the status read (transitions_succeeded: whatever a duplicate of this task or
    the reconcile recorded first is not recorded again), their ledger events and orders, the charges'
    provider orders, the subscriptions' next renewal dates by compare-and-set on the date read
    (subscriptions_renewed) and one renewals_paid signal for the emails. Safe to run twice or after a
    crash: the same keys replay Klarna's first answers and the compare-and-sets let one run record them.
    """
    batch = RenewalBatch(outcomes={pk: "skipped" for pk in charge_ids})
    charges = []
    for charge in (SubscriptionCharge.objects.select_related("subscription", "attempt__order").only(*_CHARGE_READ)
                   .filter(pk__in=charge_ids).order_by("pk")):
        if charge.attempt is None or charge.attempt.kind != PaymentAttempt.Kind.RENEWAL:
            continue  # cycle 0 is paid by its checkout, never by the token
        if charge.attempt.status in SUCCESSFUL:
            batch.outcomes[charge.pk] = "paid"  # a duplicate task after the first one recorded the payment
        elif _chargeable(charge):
            charges.append(charge)
        elif charge.subscription.status == Subscription.Status.CANCELED:
            _close_cancelled(charge, source)
    details = order_book().details_many([charge.attempt.order for charge in charges]) if charges else {}
    paid = []
    try:
        for index, charge in enumerate(charges):
            # The statuses were read before the first POST; each later POST of the batch comes after earlier
            # ones took their time, during which the subscriber may have cancelled: ask again first.
            if index:
                status = _status_now(charge.subscription_id)
                if status != Subscription.Status.ACTIVE:
                    if status == Subscription.Status.CANCELED:
                        _close_cancelled(charge, source)
                    continue
            request = checkout_request(charge.attempt, details[charge.attempt.order_id])
            try:
                payment, declined = _charge_token(charge, request, source)
            except ProviderUnavailable as exc:
                batch.outcomes[charge.pk], batch.unavailable[charge.pk] = "unknown", exc
                continue
            batch.outcomes[charge.pk] = declined or "paid"
            if not declined:
                paid.append((charge, payment))
    finally:
        # Whatever stops the loop, the charges the provider already took are recorded now.
        for pk in _record_paid(paid, source):
            batch.outcomes[pk] = "voided"
    return batch


def _expiry(payment) -> dict | None:
    """A renewal only authorized lapses uncaptured at its expiry: kept, so the expiring filter and the
    dashboard warn before it does (probe I I4)."""
    return {"authorization_expires_at": payment.authorization_expires_at} if payment.authorization_expires_at else None


def _status_now(subscription_id) -> str:
    """A subscription's status as committed now: one read by primary key, written out because a batch makes
    it before every later charge. With the ORM's query instead, `bench/renewals.py --shop-run --n 10000`
    measured 5.26 and 5.75 ms of shop CPU a charge (ratio 1.50, 1.77); with this, 4.59 and 4.48 (1.44, 1.39),
    the same hour on the same machine."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT status FROM {Subscription._meta.db_table} WHERE id = %s", [subscription_id])
        return cursor.fetchone()[0]


def _stop_for_token(sub, source, message) -> None:
    """A subscription whose token cannot be charged (none, or revoked at the provider) stops, and the
    subscriber is told once (the email is sent once the caller's transaction commits)."""
    subscription_transition(sub.pk, "canceled", source=source, cancel_reason="payment_method_revoked",
                            next_renewal_at=None, message=message)
    send_on_commit(subscription_cancelled, subscription_id=sub.pk)


def _close_cancelled(charge, source) -> None:
    """A cycle opened for a subscription cancelled before it was charged: its attempt (never sent, or
    refused because the cancel revoked the token) is closed, so its renewal order waits for nothing."""
    transition(charge.attempt.pk, Status.CANCELLED, source=source,
               message=f"Cycle {charge.billing_cycle} not charged: the subscription was cancelled first")


def _chargeable(charge) -> bool:
    """Whether the renewal try is still to be charged: waiting, on an active subscription with a token
    (not cancelled, paused or past due since the beat opened the cycle)."""
    sub = charge.subscription
    return (charge.attempt.status in (Status.CREATED, Status.PENDING) and sub.status == Subscription.Status.ACTIVE
            and bool(sub.customer_token))


def _record_paid(paid, source) -> list[int]:
    """The batch's successes in one transaction (see renewals_charge); a charge a duplicate recorded
    first changes nothing here and is neither advanced nor mailed again. Returns the charges voided
    because their subscriber cancelled meanwhile (renewal_voids)."""
    if not paid:
        return []
    with transaction.atomic():
        moved = {success.attempt.pk for success in transitions_succeeded(
            [Success(charge.attempt, Status(payment.status), payment.provider_reference, payment.raw,
                     f"Renewal {charge.billing_cycle} charged to the customer token",
                     payment.authorization_expires_at) for charge, payment in paid],
            source=source)}
        paid = [(charge, payment) for charge, payment in paid if charge.attempt.pk in moved]
        if not paid:
            return []
        # The charge's provider order is the reference the transition just set on its attempt (a renewal's
        # attempt is fresh: it has no other), copied in one UPDATE instead of a CASE over the batch, which
        # costs the ORM ~1.5 ms a row to build.
        SubscriptionCharge.objects.filter(pk__in=[charge.pk for charge, _ in paid]).update(
            provider_order=Subquery(PaymentAttempt.objects.filter(pk=OuterRef("attempt_id"))
                                    .values("provider_reference")[:1]), updated_at=timezone.now())
        cancelled = subscriptions_renewed([_renewed(charge) for charge, _ in paid], source=source)
        voided = [charge for charge, _ in paid
                  if charge.subscription_id in cancelled and charged_after_cancel(charge, source)]
        kept = [charge for charge, _ in paid if charge not in voided]
        if kept:
            send_on_commit(renewals_paid, renewals=[
                {"charge_id": charge.pk, "subscription_id": charge.subscription_id,
                 "email": charge.subscription.email} for charge in kept])
    for charge in voided:
        renewal_void(charge.attempt.pk, source=source)
    return [charge.pk for charge in voided]


def _charge_token(charge, request, source):
    """Ask the provider to charge the cycle to the subscriber's token, under `{charge key}-{failures}`.

    Returns (payment, None) when it was taken, (None, outcome) when it was declined (recorded by _declined).
    ProviderUnavailable propagates: the outcome is unknown and the task retries with the same key.
    """
    sub = charge.subscription
    try:
        payment = get_adapter(sub.route).charge_recurring(
            sub.customer_token, request, idempotency_key=f"{charge.idempotency_key}-{charge.failures}")
    except ProviderUnavailable:
        raise
    except PaymentDeclined as exc:  # TokenRevoked too
        return None, _declined(charge, exc, source)
    except ProviderRequestError as exc:  # the provider refused the shop's own request
        return None, _refused(charge, exc, source)
    if payment.status not in ("authorized", "captured"):
        return None, _declined(charge, PaymentDeclined(f"the provider reports the renewal as {payment.status}"),
                               source)
    return payment, None


def _renewed(charge, *, forced=False) -> Renewed:
    """The subscription's next renewal date: its schedule's date after the one read (payments.subscription_states
    compares it), or the first still ahead when the date read lay further back (a merchant moved it into the
    past, the shop was down): one charge now, never one per missed cycle on every beat (probe E F9). Counted
    from the subscription's anchor, never from the date read, so month ends and local midnight do not drift
    (renewal_dates, probe H F2).

    A date read that lies ahead on a cycle not `forced` (renew now charges the next cycle early, and moves
    on from it) was set by the merchant after the cycle was opened, when it was due: the cycle is charged as
    opened, and the merchant's date is the next renewal, as for a date set while the charge is at the
    provider (probe D F6, probe H F4)."""
    sub = charge.subscription
    now = timezone.now()
    if not forced and sub.next_renewal_at and sub.next_renewal_at > now:
        return Renewed(sub, sub.next_renewal_at, f"Cycle {charge.billing_cycle} paid: order "
                                                 f"{charge.attempt.order.number}; next renewal as rescheduled")
    when = renewal_next(sub.schedule_anchor, sub.interval, sub.interval_count, due=sub.next_renewal_at or now, now=now)
    return Renewed(sub, when, f"Cycle {charge.billing_cycle} paid: order {charge.attempt.order.number}")


def cycle_withdrawn(charge) -> bool:
    """Whether a renewal cycle's last try was withdrawn by the shop (the merchant cancelled its authorization,
    a cancel operation done on it): the cycle is over, not a decline to try again. Charging it again would
    take a new payment on the order the merchant withdrew and make it paid again; the next cycle opens on an
    order of its own. A try the provider cancelled is not withdrawn: its cycle is tried again."""
    from ..models import PaymentOperation

    return (charge.billing_cycle > 0 and charge.attempt_id is not None and charge.attempt.status == Status.CANCELLED
            and PaymentOperation.objects.filter(attempt_id=charge.attempt_id, kind=PaymentOperation.Kind.CANCEL,
                                                result=PaymentOperation.Result.DONE).exists())


def _open_charge(subscription_id, *, force=False, past_due_only=False):
    """The charge row (with order and attempt) for the cycle now due, created under the row lock; None when
    nothing is to be charged. The status is read under that lock (select_for_update; on SQLite the
    IMMEDIATE transaction holds the database's write lock from BEGIN), so of retries racing each other only
    those that find the subscription still past due charge, and all of those charge the same cycle."""
    with transaction.atomic():
        sub = Subscription.objects.select_for_update().get(pk=subscription_id)
        if sub.is_canceled or (past_due_only and sub.status != Subscription.Status.PAST_DUE):
            return None
        last = sub.charges.order_by("-billing_cycle").select_related("attempt").first()
        unpaid = last and not (last.attempt_id and last.attempt.status in SUCCESSFUL)
        if unpaid and last.billing_cycle == 0:
            # The checkout that started it is not paid (withdrawn by the shop): nothing to renew, and its
            # order is never charged again as a "renewal" (probe E F2).
            return None
        if unpaid and cycle_withdrawn(last):
            unpaid = False  # done: the next cycle opens on a new order when it is due (probe H F3)
        if unpaid:
            charge = last  # an unpaid cycle: retry it, never open the next one
        else:
            not_due = sub.next_renewal_at and sub.next_renewal_at > timezone.now()
            if not_due and sub.status == "active" and not force:
                return None
            cycle = (last.billing_cycle + 1) if last else 1
            charge = SubscriptionCharge.objects.create(subscription=sub, billing_cycle=cycle, amount=sub.amount,
                                                       currency=sub.currency)
        if charge.attempt_id is None or charge.attempt.status not in (Status.CREATED, Status.PENDING):
            order_id = (charge.attempt.order_id if charge.attempt_id else
                        order_book().create_renewal(initial_order_id=sub.order_id, billing_cycle=charge.billing_cycle,
                                                    amount=sub.amount, provider_lines=[],
                                                    schedule=(sub.interval, sub.interval_count)))
            attempt = PaymentAttempt.objects.create(order_id=order_id, route=sub.route,
                                                    kind=PaymentAttempt.Kind.RENEWAL, amount=sub.amount,
                                                    currency=sub.currency)
            if charge.attempt_id:
                # The declined try keeps its own history; the charge points at the current try.
                SubscriptionCharge.objects.filter(pk=charge.pk).update(attempt=None)
            charge.attempt = attempt
            charge.save(update_fields=["attempt", "updated_at"])
        return SubscriptionCharge.objects.select_related("subscription", "attempt__order").get(pk=charge.pk)


def _try_failed(charge, exc, source, reason) -> None:
    """The cycle's try failed (`exc`, the provider's answer): its attempt, and the charge's count of failures,
    which keys the next try (_charge_token). In the caller's transaction."""
    transition(charge.attempt.pk, Status.FAILED, source=source, message=str(exc)[:500], failure_reason=reason)
    SubscriptionCharge.objects.filter(pk=charge.pk).update(failures=charge.failures + 1, last_failure=str(exc)[:255])


def _refused(charge, exc, source) -> str:
    """The provider refused the shop's request itself (a field it cannot take, the shop's credentials), not the
    subscriber's payment (probe I I2: a street too long for Klarna was "declined", and the subscriber mailed to
    check their card). The cycle's try failed and the subscription waits past due, so the beat does not send the
    same request again every run; no email goes to the subscriber; the history tells the merchant what to
    correct before "Retry" (or dunning) asks again."""
    sub = charge.subscription
    with transaction.atomic():
        _try_failed(charge, exc, source, "Renewal refused by the provider: the shop's request (see the history)")
        subscription_transition(sub.pk, "past_due", source=source,
                                message=f"Cycle {charge.billing_cycle} not charged: the provider refused the shop's "
                                        f"request ({exc}). Nothing is wrong with the subscriber's payment: correct "
                                        f"the order's details, then retry.")
    log.warning("renewal of %s refused by the provider: %s", sub.provider_id, exc)
    return "refused"


def _declined(charge, exc, source) -> str:
    sub = charge.subscription
    gone = isinstance(exc, TokenRevoked)
    with transaction.atomic():
        if gone and Subscription.objects.select_for_update().filter(
                pk=sub.pk, status=Subscription.Status.CANCELED).exists():
            # The subscriber's own cancel revoked the token while this charge was on its way: nothing was
            # charged and nothing is wrong with their payment method.
            _close_cancelled(charge, source)
            return "skipped"
        _try_failed(charge, exc, source, "Renewal declined by the payment provider")
        if gone:
            _stop_for_token(sub, source, f"The provider will not charge this subscriber's token any more "
                                         f"({exc.code}); the subscription stopped. Contact the subscriber.")
        else:
            subscription_transition(sub.pk, "past_due", source=source,
                                    message=f"Cycle {charge.billing_cycle} declined: {exc}")
            send_on_commit(renewal_failed, subscription_id=sub.pk, billing_cycle=charge.billing_cycle,
                           failures=charge.failures + 1)
    log.info("renewal of %s declined: %s", sub.provider_id, exc)
    return "token_gone" if gone else "declined"
