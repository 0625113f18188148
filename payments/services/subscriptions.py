"""Subscriptions the provider runs (29 Next): mirror them, record each billing cycle once, steer them.

The provider is the source of truth. Webhooks tell us *that* something changed; we then read the
subscription back (GET) and apply what it says now, so a late or out-of-order webhook can never move
state backwards. Every billing cycle gets one SubscriptionCharge row (unique per cycle), so a renewal
delivered three times is recorded once.
"""
import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..exceptions import InvalidReturn, ProviderError
from ..models import PaymentAttempt, Subscription, SubscriptionCharge, SubscriptionEvent
from ..orders import RenewalLine, order_book
from ..providers.registry import get_adapter
from ..providers.types import ProviderPayment, SubscriptionInfo
from ..signals import renewal_failed, renewal_paid, send_on_commit, subscription_cancelled
from ..states import SUCCESSFUL, Status, transition
from ..subscription_states import subscription_transition
from .dispatch import enqueue_on_commit
from .renewal_dates import renewal_date

log = logging.getLogger(__name__)


def subscription_link(*, route: str, provider_id: str, order_id) -> Subscription:
    """Create (or find) our mirror of a subscription the provider started from our order.

    Idempotent on (route, provider_id). Records cycle 0 as the order's checkout payment, and what the
    shop's pages said a renewal costs (`advertised_amount`). When the provider's renewal price differs and
    cannot be set now, align_subscription_price is queued on commit and retried until it is
    (payments.services.subscription_prices).
    Raises ProviderError when the provider cannot be read (the caller's task retries).
    """
    from ..tasks import align_subscription_price

    existing = Subscription.objects.filter(route=route, provider_id=provider_id).first()
    if existing:
        return existing
    info = get_adapter(route).fetch_subscription(provider_id)
    order = order_book().details(order_id)
    advertised, aligned = _advertised_amount(order_id, info), ""
    if advertised is not None and advertised != info.amount:
        # The shop's pages said what each renewal costs; the provider must charge exactly that.
        try:
            before, info = info.amount, get_adapter(route).subscription_set_amount(provider_id, advertised)
            aligned = f"; its renewal price was set to the advertised {advertised} (the provider had {before})"
        except (ProviderError, InvalidReturn) as exc:
            aligned = (f"; WARNING: the provider renews at {info.amount}, not the advertised {advertised} ({exc}); "
                       f"the shop sets it again until it does")
    try:
        with transaction.atomic():
            sub = Subscription.objects.create(
                route=route, provider_id=provider_id, order_id=order_id, email=order.customer.email,
                status=info.status, interval=info.interval, interval_count=info.interval_count, amount=info.amount,
                advertised_amount=advertised, currency=info.currency or order.currency,
                next_renewal_at=info.next_renewal_at, provider_synced_at=timezone.now(),
            )
            checkout = (PaymentAttempt.objects.filter(order_id=order_id, kind=PaymentAttempt.Kind.CHECKOUT,
                                                      status__in=SUCCESSFUL).first())
            SubscriptionCharge.objects.create(subscription=sub, billing_cycle=0, amount=order.total,
                                              currency=order.currency, attempt=checkout,
                                              provider_order=checkout.provider_reference if checkout else "")
            SubscriptionEvent.objects.create(subscription=sub, kind="created", source="provider",
                                             message=f"Started by order {order.number}{aligned}"[:500],
                                             payload=info.raw)
            if advertised is not None and info.amount != advertised:
                enqueue_on_commit(align_subscription_price, sub.pk)
    except IntegrityError:
        return Subscription.objects.get(route=route, provider_id=provider_id)
    return sub


def _advertised_amount(order_id, info) -> int | None:
    """What the shop's pages said one renewal of this schedule costs (its lines, shipping free)."""
    for interval, count, amount in order_book().subscription_schedules(order_id):
        if (interval, count) == (info.interval, info.interval_count):
            return amount
    return None


