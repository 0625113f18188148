"""Renewals the shop charges itself (Renewals.SHOP: an order on the subscriber's stored customer token).

Exactly once (DESIGN rule 5): the SubscriptionCharge row for the billing cycle is created, with its
renewal order and PaymentAttempt, before the provider is called; the idempotency key is the row's key
plus the number of failed tries, so a retried or crashed task replays the provider's first answer, and
only a deliberate retry after a decline asks again.
"""
import logging

from django.db import transaction
from django.utils import timezone

from ..exceptions import PaymentDeclined, ProviderRequestError, ProviderUnavailable, TokenRevoked
from ..models import PaymentAttempt, Subscription, SubscriptionCharge, SubscriptionEvent
from ..orders import order_book
from ..providers.registry import get_adapter
from ..providers.types import Renewals
from ..signals import renewal_failed, renewal_paid, send_on_commit, subscription_cancelled
from ..states import SUCCESSFUL, Status, subscription_renewed, subscription_transition, transition
from .payment_start import checkout_request
from .renewal_strategies import routes_renewed_by
from .subscriptions import next_date

log = logging.getLogger(__name__)


def subscriptions_due(*, now=None):
    """Shop-run subscriptions whose renewal date has come (active ones; past-due ones are dunning's)."""
    return Subscription.objects.filter(route__in=routes_renewed_by(Renewals.SHOP), status=Subscription.Status.ACTIVE,
                                       next_renewal_at__lte=now or timezone.now())


def subscriptions_charge_due(*, now=None) -> list[int]:
    return list(subscriptions_due(now=now).values_list("pk", flat=True))


def subscription_charge(*, subscription_id, source="renewal", force=False) -> str:
    """Charge the subscription's open billing cycle once. Returns paid / declined / token_gone / skipped.

    Raises ProviderUnavailable when the outcome is unknown; the retry uses the same idempotency key.
    """
    charge = _open_charge(subscription_id, force=force)
    if charge is None:
        return "skipped"
    sub, attempt = charge.subscription, charge.attempt
    if not sub.customer_token:
        SubscriptionEvent.objects.create(subscription=sub, kind="renewal_failed", source=source,
                                         message="No customer token: the subscriber must pay again")
        return "token_gone"
    payment, declined = _charge_token(charge, checkout_request(attempt), source)
    if declined:
        return declined
    with transaction.atomic():
        moved = transition(attempt.pk, Status(payment.status), source=source,
                           provider_reference=payment.provider_reference, payload=payment.raw,
                           message=f"Renewal {charge.billing_cycle} charged to the customer token")
        if not moved.changed:
            return "paid"  # a charge_renewal task for the same cycle recorded it first: advance once only
        SubscriptionCharge.objects.filter(pk=charge.pk).update(provider_order=payment.provider_reference)
        subscription_transition(sub.pk, "active", source=source,
                                next_renewal_at=next_date(sub.next_renewal_at or timezone.now(), sub.interval,
                                                          sub.interval_count),
                                message=f"Cycle {charge.billing_cycle} paid: order {attempt.order.number}")
        send_on_commit(renewal_paid, charge_id=charge.pk, subscription_id=sub.pk)
    return "paid"


# What renewal_charge and _declined use of the charge, its subscription and attempt (and the whole
# order, which the shop turns into the provider's request): fewer columns to fetch and convert on every charge.
_CHARGE_READ = ("billing_cycle", "idempotency_key", "failures", "subscription__route",
                "subscription__provider_id", "subscription__email", "subscription__status",
                "subscription__interval", "subscription__interval_count", "subscription__next_renewal_at",
                "subscription__customer_token", "attempt__kind", "attempt__route", "attempt__reference",
                "attempt__status", "attempt__provider_reference", "attempt__order")


