"""Read-only queries over payments, for views and admin."""
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from .models import PaymentAttempt, PaymentEvent, PaymentOperation, Upsell
from .orders import order_book
from .providers.registry import enabled_routes, get_adapter
from .providers.types import Address, DetailProblem, UpsellKind
from .states import SUCCESSFUL, Status


@dataclass(frozen=True)
class RouteChoice:
    """A payment route as checkout offers it."""

    key: str
    display_name: str
    description: str
    recurring: bool  # can pay for subscriptions (someone renews them)
    countries: frozenset[str] = frozenset()  # served in the shop's currency; empty means every country
    customer_fields: frozenset[str] = frozenset()  # shopper details checkout must ask for (CustomerField)

    def serves_country(self, country: str) -> bool:
        return not self.countries or (country or "").upper() in self.countries


def route_choices(*, country: str = "", recurring: bool = False) -> list[RouteChoice]:
    """The enabled routes that can take the shop's currency (from `country`, when given) and, when asked,
    pay for subscriptions."""
    currency = settings.SHOP_CURRENCY
    choices = []
    for adapter in enabled_routes():
        caps = adapter.capabilities
        choice = RouteChoice(adapter.key, adapter.display_name, adapter.description, caps.recurring,
                             caps.countries_for(currency), frozenset(str(f) for f in caps.customer_fields))
        if (country and not choice.serves_country(country)) or (recurring and not caps.recurring):
            continue
        if caps.markets and not choice.countries:
            continue  # the route takes no payments in the shop's currency at all
        choices.append(choice)
    return choices


def route_detail_problems(route: str, *, shipping: Address, billing: Address, email: str = "") -> list[DetailProblem]:
    """What the route's provider cannot take of these addresses and e-mail (PaymentAdapter.detail_problems),
    for the checkout form to say on the fields before any order is placed."""
    return get_adapter(route).detail_problems(shipping=shipping, billing=billing, email=email)


def route_names() -> dict[str, str]:
    """Display names of every enabled route, for pages that name the route an order used."""
    return {adapter.key: adapter.display_name for adapter in enabled_routes()}


def cancelled_by_shop(order_id) -> bool:
    """Whether the merchant cancelled a payment of this order at its provider (admin's "Cancel
    authorization", or a void in the provider's dashboard): the shop withdrew the order, so it takes no
    new payment."""
    return withdrawn_payment_of(order_id) is not None


def withdrawn_payment_of(order_id, *, besides=None) -> int | None:
    """The id of an order's payment the merchant cancelled at its provider (other than `besides`), or None.

    From admin (a cancel operation done), or in the provider's own dashboard (MultiSafepay's Control panel
    voids an authorization): a read-back then moves a payment that was already paid to cancelled. A shopper
    can only back out before approving, so a cancel after a success is never theirs (probe A: such an
    order said "Cancelled by you" and offered "Pay for this order" again), just as a refund made there is
    booked as the merchant's. Two reads at most, and only for an order that is cancelled."""
    cancels = PaymentOperation.objects.filter(attempt__order_id=order_id, kind=PaymentOperation.Kind.CANCEL,
                                              result=PaymentOperation.Result.DONE)
    voided = PaymentEvent.objects.filter(attempt__order_id=order_id, kind=PaymentEvent.Kind.TRANSITION,
                                         to_status=Status.CANCELLED, from_status__in=SUCCESSFUL)
    if besides is not None:
        cancels, voided = cancels.exclude(attempt_id=besides), voided.exclude(attempt_id=besides)
    found = cancels.values_list("attempt_id", flat=True).first()
    return found if found is not None else voided.values_list("attempt_id", flat=True).first()


def lapsed_payment_of(order_id) -> int | None:
    """The id of the order's newest checkout payment when it was approved and then expired (an authorization
    the merchant did not capture in time: MultiSafepay's `expired`, Klarna's after 28 days), else None. Such a
    payment was neither declined nor left unfinished by the shopper, and the order's pages say so. Two reads."""
    newest = (PaymentAttempt.objects.filter(order_id=order_id, kind=PaymentAttempt.Kind.CHECKOUT)
              .order_by("-created_at", "-pk").values_list("pk", "status").first())
    if newest is None or newest[1] != Status.EXPIRED:
        return None
    lapsed = PaymentEvent.objects.filter(attempt_id=newest[0], kind=PaymentEvent.Kind.TRANSITION,
                                         to_status=Status.EXPIRED, from_status__in=SUCCESSFUL).exists()
    return newest[0] if lapsed else None


def in_review_ids(attempts) -> frozenset[int]:
    """The ids among `attempts` (one order's, as read) that their provider holds for review, so the shopper is
    told so and not to pay again: pending with a provider payment named, on our own pages (Klarna's order
    placed from our widget, fraud status pending), or, for a shopper sent to the provider's own page, once
    the provider said it holds the payment (payment_confirm's REVIEW_NOTE). A reference named when the shopper
    was sent there (MultiSafepay's order, Klarna v2's payment request) says nothing about a review: the shopper
    may not have paid yet (probe A: such an order read "Awaiting Klarna's review"). One read at most, only
    when a pending payment was sent off the shop."""
    from .services.payment_confirm import REVIEW_NOTE

    pending = [a for a in attempts if a.status == Status.PENDING and a.provider_reference]
    off_site = [a.pk for a in pending if a.redirect_url and not a.redirect_url.startswith(settings.SHOP_BASE_URL)]
    held = set(PaymentEvent.objects.filter(attempt_id__in=off_site, dedupe_key=REVIEW_NOTE)
               .values_list("attempt_id", flat=True)) if off_site else set()
    return frozenset(a.pk for a in pending if a.pk not in off_site or a.pk in held)