def subscription_sync(*, subscription: Subscription, info: SubscriptionInfo, source: str) -> Subscription:
    """Apply the provider's current view, then record any renewal order we have not seen yet."""
    subscription_transition(
        subscription.pk, info.status, source=source, payload=info.raw,
        next_renewal_at=info.next_renewal_at, interval=info.interval, interval_count=info.interval_count,
        amount=info.amount, cancel_reason=info.cancel_reason, provider_synced_at=timezone.now(),
    )
    if info.status == Subscription.Status.CANCELED:  # e.g. the provider's own dunning gave up
        send_on_commit(subscription_cancelled, subscription_id=subscription.pk)
    adapter = get_adapter(subscription.route)
    recorded = set(subscription.charges.filter(attempt__status__in=SUCCESSFUL)
                   .values_list("billing_cycle", flat=True))
    for order_number, cycle in info.orders:
        if cycle >= 1 and cycle not in recorded:
            payment = adapter.fetch_payment(order_number)
            subscription_renewal_record(subscription=subscription, billing_cycle=cycle, payment=payment,
                                        source=source)
    subscription.refresh_from_db()
    return subscription


def subscription_renewal_record(*, subscription: Subscription, billing_cycle: int, payment: ProviderPayment,
                                source: str) -> SubscriptionCharge:
    """Record a paid renewal: one charge row per cycle, one shop order to fulfil, one captured attempt.

    Idempotent: the unique (subscription, billing_cycle) row is taken under a lock, and a cycle that
    already has a paid attempt is left alone however often the renewal is reported.
    """
    with transaction.atomic():
        charge, _ = SubscriptionCharge.objects.select_for_update().get_or_create(
            subscription=subscription, billing_cycle=billing_cycle,
            defaults={"amount": payment.amount, "currency": payment.currency or subscription.currency},
        )
        if charge.attempt_id and charge.attempt.status in SUCCESSFUL:
            return charge
        if payment.status not in ("captured", "authorized"):
            return charge
        order_id = order_book().create_renewal(
            initial_order_id=subscription.order_id, billing_cycle=billing_cycle, amount=payment.amount,
            provider_lines=[RenewalLine(p, q, t) for p, q, t in payment.line_totals if q > 0])
        attempt = PaymentAttempt.objects.create(
            order_id=order_id, route=subscription.route, kind=PaymentAttempt.Kind.RENEWAL, amount=payment.amount,
            currency=payment.currency or subscription.currency, provider_reference=payment.provider_reference,
        )
        transition(attempt.pk, Status(_status(payment.status)), source=source, payload=payment.raw,
                   message=f"Renewal {billing_cycle} of subscription {subscription.provider_id} "
                           f"paid as provider order {payment.provider_reference}")
        charge.attempt, charge.provider_order, charge.amount = attempt, payment.provider_reference, payment.amount
        charge.save(update_fields=["attempt", "provider_order", "amount", "updated_at"])
        SubscriptionEvent.objects.create(subscription=subscription, kind="renewed", source=source,
                                         message=f"Cycle {billing_cycle} paid: order {attempt.order.number}")
        advertised = subscription.advertised_amount
        if advertised is not None and payment.amount > advertised:
            # The price was not corrected in time (subscription_prices): the merchant owes the difference.
            SubscriptionEvent.objects.create(
                subscription=subscription, kind="price_mismatch", source=source,
                message=f"WARNING: cycle {billing_cycle} was charged {payment.amount}, more than the advertised "
                        f"{advertised}: refund the difference of {payment.amount - advertised} on order "
                        f"{attempt.order.number}")
        send_on_commit(renewal_paid, charge_id=charge.pk, subscription_id=subscription.pk)
    return charge


def subscription_failure_record(*, subscription: Subscription, billing_cycle: int | None, reason: str,
                                source: str, dedupe_key: str) -> bool:
    """Count one failed renewal attempt for a cycle, once per provider event. Returns False on repeats."""
    cycle = billing_cycle if billing_cycle is not None else subscription.charges.count()
    with transaction.atomic():
        try:
            with transaction.atomic():
                SubscriptionEvent.objects.create(subscription=subscription, kind="renewal_failed", source=source,
                                                 dedupe_key=dedupe_key, message=f"Cycle {cycle}: {reason}"[:500])
        except IntegrityError:
            return False
        charge, _ = SubscriptionCharge.objects.select_for_update().get_or_create(
            subscription=subscription, billing_cycle=cycle,
            defaults={"amount": subscription.amount, "currency": subscription.currency})
        charge.failures += 1
        charge.last_failure = reason[:255]
        charge.save(update_fields=["failures", "last_failure", "updated_at"])
        send_on_commit(renewal_failed, subscription_id=subscription.pk, billing_cycle=cycle, failures=charge.failures)
    return True


