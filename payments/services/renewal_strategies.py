"""One renewal strategy per kind of route, chosen once from the route's capabilities (DESIGN rule 2).

- ProviderRun (Renewals.PROVIDER, 29 Next): the provider renews on its own schedule; the shop mirrors each
  subscription, reads it back, and steers it through the provider's own renew / retry / cancel / reschedule.
- ShopRun (Renewals.SHOP, Klarna Payments): the shop charges a stored customer token on its own schedule
  (payments.services.renewals), so renew and retry are our own charge and cancel stops the token.
- NoRenewals (Renewals.NONE): the route takes no recurring payments; every action says so.

Services call `strategy_for(route)` and never ask which route they hold.
"""
from abc import ABC, abstractmethod
from datetime import datetime

from django.db import transaction

from ..exceptions import InvalidReturn, OperationNotSupported, PaymentError, ProviderError
from ..models import Subscription, SubscriptionEvent
from ..orders import order_book
from ..providers.registry import all_adapters, get_adapter
from ..providers.types import ProviderPayment, Renewals
from ..statuses import IN_BETWEEN
from ..subscription_states import subscription_transition
from .dispatch import enqueue_on_commit

CANCEL_REASONS = {
    "not_satisfied_with_product": "Not satisfied with the product",
    "product_too_expensive": "Too expensive",
    "cancel_recurring": "No longer needed",
    "unwanted_subscription": "Did not want a subscription",
    "recurring_payment_declined": "Recurring payment declined",
    "disputed_cancel_recurring": "Disputed",
    "schedule_ended": "Schedule ended",
    "other": "Other",
}


class SubscriptionActionError(PaymentError):
    shopper_message = "We could not change your subscription right now. Please try again later."

    @property
    def retryable(self) -> bool:
        """The provider did not answer (the action may have happened, asking again may do): as what it wraps."""
        return bool(getattr(self.__cause__, "retryable", False))


class RenewalStrategy(ABC):
    """What each kind of route does with a subscription; every method returns the subscription as it now
    is and raises SubscriptionActionError when the action did not happen."""

    renewals: Renewals

    @abstractmethod
    def started(self, *, attempt, payment: ProviderPayment) -> None:
        """A checkout was paid: begin whatever subscriptions its order holds."""

    @abstractmethod
    def renew_now(self, sub: Subscription, *, source: str) -> Subscription:
        """Charge the next cycle now."""

    @abstractmethod
    def retry(self, sub: Subscription, *, source: str) -> Subscription:
        """Try the declined cycle again."""

    @abstractmethod
    def cancel(self, sub: Subscription, *, reason: str, message: str, source: str) -> Subscription:
        """Stop all further renewals (final)."""

    @abstractmethod
    def reschedule(self, sub: Subscription, when: datetime, *, source: str) -> Subscription:
        """Move the next renewal to `when`."""


class ProviderRun(RenewalStrategy):
    renewals = Renewals.PROVIDER

    def started(self, *, attempt, payment):
        from ..tasks import link_subscription

        for provider_id in {sid for sid, cycle in payment.subscriptions if cycle == 0}:
            if not Subscription.objects.filter(route=attempt.route, provider_id=provider_id).exists():
                enqueue_on_commit(link_subscription, attempt.route, provider_id, attempt.order_id)

    def renew_now(self, sub, *, source):
        return _act(sub, "renew", lambda a: a.subscription_renew(sub.provider_id), source=source,
                    message="Renewal requested now")

    def retry(self, sub, *, source):
        return _act(sub, "retry", lambda a: a.subscription_retry(sub.provider_id), source=source,
                    message="Payment retry requested")

    def cancel(self, sub, *, reason, message, source):
        # Recorded before the call: the provider's webhook may mirror the cancel, and mail the subscriber, before
        # this call's answer is back (or after it was lost); the email names who asked (probe H F11).
        SubscriptionEvent.objects.create(subscription=sub, kind="cancel_requested", source=source,
                                         message=f"Cancel requested: {CANCEL_REASONS[reason]}")
        return _act(sub, "cancel", lambda a: a.subscription_cancel(sub.provider_id, reason=reason, message=message),
                    source=source, message=f"Cancelled: {CANCEL_REASONS[reason]}. {message}".strip())

    def reschedule(self, sub, when, *, source):
        return _act(sub, "reschedule", lambda a: a.subscription_reschedule(sub.provider_id, when), source=source,
                    message=f"Next renewal moved to {when.isoformat()}")


