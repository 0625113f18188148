"""One-click post-purchase upsells, charged exactly once (DESIGN rule 5), at the terms the shopper saw.

accept: the click carries the offer's terms signed into the page (upsell_terms), which must still be the
offer's terms or nothing is recorded. The Upsell row (unique per order and offer) and its PaymentAttempt
are created before any provider call; a double click finds the row that is already there. charge: a
Celery task; it takes a short lease on the upsell, granted only while no other upsell of the same order
holds one, so one worker at a time talks to the provider about an order's upsells; it commits "pending"
before the call, and when an earlier try's outcome is unknown (timeout, 5xx, a killed
worker) it reads the provider's order back and looks for our line (tagged with the upsell's reference)
before calling again.
A route without an idempotency key for this (29 Next) relies on that read-back to never charge twice.
"""
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..exceptions import OperationNotSupported, PaymentError, ProviderRequestError, ProviderUnavailable
from ..models import PaymentAttempt, Upsell
from ..orders import OfferLine, order_book
from ..providers.registry import get_adapter
from ..providers.types import UpsellRequest
from ..selectors import (
    authorization_change_running,
    paid_checkout_attempt,
    upsell_closed_by_capture,
    upsell_offers_for,
)
from ..signals import send_on_commit, upsell_added
from ..states import SUCCESSFUL, Status, record_event, transition
from .dispatch import enqueue_on_commit
from .upsell_terms import UpsellNotAvailable, UpsellOrderCaptured, offer_terms, terms_check

log = logging.getLogger(__name__)


def lease_length() -> timedelta:
    """Longer than one provider call can take (connect + read timeout), so a live worker never loses
    its lease mid-call, and short enough that a killed worker's upsell is picked up again soon."""
    return timedelta(seconds=settings.PROVIDER_CONNECT_TIMEOUT + settings.PROVIDER_READ_TIMEOUT
                     + settings.UPSELL_LEASE_PADDING)


@dataclass(frozen=True)
class ChargeOutcome:
    state: str  # added / declined / cancelled / pending / busy / waiting
    detail: str = ""


# The reason an accepted upsell is not charged when its order was captured in full before the charge ran.
CAPTURED_BEFORE_CHARGE = "The order was charged in full before this extra could be added"


def upsell_accept(*, order, offer_id, shown_terms: str) -> tuple[Upsell, bool]:
    """Record the shopper's click and queue the charge of exactly the terms their page showed (the signed
    `shown_terms` of upsell_terms). Returns (upsell, created).

    Locks the order. Idempotent: a second click on the same offer returns the existing upsell and
    queues nothing new. Raises UpsellNotAvailable when the offer is not open to this order (its subclass
    UpsellOrderCaptured when the order was captured in full on a route that cannot add to it then), and
    UpsellOfferChanged when its terms now differ from the shown ones: nothing is recorded or charged then.
    """
    from ..tasks import charge_upsell

    book = order_book()
    with transaction.atomic():
        details = book.lock(order.pk)
        existing = Upsell.objects.filter(order_id=order.pk, offer_id=offer_id).select_related("attempt").first()
        if existing:
            return existing, False
        offer = next((o for o in upsell_offers_for(order) if str(o.pk) == str(offer_id)), None)
        checkout = paid_checkout_attempt(order)
        if checkout is not None and upsell_closed_by_capture(checkout):
            raise UpsellOrderCaptured(f"order {details.number} was captured in full: nothing to add an upsell to")
        if offer is None or checkout is None:
            raise UpsellNotAvailable(f"offer {offer_id} is not open to order {details.number}")
        line: OfferLine = book.offer_line(offer)
        terms = offer_terms(order_id=order.pk, currency=details.currency, line=line)
        terms_check(signed=shown_terms, now=terms)
        attempt = PaymentAttempt.objects.create(
            order_id=order.pk, route=checkout.route, kind=PaymentAttempt.Kind.UPSELL, amount=terms.total,
            currency=terms.currency, provider_reference=checkout.provider_reference,
        )
        try:
            with transaction.atomic():
                upsell = Upsell.objects.create(
                    order_id=order.pk, offer_id=line.offer_id, attempt=attempt, product_id=line.product_id,
                    name=line.name, sku=line.sku, provider_product_id=line.provider_product_id,
                    quantity=terms.quantity, unit_price=terms.unit_price, vat_rate_bp=line.vat_rate_bp,
                )
        except IntegrityError:
            raise UpsellNotAvailable("this offer was already accepted") from None
        record_event(attempt.pk, kind="note", source="shopper",
                     message=f"Shopper accepted upsell {line.name} ({upsell.reference})")
        enqueue_on_commit(charge_upsell, upsell.pk)
    return upsell, True