def newer_checkout_exists(attempt) -> bool:
    """Whether a checkout attempt was started on `attempt`'s order after it."""
    return PaymentAttempt.objects.filter(order_id=attempt.order_id, kind=PaymentAttempt.Kind.CHECKOUT,
                                         pk__gt=attempt.pk).exists()


def paid_checkout_attempt(order) -> PaymentAttempt | None:
    """The checkout payment that paid the order: the first successful one that is not a duplicate being
    undone (an older tab paid after the order was paid by a newer attempt is the duplicate, not the payer)."""
    return (order.payment_attempts.filter(kind=PaymentAttempt.Kind.CHECKOUT, status__in=SUCCESSFUL,
                                          duplicate_of__isnull=True)
            .order_by("created_at").first())


# A paid checkout still standing whole: the statuses an order can take an upsell in. A payment with
# money left to capture stays AUTHORIZED (partly captured too); CAPTURED means nothing is left authorized.
UPSELL_TAKERS = frozenset({Status.AUTHORIZED, Status.CAPTURED})


def upsell_closed_by_capture(attempt) -> bool:
    """Whether the checkout payment `attempt` was captured in full on a route that adds an upsell to the
    money still authorized (capabilities.upsell_after_capture False): nothing can be added to it any more."""
    # By the figures, not only the status: captured in full and then partly refunded is partially_refunded,
    # and just as closed to an upsell.
    captured_in_full = attempt.status == Status.CAPTURED or attempt.captured_amount >= attempt.amount > 0
    return captured_in_full and not get_adapter(attempt.route).capabilities.upsell_after_capture


def upsell_offers_for(order, *, now=None) -> list:
    """Offers the shopper may accept with one click on this order right now.

    Only after a paid checkout whose route takes upsells, whose provider said the payment can take one and
    which the route can still add to, then whatever the shop's offers allow (window, trigger products, not
    accepted already).
    """
    now = now or timezone.now()
    attempt = paid_checkout_attempt(order)
    if attempt is None or not attempt.provider_supports_upsell or attempt.status not in UPSELL_TAKERS \
            or attempt.refunded_amount:
        # A refunded or partly refunded order is being unwound, not added to. (An authorization with money
        # left to capture stays authorized however much was refunded: the amount says it.)
        return []
    if get_adapter(attempt.route).capabilities.upsell == UpsellKind.NONE or upsell_closed_by_capture(attempt):
        return []
    return order_book().upsell_offers(order.pk, now=now)


def upsells_of(order) -> list[Upsell]:
    return list(order.upsells.select_related("attempt", "offer").order_by("created_at"))


def stuck_upsells(*, older_than: int):
    """Upsells whose charge has not reached an outcome: the reconcile task reads them back."""
    cutoff = timezone.now() - timedelta(seconds=older_than)
    return Upsell.objects.filter(attempt__status__in=["created", "pending"], created_at__lte=cutoff)


# The merchant's operations that change what is authorized on the provider's order; an upsell raises that
# authorization (Klarna Payments reads the order and sends it back with one more line), so the two take turns.
AUTHORIZATION_CHANGES = (PaymentOperation.Kind.CAPTURE, PaymentOperation.Kind.CANCEL, PaymentOperation.Kind.RELEASE)


# An upsell whose charge reached the provider with no outcome known (PENDING) holds the merchant's capture,
# cancel and release back this long after its last change; then its read-back has failed long enough that
# waiting helps nobody (the reconcile keeps asking), and the merchant acts on the provider's order as read.
UPSELL_OUTCOME_WAIT = timedelta(minutes=10)


def upsell_in_flight(attempt) -> bool:
    """Whether an upsell is being added to `attempt`'s provider order now: a worker holds its lease (its call
    to the provider may be under way), or its charge reached the provider lately with the outcome not known
    yet (UPSELL_OUTCOME_WAIT)."""
    now = timezone.now()
    return Upsell.objects.filter(order_id=attempt.order_id, attempt__route=attempt.route,
                                 attempt__provider_reference=attempt.provider_reference).filter(
        models.Q(charging_until__gt=now)
        | models.Q(attempt__status=Status.PENDING, attempt__updated_at__gt=now - UPSELL_OUTCOME_WAIT)).exists()


def authorization_change_running(order_id) -> bool:
    """Whether a merchant's capture, cancel or release of a payment of the order is not settled yet: being
    sent (its claimed operation row, payments.services.order_management._begin), answered but not yet booked,
    or with its answer lost until the reconcile settles it from the provider's order. An upsell waits for
    all of these: the authorization it would raise may be captured or cancelled already (review of stop 29)."""
    return PaymentOperation.objects.filter(
        attempt__order_id=order_id, kind__in=AUTHORIZATION_CHANGES, result=PaymentOperation.Result.PENDING).exists()