class ShopRun(RenewalStrategy):
    renewals = Renewals.SHOP

    def started(self, *, attempt, payment):
        from .subscriptions import subscriptions_start

        if order_book().subscription_schedules(attempt.order_id):
            subscriptions_start(attempt=attempt, customer_token=payment.customer_token,
                                token_grant=payment.token_grant, token_grant_until=payment.token_grant_until)

    def renew_now(self, sub, *, source):
        return _charge_now(sub, source=source, message="Renewal charged now")

    def retry(self, sub, *, source):
        # Retrying is for a declined cycle: on an active subscription it would charge a cycle early.
        if sub.status != Subscription.Status.PAST_DUE:
            raise SubscriptionActionError(f"only a past-due subscription can be retried (this one is {sub.status})")
        return _charge_now(sub, source=source, message="Payment retried", past_due_only=True)

    def cancel(self, sub, *, reason, message, source):
        # Only the shop charges the token, so the cancel is done once recorded here; the token is given back
        # after, and only when no other subscription renews on it (probe H F1: one checkout's monthly and
        # quarterly schedules share its token, and revoking it for one stopped the other). The cancel and the
        # decision are made under the locks of every subscription on the token, so cancels of its last two
        # subscriptions take turns and the later one sees the earlier one (_token_unused).
        with transaction.atomic():
            token_lock(sub)
            subscription_transition(sub.pk, "canceled", source=source, cancel_reason=reason, next_renewal_at=None,
                                    message=f"Cancelled: {CANCEL_REASONS[reason]}. {message}".strip())
            release = _token_unused(sub, source)
        if release:
            # After commit: a cancel run inside a caller's transaction (operation_settle's) that then rolls back
            # leaves the subscriptions active, and must not leave them on a token already revoked at Klarna.
            transaction.on_commit(lambda: _release_token(sub, source))
        return Subscription.objects.get(pk=sub.pk)

    def reschedule(self, sub, when, *, source):
        # The new date becomes the anchor: a subscriber who asked to renew on the 15th renews on the 15th
        # from then on, not once on the 15th and then back on the old day (renewal_dates). Migration 0013
        # reads this message back: keep it starting with "Next renewal moved to <ISO date>".
        message = f"Next renewal moved to {when.isoformat()}; later renewals follow from that date"
        if sub.charges.filter(billing_cycle__gt=0, attempt__status__in=IN_BETWEEN).exists():
            # A cycle that came due is open (queued or at the provider): it is charged as it was opened, and the
            # new date is the renewal after it (payments.services.renewals._renewed).
            message += "; the renewal already due is being charged, and this date is the one after it"
        subscription_transition(sub.pk, sub.status, source=source, next_renewal_at=when, renewal_anchor=when,
                                message=message)
        return Subscription.objects.get(pk=sub.pk)


class NoRenewals(RenewalStrategy):
    """The route takes no recurring payments (checkout refuses subscriptions on it): nothing starts, and
    every merchant action says so."""

    renewals = Renewals.NONE

    def started(self, *, attempt, payment):
        return None  # checkout never lets a subscription reach a route without renewals

    def _refuse(self, sub):
        raise SubscriptionActionError(f"the {sub.route} route takes no recurring payments") from \
            OperationNotSupported(sub.route)

    def renew_now(self, sub, *, source):
        self._refuse(sub)

    def retry(self, sub, *, source):
        self._refuse(sub)

    def cancel(self, sub, *, reason, message, source):
        self._refuse(sub)

    def reschedule(self, sub, when, *, source):
        self._refuse(sub)


STRATEGIES = {strategy.renewals: strategy for strategy in (ProviderRun(), ShopRun(), NoRenewals())}


def strategy_for(route: str) -> RenewalStrategy:
    return STRATEGIES[get_adapter(route).capabilities.renewals]


def routes_renewed_by(renewals: Renewals) -> list[str]:
    return [adapter.key for adapter in all_adapters() if adapter.capabilities.renewals == renewals]


def token_lock(sub) -> None:
    """Lock every subscription that renews on `sub`'s customer token, in pk order (the order every path that
    locks several subscriptions takes), in the caller's transaction: two cancels of subscriptions sharing a
    token take turns, whatever transaction their callers run in (each saw the other still active, and
    neither gave the token back)."""
    if sub.customer_token:
        list(Subscription.objects.select_for_update().filter(route=sub.route, customer_token=sub.customer_token)
             .order_by("pk").values_list("pk", flat=True))


