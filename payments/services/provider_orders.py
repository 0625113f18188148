"""The provider's order a payment belongs to, as order management sees it: its totals read back from the
provider (what the limits of capture, refund, cancel and release come from), or our books when it
cannot be read. Reads only: nothing here writes at the provider."""
from dataclasses import dataclass
from datetime import datetime

from common.money import format_minor

from ..exceptions import InvalidReturn, ProviderError
from ..models import PaymentAttempt
from ..providers.registry import get_adapter
from ..states import SUCCESSFUL, Status


@dataclass(frozen=True)
class ProviderOrder:
    """The provider's order as a whole, as the provider reports it now (or our books, when it cannot
    be read): `head` is the payment operations act on, `members` every successful payment on the order."""

    head: PaymentAttempt
    members: tuple[PaymentAttempt, ...]
    total: int
    captured: int
    refunded: int
    remaining: int
    from_provider: bool
    # A read of the provider was tried and failed (so the figures are our books'). False when no read was
    # tried: a payment that is not (or no longer) held, or a route that offers no order management.
    read_failed: bool = False
    # When the provider ends the authorization, as it reports it now (None when it does not say).
    expires_at: datetime | None = None
    # The payment's status as the provider reports it now (a payments.states.Status value); "" from our books.
    status: str = ""

    def money(self, amount: int) -> str:
        return format_minor(amount, self.head.currency)


def provider_order(attempt, *, read_back: bool = True) -> ProviderOrder:
    """The provider order an attempt belongs to. Reads it back from the provider when the route reports
    its totals; falls back to our books when it cannot be read (the limits are then ours).

    Only a read: a route that offers no order management is not asked at all (its limits limit nothing)."""
    head = attempt
    if attempt.kind == PaymentAttempt.Kind.UPSELL:
        head = (PaymentAttempt.objects.filter(route=attempt.route, provider_reference=attempt.provider_reference)
                .exclude(kind=PaymentAttempt.Kind.UPSELL).order_by("created_at").first()) or attempt
    members = [head] + list(PaymentAttempt.objects.filter(
        route=head.route, provider_reference=head.provider_reference, kind=PaymentAttempt.Kind.UPSELL,
        status__in=SUCCESSFUL).exclude(pk=head.pk)) if head.provider_reference else [head]
    total = sum(m.amount for m in members)
    captured, refunded = head.captured_amount, head.refunded_amount
    remaining = total - captured if head.status == Status.AUTHORIZED else 0
    adapter = get_adapter(head.route)
    failed = False
    if read_back and head.provider_reference and head.status in SUCCESSFUL and adapter.capabilities.operations:
        try:
            payment = adapter.fetch_payment(head.provider_reference)
        except (ProviderError, InvalidReturn):
            payment, failed = None, True
        if payment is not None and payment.captured is not None:
            return ProviderOrder(head, tuple(members), payment.order_total or total, payment.captured,
                                 payment.refunded or 0, payment.remaining or 0, True,
                                 expires_at=payment.authorization_expires_at, status=payment.status)
    return ProviderOrder(head, tuple(members), total, captured, refunded, max(remaining, 0), False, failed)
