"""Customer tokens asked for again. A checkout that starts shop-run subscriptions asks the provider for the
customer token renewals are charged to; when the provider cannot be reached for it (past the HTTP client's
own retries), the order is placed and paid all the same, and the subscription keeps what the route can still
turn into a token (`token_grant`: Klarna's authorization token, for its 60 minutes). The beat asks again here
until the token is issued, refused, or the grant runs out; only then is the merchant told to contact the
subscriber. Every ask uses the checkout's own idempotency key, so a token Klarna made whose answer was lost
comes back instead of a refusal ("already used").
"""
import logging

from django.db import transaction
from django.utils import timezone

from ..exceptions import InvalidReturn, ProviderError, ProviderUnavailable
from ..models import Subscription, SubscriptionCharge, SubscriptionEvent
from ..providers.registry import get_adapter
from .payment_start import checkout_request

log = logging.getLogger(__name__)

NO_TOKEN = "it cannot renew by itself: contact the subscriber"


def subscriptions_issue_tokens(*, now=None) -> dict:
    """Ask again for every grant still waiting; returns how many subscriptions got a token, and how many were
    given up. Safe to run twice at once: the provider answers one key with one token, and each subscription
    takes it (or its give-up) once, under its row lock."""
    now = now or timezone.now()
    Subscription.objects.filter(status=Subscription.Status.CANCELED).exclude(token_grant="").update(
        token_grant="", token_grant_until=None, updated_at=now)  # a token for nothing to renew: not asked for
    waiting = Subscription.objects.exclude(token_grant="").filter(customer_token="")
    report = {"issued": 0, "given_up": 0}
    for route, grant in set(waiting.values_list("route", "token_grant")):
        subs = list(waiting.filter(route=route, token_grant=grant).order_by("pk"))
        until = subs[0].token_grant_until
        if until is not None and now > until:
            report["given_up"] += _settle(subs, message=f"No customer token: the checkout's authorization ran out "
                                                        f"before the provider could be reached; {NO_TOKEN}")
            continue
        charge = SubscriptionCharge.objects.filter(subscription=subs[0], billing_cycle=0).select_related(
            "attempt").first()
        try:
            token = get_adapter(route).issue_customer_token(grant, checkout_request(charge.attempt))
        except ProviderUnavailable as exc:
            log.info("customer token for %s still unreachable: %s", route, exc)
            continue
        except (ProviderError, InvalidReturn) as exc:
            report["given_up"] += _settle(subs, message=f"No customer token: the provider refused it ({exc}); "
                                                        f"{NO_TOKEN}")
            continue
        taken = _settle(subs, token=token, message="Customer token issued on a later try (the provider was "
                                                   "unreachable at checkout): it renews by itself")
        report["issued"] += taken
        if not taken:
            # Every subscription was cancelled while the provider was asked: the token renews nothing.
            _revoke(route, token)
    return report


def _settle(subs, *, token="", message) -> int:
    """Give the subscriptions still waiting (not cancelled meanwhile) `token` ('' when given up) and say so in
    their history, once each; returns how many."""
    now = timezone.now()
    with transaction.atomic():
        taking = list(Subscription.objects.select_for_update().filter(
            pk__in=[sub.pk for sub in subs], customer_token="").exclude(token_grant="").exclude(
            status=Subscription.Status.CANCELED).order_by("pk"))
        Subscription.objects.filter(pk__in=[sub.pk for sub in taking]).update(
            customer_token=token, token_grant="", token_grant_until=None, updated_at=now)
        SubscriptionEvent.objects.bulk_create(SubscriptionEvent(subscription=sub, kind="token", source="reconcile",
                                                                message=message[:500]) for sub in taking)
    return len(taking)


def _revoke(route, token):
    try:
        get_adapter(route).cancel_customer_token(token)
    except (ProviderError, InvalidReturn) as exc:
        log.warning("customer token issued for cancelled subscriptions could not be cancelled: %s", exc)