# How often a charge waiting for its order's other upsell looks again (`wait` of upsell_charge).
WAIT_STEP = 0.25


def upsell_charge(*, upsell_id, wait: float = 0) -> ChargeOutcome:
    """Charge one accepted upsell, at most once. Safe to run any number of times, concurrently too.

    Raises ProviderUnavailable when the outcome is unknown (the task retries; the retry reads back
    first). A decline or refusal marks the upsell's attempt failed and leaves the paid order alone. While
    another upsell of the same order is being charged (or the merchant's capture, cancel or release of its
    payment is being sent), waits up to `wait` seconds for its turn, then charges nothing and returns
    "waiting" (try again soon).
    """
    deadline = time.monotonic() + wait
    lease = _lease(upsell_id)
    while lease == "waiting" and time.monotonic() < deadline:
        time.sleep(WAIT_STEP)
        lease = _lease(upsell_id)
    if lease != "taken":
        return ChargeOutcome(lease, "another worker holds this upsell" if lease == "busy"
                             else "another upsell of this order, or a capture of it, is under way")
    try:
        return _charge(Upsell.objects.select_related("attempt", "order").get(pk=upsell_id))
    finally:
        Upsell.objects.filter(pk=upsell_id).update(charging_until=None)


def _lease(upsell_id) -> str:
    """Take the upsell's lease, unless any upsell of its order holds one: "taken", "busy" (this upsell's
    lease is held) or "waiting" (another upsell of the order is being charged, or the merchant is capturing,
    cancelling or releasing its payment).

    The merchant's capture, cancel or release of the order's payment being sent (its operation claimed) is
    waited for as well: the upsell would raise an authorization that is being captured or cancelled (Klarna
    refuses it, and everyone was told "declined"); after it, a capture in full cancels the upsell instead
    (_closed_by_capture). order_management._begin checks the other way round under the same lock.

    One order's upsells are charged one at a time, because a route may add an upsell by rewriting the
    provider's order as a whole (Klarna Payments reads the order and sends back its lines plus ours): two
    such rewrites at once would each drop the other's line, yet both be booked as added (probe H F9).
    The order's row lock makes the check and the take one step; the lease, not the lock, is what is held
    over the provider call.
    """
    order_id = Upsell.objects.values_list("order_id", flat=True).get(pk=upsell_id)
    now = timezone.now()
    with transaction.atomic():
        order_book().lock_status(order_id)
        holding = Upsell.objects.filter(order_id=order_id, charging_until__gt=now)
        if holding.filter(pk=upsell_id).exists():
            return "busy"
        if holding.exists() or authorization_change_running(order_id):
            return "waiting"
        Upsell.objects.filter(pk=upsell_id).update(charging_until=now + lease_length())
    return "taken"