def subscription_apply_event(*, route: str, event, dedupe_key: str) -> tuple[str, Subscription | None]:
    """Apply a subscription-related webhook. Returns (delivery state, subscription)."""
    sub = Subscription.objects.filter(route=route, provider_id=event.subscription_id).first()
    adapter = get_adapter(route)
    if sub is None:
        sub = _link_from_provider(route, event.subscription_id)
        if sub is None:
            return "unmatched", None
    if event.payment is not None and event.billing_cycle:
        subscription_renewal_record(subscription=sub, billing_cycle=event.billing_cycle, payment=event.payment,
                                    source="webhook")
    elif event.failed:
        subscription_failure_record(subscription=sub, billing_cycle=event.billing_cycle,
                                    reason="Renewal payment declined", source="webhook", dedupe_key=dedupe_key)
    subscription_sync(subscription=sub, info=adapter.fetch_subscription(sub.provider_id), source="webhook")
    return "applied", sub


def _link_from_provider(route, provider_id):
    """A webhook about a subscription we have not linked yet: find its first order among ours."""
    try:
        info = get_adapter(route).fetch_subscription(provider_id)
    except (ProviderError, InvalidReturn) as exc:
        log.warning("subscription %s unknown and unreadable: %s", provider_id, exc)
        return None
    first = next((number for number, cycle in info.orders if cycle == 0), None)
    attempt = (PaymentAttempt.objects.filter(route=route, kind=PaymentAttempt.Kind.CHECKOUT,
                                             provider_reference=first, status__in=SUCCESSFUL).first()
               if first else None)
    if attempt is None:
        return None
    return subscription_link(route=route, provider_id=provider_id, order_id=attempt.order_id)


def _status(provider_status: str) -> str:
    return {"captured": Status.CAPTURED, "authorized": Status.AUTHORIZED}[provider_status]


def subscriptions_start(*, attempt, customer_token: str, token_grant: str = "",
                        token_grant_until=None) -> list[Subscription]:
    """Subscriptions the shop itself renews (charged to the customer token), one per schedule among the
    order's subscription lines, each anchored at this moment: it renews on this local day and time every
    period (renewal_dates). Idempotent on (route, provider_id). Without a token but with a `token_grant`, the
    token is asked for again later (customer_tokens)."""
    book = order_book()
    order = book.details(attempt.order_id)
    started = []
    now = timezone.now()
    for interval, count, amount in book.subscription_schedules(attempt.order_id):
        provider_id = f"{attempt.reference}-{interval}-{count}"
        with transaction.atomic():
            sub, created = Subscription.objects.get_or_create(
                route=attempt.route, provider_id=provider_id,
                defaults=dict(order_id=attempt.order_id, email=order.customer.email, interval=interval,
                              interval_count=count, amount=amount, advertised_amount=amount, currency=order.currency,
                              renewal_anchor=now, next_renewal_at=renewal_date(now, interval, count, 1),
                              customer_token=customer_token, provider_synced_at=now,
                              token_grant="" if customer_token else token_grant,
                              token_grant_until=None if customer_token or not token_grant else token_grant_until))
            if created:
                SubscriptionCharge.objects.create(subscription=sub, billing_cycle=0, amount=order.total,
                                                  currency=order.currency, attempt=attempt,
                                                  provider_order=attempt.provider_reference)
                SubscriptionEvent.objects.create(
                    subscription=sub, kind="created", source="checkout",
                    message=f"Started by order {order.number}" + _token_note(customer_token, token_grant))
        started.append(sub)
    return started


def _token_note(customer_token, token_grant) -> str:
    if customer_token:
        return ""
    if token_grant:
        return "; the provider could not be reached for its customer token: the shop asks again for an hour"
    return "; the provider gave no customer token, so it cannot renew: contact the subscriber"


def subscriptions_readdress(*, order_id, email: str, source: str = "admin") -> int:
    """Customer service corrected the email of an order that started subscriptions: their receipts, decline
    and cancel emails (and the signed links in them) go to the corrected address from now on, not the one
    typed at checkout (probe H F6). Each subscription's history says so. Returns how many changed."""
    with transaction.atomic():
        subs = list(Subscription.objects.select_for_update().filter(order_id=order_id).exclude(email=email))
        Subscription.objects.filter(pk__in=[sub.pk for sub in subs]).update(email=email, updated_at=timezone.now())
        SubscriptionEvent.objects.bulk_create(
            SubscriptionEvent(subscription=sub, kind="contact", source=source,
                              message=f"Email changed from {sub.email} to {email} (corrected on its order)"[:500])
            for sub in subs)
    return len(subs)
