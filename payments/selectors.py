"""Read-only queries over payments, for views and admin."""
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from shop.models import UpsellOffer

from .models import PaymentAttempt, Upsell
from .providers.registry import get_adapter
from .states import SUCCESSFUL


def paid_checkout_attempt(order) -> PaymentAttempt | None:
    return (order.payment_attempts.filter(kind=PaymentAttempt.Kind.CHECKOUT, status__in=SUCCESSFUL)
            .order_by("created_at").first())


def upsell_offers_for(order, *, now=None) -> list[UpsellOffer]:
    """Offers the shopper may accept with one click on this order right now.

    Only after a paid checkout whose route takes upsells and whose provider said the payment can take
    one (29 Next: supports_post_purchase_upsells), inside the offer's window, triggered by a product
    in the order (or by any purchase), and not accepted already.
    """
    now = now or timezone.now()
    attempt = paid_checkout_attempt(order)
    if attempt is None or not attempt.provider_supports_upsell:
        return []
    if not get_adapter(attempt.route).supports_upsell:
        return []
    bought = set(order.lines.filter(is_upsell=False).values_list("product_id", flat=True))
    taken = set(order.upsells.values_list("offer_id", flat=True))
    offers = (UpsellOffer.objects.filter(is_active=True, product__is_active=True)
              .filter(Q(starts_at__isnull=True) | Q(starts_at__lte=now))
              .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
              .exclude(pk__in=taken).select_related("product").prefetch_related("trigger_products"))
    result = []
    for offer in offers:
        triggers = {p.pk for p in offer.trigger_products.all()}
        if not triggers or triggers & bought:
            result.append(offer)
    return result


def upsells_of(order) -> list[Upsell]:
    return list(order.upsells.select_related("attempt", "offer").order_by("created_at"))


def stuck_upsells(*, older_than: int):
    """Upsells whose charge has not reached an outcome: the reconcile task reads them back."""
    cutoff = timezone.now() - timedelta(seconds=older_than)
    return Upsell.objects.filter(attempt__status__in=["created", "pending"], created_at__lte=cutoff)