def _token_unused(sub, source) -> bool:
    """Whether `sub` (just cancelled) was the last subscription renewing on its customer token; when another
    still does, says so in `sub`'s history. Read under token_lock's locks, so of two racing cancels the later
    one sees the earlier one's and answers True."""
    if not sub.customer_token:
        return False
    if Subscription.objects.filter(route=sub.route, customer_token=sub.customer_token).exclude(
            status=Subscription.Status.CANCELED).exists():
        SubscriptionEvent.objects.create(subscription=sub, kind="token", source=source,
                                         message="Customer token kept: another subscription of the same checkout "
                                                 "still renews on it")
        return False
    return True


def _release_token(sub, source) -> None:
    """Cancel `sub`'s customer token at the provider, once _token_unused said no subscription renews on it
    any more (outside the locks when the caller runs in none: nothing holds them over a provider call). A
    second revoke of it changes nothing. A revoke that fails leaves the token unused (nothing charges a
    cancelled subscription) and says so."""
    try:
        get_adapter(sub.route).cancel_customer_token(sub.customer_token)
    except (ProviderError, InvalidReturn) as exc:
        SubscriptionEvent.objects.create(subscription=sub, kind="token", source=source,
                                         message=(f"The customer token could not be cancelled at the provider "
                                                  f"({exc}); nothing charges it any more")[:500])


def _act(sub, action: str, call, *, source: str, message: str) -> Subscription:
    from .subscriptions import subscription_sync

    adapter = get_adapter(sub.route)
    try:
        info = call(adapter)
    except (ProviderError, InvalidReturn) as exc:
        lost = getattr(exc, "retryable", False) and action in READ_BACK
        info = _done_meanwhile(adapter, sub, action) if lost else None
        if info is not None:
            message = f"{message} (the answer was lost; the provider's subscription shows it done)"
        elif lost and action in CHARGING:
            # The provider may have charged and the subscription does not show it yet: never "failed".
            SubscriptionEvent.objects.create(
                subscription=sub, kind=f"{action}_unknown", source=source,
                message=f"{message}: outcome unknown ({exc}); the provider's subscription shows no new charge "
                        f"yet. Check it before trying again: a second {action} may charge again."[:500])
            raise SubscriptionActionError(
                f"{action} of subscription {sub.provider_id}: the provider's answer was lost ({exc}) and its "
                f"subscription shows no new charge yet; wait for its webhook or check the subscription "
                f"before trying again") from exc
        else:
            SubscriptionEvent.objects.create(subscription=sub, kind=f"{action}_failed", source=source,
                                             message=f"{message}: {exc}"[:500])
            raise SubscriptionActionError(f"{action} of subscription {sub.provider_id} failed: {exc}") from exc
    SubscriptionEvent.objects.create(subscription=sub, kind=action, source=source, message=message[:500])
    return subscription_sync(subscription=sub, info=info, source=source)


# Provider actions whose lost answer is read back before anything is said: those that charge the subscriber,
# and a cancel (probe H F11: the subscriber was told it had failed, and it had not).
CHARGING = ("renew", "retry")
READ_BACK = (*CHARGING, "cancel")


def _done_meanwhile(adapter, sub, action):
    """The provider's subscription when it shows what a lost `action` answer would have done, else None: a
    cancel, the subscription cancelled; a renew or retry, a cycle our books do not have yet (for a retry,
    also the subscription active again)."""
    from django.db.models import Max

    try:
        info = adapter.fetch_subscription(sub.provider_id)
    except (ProviderError, InvalidReturn):
        return None
    if action == "cancel":
        return info if info.status == Subscription.Status.CANCELED else None
    ours = sub.charges.aggregate(last=Max("billing_cycle"))["last"] or 0
    theirs = max((cycle for _, cycle in info.orders), default=0)
    if theirs > ours or (action == "retry" and info.status == Subscription.Status.ACTIVE):
        return info
    return None


def _charge_now(sub, *, source, message, past_due_only=False) -> Subscription:
    """Our charge now. A retry (`past_due_only`) that finds, under the row lock, that a retry racing it
    already paid the cycle charges nothing and returns the subscription as that one left it (active)."""
    from .renewals import subscription_charge

    SubscriptionEvent.objects.create(subscription=sub, kind="charge", source=source, message=message)
    try:
        outcome = subscription_charge(subscription_id=sub.pk, source=source, force=True, past_due_only=past_due_only)
    except (ProviderError, InvalidReturn) as exc:
        raise SubscriptionActionError(f"charging subscription {sub.provider_id} failed: {exc}") from exc
    sub.refresh_from_db()
    if outcome == "voided":
        raise SubscriptionActionError("the subscription was cancelled while it was being charged: the charge "
                                      "is undone")
    if outcome == "skipped" and not (past_due_only and sub.status == Subscription.Status.ACTIVE):
        raise SubscriptionActionError("this subscription cannot be charged now")
    return sub