def renewal_charge(*, charge_id, source="renewal") -> str:
    """Charge one cycle the beat opened (renewal_open). Returns paid / declined / token_gone / skipped.

    One unlocked read, the provider call under `{charge key}-{failures}`, then one transaction: the
    attempt moved by compare-and-set (UPDATE … WHERE status = <as read>, which takes its row lock; a task
    that lost the race to a duplicate of itself changes nothing), its ledger event, the order paid, the
    charge's provider order, the subscription's next renewal date by compare-and-set on the date read
    (falling back to the locked subscription_transition when somebody changed the subscription
    meanwhile) and its event. Safe to run twice or after a crash: the same key replays Klarna's first
    answer, and the compare-and-sets let only one run record it. Raises ProviderUnavailable when the
    outcome is unknown, so the task retries with the same key.
    """
    try:
        charge = (SubscriptionCharge.objects.select_related("subscription", "attempt__order").only(*_CHARGE_READ)
                  .get(pk=charge_id))
    except SubscriptionCharge.DoesNotExist:
        return "skipped"
    if charge.attempt is None or charge.attempt.kind != PaymentAttempt.Kind.RENEWAL:
        return "skipped"  # cycle 0 is paid by its checkout, never by the token
    sub, attempt = charge.subscription, charge.attempt
    if attempt.status in SUCCESSFUL:
        return "paid"  # a duplicate task after the first one recorded the payment
    if (attempt.status not in (Status.CREATED, Status.PENDING) or sub.status != Subscription.Status.ACTIVE
            or not sub.customer_token):
        return "skipped"  # cancelled, paused or past due since the beat opened the cycle: not charged
    request = checkout_request(attempt, order_book().details(attempt.order_id, order=attempt.order))
    payment, declined = _charge_token(charge, request, source)
    if declined:
        return declined
    with transaction.atomic():
        moved = transition(attempt, Status(payment.status), source=source,
                           provider_reference=payment.provider_reference, payload=payment.raw,
                           message=f"Renewal {charge.billing_cycle} charged to the customer token")
        if not moved.changed:
            return "paid"  # recorded by a duplicate of this task (or the reconcile) that got there first
        SubscriptionCharge.objects.filter(pk=charge.pk).update(provider_order=payment.provider_reference,
                                                               updated_at=timezone.now())
        _advance(sub, charge, attempt, source)
        send_on_commit(renewal_paid, charge_id=charge.pk, subscription_id=sub.pk, email=sub.email)
    return "paid"


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
    except ProviderRequestError as exc:  # PaymentDeclined, TokenRevoked, or a request the provider refused
        return None, _declined(charge, exc, source)
    if payment.status not in ("authorized", "captured"):
        return None, _declined(charge, PaymentDeclined(f"the provider reports the renewal as {payment.status}"),
                               source)
    return payment, None


def _advance(sub, charge, attempt, source):
    """The subscription's next renewal date one interval on from the date read (payments.states)."""
    subscription_renewed(sub, next_renewal_at=next_date(sub.next_renewal_at or timezone.now(), sub.interval,
                                                        sub.interval_count),
                         source=source, message=f"Cycle {charge.billing_cycle} paid: order {attempt.order.number}")


def _open_charge(subscription_id, *, force=False):
    """The charge row (with order and attempt) for the cycle now due, created under the row lock."""
    with transaction.atomic():
        sub = Subscription.objects.select_for_update().get(pk=subscription_id)
        if sub.is_canceled:
            return None
        last = sub.charges.order_by("-billing_cycle").select_related("attempt").first()
        if last and not (last.attempt_id and last.attempt.status in SUCCESSFUL):
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


def _declined(charge, exc, source) -> str:
    sub, attempt = charge.subscription, charge.attempt
    gone = isinstance(exc, TokenRevoked)
    with transaction.atomic():
        transition(attempt.pk, Status.FAILED, source=source, message=str(exc)[:500],
                   failure_reason="Renewal declined by the payment provider")
        SubscriptionCharge.objects.filter(pk=charge.pk).update(failures=charge.failures + 1,
                                                               last_failure=str(exc)[:255])
        if gone:
            subscription_transition(sub.pk, "canceled", source=source, cancel_reason="payment_method_revoked",
                                    next_renewal_at=None,
                                    message=f"The provider will not charge this subscriber's token any more "
                                            f"({exc.code}); the subscription stopped. Contact the subscriber.")
            send_on_commit(subscription_cancelled, subscription_id=sub.pk)
        else:
            subscription_transition(sub.pk, "past_due", source=source,
                                    message=f"Cycle {charge.billing_cycle} declined: {exc}")
            send_on_commit(renewal_failed, subscription_id=sub.pk, billing_cycle=charge.billing_cycle,
                           failures=charge.failures + 1)
    log.info("renewal of %s declined: %s", sub.provider_id, exc)
    return "token_gone" if gone else "declined"