def _charge(upsell) -> ChargeOutcome:
    attempt = upsell.attempt
    if attempt.status not in (Status.CREATED, Status.PENDING):
        return ChargeOutcome(upsell.state)
    adapter = get_adapter(attempt.route)
    if attempt.status == Status.PENDING:
        # An earlier try may have reached the provider: look before charging again.
        found = adapter.find_upsell(attempt.provider_reference, upsell.reference)
        if found is not None:
            return _added(upsell, found, "found on the provider's order after an unknown outcome")
    if _closed_by_capture(upsell):
        # Captured in full since the click: the provider would only refuse, and the shopper would read
        # that their payment method was declined.
        transition(attempt.pk, Status.CANCELLED, source="task", failure_reason=CAPTURED_BEFORE_CHARGE,
                   message=f"Upsell {upsell.reference} not charged: {CAPTURED_BEFORE_CHARGE.lower()}")
        return ChargeOutcome("cancelled", CAPTURED_BEFORE_CHARGE)
    if attempt.status == Status.PENDING:
        record_event(attempt.pk, kind="note", source="task",
                     message="Earlier try left no line at the provider; charging again")
    else:
        transition(attempt.pk, Status.PENDING, source="task", message="Charging the upsell")
    request = UpsellRequest(
        provider_reference=attempt.provider_reference, reference=upsell.reference, sku=upsell.sku,
        name=upsell.name, provider_product_id=upsell.provider_product_id, quantity=upsell.quantity,
        unit_price=upsell.unit_price, currency=attempt.currency, tax_rate=upsell.vat_rate_bp,
    )
    try:
        result = adapter.add_upsell(request)
    except ProviderUnavailable as exc:
        record_event(attempt.pk, kind="note", source="task", message=f"Outcome unknown, will read back: {exc}")
        raise
    except (ProviderRequestError, OperationNotSupported) as exc:
        transition(attempt.pk, Status.FAILED, source="task", message=str(exc)[:500],
                   failure_reason="Declined by the payment provider", payload={"body": getattr(exc, "body", None)})
        return ChargeOutcome("declined", str(exc))
    return _added(upsell, result, "charged")


def _closed_by_capture(upsell) -> bool:
    checkout = paid_checkout_attempt(upsell.order)
    return checkout is not None and upsell_closed_by_capture(checkout)


def _added(upsell, result, how) -> ChargeOutcome:
    attempt = upsell.attempt
    if result.amount != upsell.total:
        # The provider charged something other than the offer: record it, never guess.
        record_event(attempt.pk, kind="rejected", source="task", payload=result.raw,
                     message=f"Provider charged {result.amount} for upsell {upsell.reference}, "
                             f"expected {upsell.total}")
    status = Status(result.status)
    with transaction.atomic():
        moved = transition(attempt.pk, status, source="task", payload=result.raw,
                           message=f"Upsell {upsell.reference} {how} ({status.label.lower()})")
        # A line read back from an order voided since is not on the shopper's order any more.
        if moved.changed and status in SUCCESSFUL:
            order_book().add_upsell_line(upsell.order_id, OfferLine(
                offer_id=upsell.offer_id, product_id=upsell.product_id, sku=upsell.sku, name=upsell.name,
                provider_product_id=upsell.provider_product_id, unit_price=upsell.unit_price,
                vat_rate_bp=upsell.vat_rate_bp), quantity=upsell.quantity)
            send_on_commit(upsell_added, upsell_id=upsell.pk, order_id=upsell.order_id)
    return ChargeOutcome("added" if status in SUCCESSFUL else "declined")


def upsells_reconcile(*, older_than=300) -> int:
    """Re-run the charge of upsells stuck without an outcome (a worker died, retries ran out)."""
    from ..selectors import stuck_upsells

    settled = 0
    for upsell in stuck_upsells(older_than=older_than):
        try:
            outcome = upsell_charge(upsell_id=upsell.pk)
        except ProviderUnavailable as exc:
            log.warning("upsell %s still unknown: %s", upsell.reference, exc)
            continue
        except PaymentError as exc:
            # One upsell the provider will not tell about (a 4xx on its read-back) must not stop the run for
            # the others (review of stop 29); it stays pending, asked again next run.
            log.warning("upsell %s not settled: %s", upsell.reference, exc)
            continue
        settled += outcome.state in ("added", "declined")
    return settled


def upsell_status(upsell) -> dict:
    """What the confirmation page shows while it polls."""
    order = order_book().details(upsell.order_id)
    return {"id": upsell.pk, "state": upsell.state, "name": upsell.name, "amount": upsell.total,
            "order_total": order.total, "currency": order.currency, "reason": upsell.attempt.failure_reason,
            "charged": upsell.attempt.status in SUCCESSFUL}
