"""What a provider-run renewal charges is what the shop's pages said.

29 Next puts the first order's total on the subscription it starts, shipping included, so every renewal
would carry the first order's shipping; the shop's pages advertise the subscription lines alone (shipping
free). The shop therefore sets the provider's renewal price to the advertised one
(`subscription_set_amount`). That call can fail like any provider call, so it is not a one-off at
purchase: each subscription keeps its `advertised_amount`, and a mirror whose provider price differs is
aligned by

- the align_subscription_price task, queued when the first try at linking fails (retried with backoff
  while the provider is unreachable);
- every read-back (subscription_sweep), which aligns the mirrors whose provider price it finds differing;
- the align-subscription-prices beat (config/celery.py), which queues the task for every live mirror
  still differing, the nearest renewal first.

So the price is corrected within minutes of the provider answering again, long before a renewal unless the
provider stays unreachable until the renewal date. Only the provider can change what it charges, so the
shop cannot hold such a renewal back; it records it with a "price_mismatch" event naming the difference
to refund (subscription_renewal_record), and the beat corrects the price for the cycles after.

A price the provider *refuses* (a ProviderRequestError, e.g. lines that now cost more than was advertised)
is asked again by the beat but recorded once in the history ("price_mismatch"), and admin flags the
subscription ("renews at this, not the advertised …", filter "Not the advertised price") for the merchant
to act on, for example by cancelling before the renewal date.
"""
import logging

from django.db import IntegrityError, transaction
from django.db.models import F

from ..exceptions import InvalidReturn, ProviderError, ProviderUnavailable
from ..models import Subscription, SubscriptionEvent
from ..providers.registry import get_adapter
from ..providers.types import Renewals
from .renewal_strategies import routes_renewed_by
from .subscriptions import subscription_sync

log = logging.getLogger(__name__)


def subscriptions_mispriced():
    """Live mirrors whose provider price (as last read) is not what the pages said, nearest renewal first."""
    return (Subscription.objects.filter(route__in=routes_renewed_by(Renewals.PROVIDER))
            .exclude(status=Subscription.Status.CANCELED)
            .filter(advertised_amount__isnull=False).exclude(amount=F("advertised_amount"))
            .order_by(F("next_renewal_at").asc(nulls_last=True), "pk"))


def subscription_price_align(*, subscription_id, source="price-check") -> bool:
    """Make the provider charge the advertised price from the next renewal on; True when it now does.

    Idempotent: a mirror already at its advertised price (or with none, or cancelled) calls nothing, and
    setting the same price twice leaves the provider as it was. Raises ProviderUnavailable for the caller
    (a task, a sweep) to retry; a refusal is recorded once in the history and returns False.
    Locks the subscription as subscription_sync does, after the provider call.
    """
    sub = Subscription.objects.get(pk=subscription_id)
    wanted = sub.advertised_amount
    if wanted is None or sub.is_canceled or sub.amount == wanted:
        return True
    try:
        info = get_adapter(sub.route).subscription_set_amount(sub.provider_id, wanted)
    except ProviderUnavailable:
        raise
    except (ProviderError, InvalidReturn) as exc:
        _record_refusal(sub, exc, source=source)
        return False
    SubscriptionEvent.objects.create(subscription=sub, kind="price_aligned", source=source,
                                     message=f"Renewal price set to the advertised {wanted} "
                                             f"(the provider had {sub.amount})")
    subscription_sync(subscription=sub, info=info, source=source)
    return info.amount == wanted


def _record_refusal(sub: Subscription, exc: Exception, *, source: str) -> None:
    """One "price_mismatch" event per provider price: the beat asks again, the history says it once."""
    try:
        with transaction.atomic():
            SubscriptionEvent.objects.create(
                subscription=sub, kind="price_mismatch", source=source,
                dedupe_key=f"price-mismatch-{sub.amount}-{sub.advertised_amount}",
                message=(f"WARNING: the provider renews at {sub.amount}, not the advertised {sub.advertised_amount}, "
                         f"and refused the advertised price: {exc}")[:500])
    except IntegrityError:
        pass
    log.warning("subscription %s renews at %s, not the advertised %s: %s", sub.provider_id, sub.amount,
                sub.advertised_amount, exc)
