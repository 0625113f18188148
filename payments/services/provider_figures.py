"""Captures and refunds a merchant made in the provider's own dashboard, found by reading the provider.

A route whose provider sends no message for them (`Capabilities.silent_dashboard_operations`: Klarna Payments
sends no notification for order management done in its merchant portal) leaves our books behind: admin books
what the provider's order shows when it shows the payment (operation_outcomes.provider_figures_book, probe I
I8), but until someone opens that page the dashboard counts the money as still authorized and warns that it
is about to lapse, and "capture" is offered for money already captured. This sweep reads, a batch per run, the
provider's order of each such payment that still holds an authorization, and books what it shows beyond our
books in the same way.
"""
import logging

from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from ..exceptions import PaymentError
from ..models import PaymentAttempt
from ..providers.registry import all_adapters
from ..states import Status
from .operation_outcomes import provider_figures_book
from .provider_orders import provider_order

log = logging.getLogger(__name__)

# Payments read per run (one provider call each; the beat runs it hourly). The next run goes on after the last
# one read, and starts again from the oldest once it has reached the newest: with more open authorizations
# than this, each is still read every few hours, without one run's calls growing with the shop.
SWEEP_BATCH = 300
CURSOR_KEY = "provider-figures-sweep:after"
RUNNING_KEY = "provider-figures-sweep:running"
RUNNING_SECONDS = 50 * 60


def authorizations_book_dashboard(*, batch: int = SWEEP_BATCH) -> dict:
    """Read the provider's order of up to `batch` open authorizations on silent-dashboard routes and book what
    was captured or refunded there. Returns {"read": n, "booked": m}.

    Idempotent: the books are set to the provider's figures, only when they are beyond ours, so a second
    run (or admin showing the payment meanwhile) books nothing again. One run at a time (a cache flag), so
    two never read the same payments together. A payment the provider will not show is skipped and read
    again on a later pass. Locks nothing itself; booking takes the order's lock, then the attempt's."""
    if not cache.add(RUNNING_KEY, 1, RUNNING_SECONDS):
        return {"read": 0, "booked": 0}
    try:
        return _sweep(batch)
    finally:
        cache.delete(RUNNING_KEY)


def _sweep(batch: int) -> dict:
    routes = [adapter.key for adapter in all_adapters() if adapter.capabilities.silent_dashboard_operations]
    after = cache.get(CURSOR_KEY) or 0
    heads = list(_open_authorizations(routes).filter(pk__gt=after).order_by("pk")[:batch])
    read = booked = 0
    for head in heads:
        try:
            booked += provider_figures_book(provider_order(head), source="dashboard-sweep")
        except PaymentError as exc:
            log.warning("payment %s not booked from the provider: %s", head.reference, exc)
        read += 1
    # A short batch reached the newest: the next run starts from the oldest again.
    cache.set(CURSOR_KEY, heads[-1].pk if len(heads) == batch else 0, None)
    return {"read": read, "booked": booked}


def _open_authorizations(routes):
    """Payments (not upsells: they ride on their order's head) with money authorized that can still be captured."""
    return (PaymentAttempt.objects.filter(route__in=routes, status=Status.AUTHORIZED)
            .exclude(kind=PaymentAttempt.Kind.UPSELL).exclude(provider_reference="")
            .filter(Q(authorization_expires_at__isnull=True) | Q(authorization_expires_at__gt=timezone.now())))
