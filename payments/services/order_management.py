"""Merchant actions on the provider's order: capture (e.g. on shipment), refund, cancel, release the rest
of the authorization, extend its time.

They act on the provider's order as a whole (the checkout payment plus the upsells the provider added to
the same order), never on one upsell attempt, and their limits come from the provider's order read back,
not from our books. Each action is a PaymentOperation row created before the provider call, whose key is
the idempotency key; afterwards the provider's order is read again and every payment on it, and so the
shop order, shows what the provider says. A refusal carries the provider's reason back and changes
nothing. An action the route does not offer, or the order's state does not allow, is refused before any
call.
"""
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from common.money import format_minor

from ..exceptions import InvalidReturn, OperationNotSupported, PaymentError, ProviderError
from ..models import PaymentAttempt, PaymentOperation
from ..providers.registry import get_adapter
from ..providers.types import Operation
from ..signals import refund_issued, send_on_commit
from ..states import SUCCESSFUL, Status, record_event, transition
from .confirmations import operation_confirmed

Kind = PaymentOperation.Kind


class OperationRefused(PaymentError):
    """The shop or the provider refused the action; str() says why (with the provider's code)."""


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

    def money(self, amount: int) -> str:
        return format_minor(amount, self.head.currency)


def provider_order(attempt, *, read_back: bool = True) -> ProviderOrder:
    """The provider order an attempt belongs to. Reads it back from the provider when the route reports
    its totals; falls back to our books when it cannot be read (the limits are then ours)."""
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
    if read_back and head.provider_reference and head.status in SUCCESSFUL:
        try:
            payment = get_adapter(head.route).fetch_payment(head.provider_reference)
        except (ProviderError, InvalidReturn):
            payment = None
        if payment is not None and payment.captured is not None:
            return ProviderOrder(head, tuple(members), payment.order_total or total, payment.captured,
                                 payment.refunded or 0, payment.remaining or 0, True)
    return ProviderOrder(head, tuple(members), total, captured, refunded, max(remaining, 0), False)


def operations_allowed(attempt, order: ProviderOrder | None = None) -> list[Operation]:
    """What a merchant may do to this payment now: what the route offers and the order's state allows.
    Empty for an upsell attempt (its provider order is managed from the checkout payment)."""
    if attempt.kind == PaymentAttempt.Kind.UPSELL or attempt.status not in SUCCESSFUL:
        return []
    offered = get_adapter(attempt.route).capabilities.operations
    order = order or provider_order(attempt)
    possible = {
        Operation.CAPTURE: order.remaining > 0,
        Operation.REFUND: order.captured - order.refunded > 0,
        Operation.CANCEL: order.remaining > 0 and order.captured == 0,
        Operation.RELEASE: order.remaining > 0 and order.captured > 0,
        Operation.EXTEND: order.remaining > 0,
    }
    return [op for op in Operation if op in offered and possible[op]]


def in_flight_for() -> timedelta:
    """How long an operation row without an answer counts as running: longer than its three provider calls
    (read, act, read back) can take with their retries, so a live request never loses its claim, and short
    enough that a crashed request's row becomes an unknown outcome (reused, below) soon."""
    call = settings.PROVIDER_CONNECT_TIMEOUT + settings.PROVIDER_READ_TIMEOUT
    return timedelta(seconds=3 * call * (settings.PROVIDER_MAX_RETRIES + 1))


def _begin(attempt_id, kind, *, amount=None, details=None, user="", confirmation=""):
    """Claim the action on the attempt's provider order, then check its limits on a fresh provider read.

    Under the attempt's row lock: a form already confirmed (`confirmation`, payments.services.confirmations)
    raises AlreadyConfirmed; another operation still running on this payment refuses this one; the same
    action whose outcome stayed unknown is returned to run again under its own key; otherwise the
    PaymentOperation row is created and committed: the claim. Only then is the provider read and the
    limits checked (the row is deleted if they refuse). Reading under the lock would not do: the lock is
    released before the action is sent, so a second request could still read the provider before the
    first one's action lands there; and it would hold a database lock across an HTTP call. The claim
    serializes operations on one payment without either: while it runs, no other operation starts, so
    the read it checks against is the provider's order as the action will find it.
    """
    attempt = PaymentAttempt.objects.get(pk=attempt_id)
    if Operation(kind) not in get_adapter(attempt.route).capabilities.operations:
        raise OperationRefused(f"{get_adapter(attempt.route).display_name} payments cannot be "
                               f"{PaymentOperation.Kind(kind).label.lower()}d from the shop")
    if attempt.kind == PaymentAttempt.Kind.UPSELL:
        raise OperationRefused("an upsell is part of its order's payment: act on the checkout payment")
    if not attempt.provider_reference:
        raise OperationRefused("this payment has no provider order to act on")
    since = timezone.now() - in_flight_for()
    with transaction.atomic():
        attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt_id)
        operation_confirmed(attempt_id=attempt_id, key=confirmation)
        waiting = attempt.operations.filter(result=PaymentOperation.Result.PENDING)
        running = waiting.filter(error="", created_at__gte=since).first()
        if running is not None:
            raise OperationRefused(f"a {running.get_kind_display().lower()} of this payment is still running "
                                   f"(started {timezone.localtime(running.created_at):%H:%M:%S}): look again in a "
                                   f"moment")
        # The same action whose outcome stayed unknown (a provider error was recorded, or its request died
        # without an answer) runs again under its own key: Klarna replays it, 29 Next's adapter finds it on
        # the order; a second row would act twice.
        unknown = waiting.filter(kind=kind, amount=amount).first()
        if unknown is None:
            op = PaymentOperation.objects.create(attempt=attempt, kind=kind, amount=amount, details=details or {},
                                                 created_by=user, confirmation_key=confirmation or None)
    if unknown is not None:
        return provider_order(attempt), unknown
    try:
        order = provider_order(attempt)
        _check(order, kind, amount)
    except BaseException:
        op.delete()  # never sent: the claim goes, and the same form may be confirmed again
        raise
    return order, op


def _check(order: ProviderOrder, kind, amount):
    allowed = operations_allowed(order.head, order)
    caps = get_adapter(order.head.route).capabilities
    if kind != Kind.REFUND and order.remaining == 0:
        # Nothing authorized is left: say why (a double click, another tab), not that the amount is wrong.
        done = (f"the order is already captured ({order.money(order.captured)})" if order.captured
                else "the authorization is already cancelled (or expired)")
        verb = {Kind.CAPTURE: "captured", Kind.CANCEL: "cancelled", Kind.RELEASE: "released"}.get(kind, "extended")
        raise OperationRefused(f"nothing is left to be {verb}: {done}")
    if kind == Kind.CAPTURE and not caps.partial_capture and amount != order.remaining:
        raise OperationRefused(f"{get_adapter(order.head.route).display_name} captures the whole order at once "
                               f"({order.money(order.remaining)}), not {order.money(amount or 0)}")
    if kind == Kind.CAPTURE and (Operation.CAPTURE not in allowed or not 0 < amount <= order.remaining):
        raise OperationRefused(f"capture of {order.money(amount or 0)} not possible: "
                               f"{order.money(order.remaining)} left to capture")
    if kind == Kind.REFUND and not 0 < (amount or 0) <= order.captured - order.refunded:
        raise OperationRefused(f"refund of {order.money(amount or 0)} is more than the "
                               f"{order.money(order.captured - order.refunded)} captured and not yet refunded")
    if kind == Kind.CANCEL and Operation.CANCEL not in allowed:
        raise OperationRefused("only an authorization with nothing captured can be cancelled")
    if kind == Kind.RELEASE and Operation.RELEASE not in allowed:
        raise OperationRefused("release needs a partly captured authorization with something left")
    if kind == Kind.EXTEND and Operation.EXTEND not in allowed:
        raise OperationRefused("only an authorization with something left to capture can be extended")


def _run(order, op, call, *, source):
    head = order.head
    try:
        result = call(get_adapter(head.route))
    except OperationNotSupported as exc:
        PaymentOperation.objects.filter(pk=op.pk).update(result=PaymentOperation.Result.REFUSED, error=str(exc)[:500])
        raise OperationRefused(str(exc)) from exc
    except ProviderError as exc:
        retryable = getattr(exc, "retryable", False)
        result_state = PaymentOperation.Result.PENDING if retryable else PaymentOperation.Result.REFUSED
        PaymentOperation.objects.filter(pk=op.pk).update(result=result_state, error=str(exc)[:500])
        record_event(head.pk, kind="rejected", source=source, message=f"{op.get_kind_display()} refused: {exc}")
        reason = f"{exc.code}: {exc}" if getattr(exc, "code", None) else str(exc)
        raise OperationRefused(reason) from exc
    PaymentOperation.objects.filter(pk=op.pk).update(result=PaymentOperation.Result.DONE,
                                                     provider_id=str(result or "")[:64] if isinstance(result, str) else "")
    return result


def _settle(before: ProviderOrder, *, source, message, captured=0, refunded=0, cancelled=False, released=False):
    """After an action, make every payment on the provider order show what the provider says (read back;
    our own arithmetic only when the provider cannot be read)."""
    after = provider_order(before.head)
    if not after.from_provider:
        remaining = 0 if (cancelled or released) else max(before.remaining - captured, 0)
        after = ProviderOrder(before.head, before.members, before.total, before.captured + captured,
                              before.refunded + refunded, remaining, False)
    head = before.head
    with transaction.atomic():
        PaymentAttempt.objects.filter(pk=head.pk).update(captured_amount=after.captured,
                                                         refunded_amount=after.refunded, updated_at=timezone.now())
        record_event(head.pk, kind="note", source=source, message=message[:500])
        for member in before.members:
            member.refresh_from_db(fields=["status"])
            if cancelled and after.captured == 0:
                transition(member.pk, Status.CANCELLED, source=source, message=f"Provider order cancelled. {message}")
            elif after.remaining == 0 and after.captured > 0 and member.status == Status.AUTHORIZED:
                transition(member.pk, Status.CAPTURED, source=source, message=f"Provider order captured. {message}")
        if refunded:
            full = after.refunded >= after.captured
            transition(head.pk, Status.REFUNDED if full else Status.PARTIALLY_REFUNDED, source=source, message=message)
    return after


def payment_capture(*, attempt_id, amount=None, tracking_number="", carrier="", source="admin", user="",
                    confirmation=""):
    if not amount:
        # Everything left, as the provider says now; _begin checks it again on a read under its claim.
        amount = provider_order(PaymentAttempt.objects.get(pk=attempt_id)).remaining
    shipping = [{"tracking_number": tracking_number, "shipping_company": carrier}] if tracking_number else None
    order, op = _begin(attempt_id, Kind.CAPTURE, amount=amount, user=user, confirmation=confirmation,
                       details={"tracking_number": tracking_number, "carrier": carrier})
    capture_id = _run(order, op, lambda a: a.capture(order.head.provider_reference, amount=amount,
                                                     key=op.idempotency_key, shipping_info=shipping), source=source)
    _settle(order, source=source, captured=amount,
            message=f"Captured {order.money(amount)} (capture {capture_id})"
                    + (f", tracking {tracking_number}" if tracking_number else ""))
    return op


def payment_refund(*, attempt_id, amount, description="", source="admin", user="", confirmation=""):
    order, op = _begin(attempt_id, Kind.REFUND, amount=amount, user=user, details={"description": description},
                       confirmation=confirmation)
    refund_id = _run(order, op, lambda a: a.refund(order.head.provider_reference, amount=amount,
                                                   key=op.idempotency_key, description=description), source=source)
    _settle(order, source=source, refunded=amount,
            message=f"Refunded {order.money(amount)} (refund {refund_id}). {description}".strip())
    send_on_commit(refund_issued, operation_id=op.pk, attempt_id=attempt_id, amount=amount)
    return op


def payment_cancel(*, attempt_id, source="admin", user="", confirmation=""):
    order, op = _begin(attempt_id, Kind.CANCEL, user=user, confirmation=confirmation)
    _run(order, op, lambda a: a.cancel(order.head.provider_reference, key=op.idempotency_key), source=source)
    _settle(order, source=source, cancelled=True,
            message=f"Authorization of {order.money(order.remaining)} cancelled ({source})")
    return op


def payment_release_remaining(*, attempt_id, source="admin", user="", confirmation=""):
    order, op = _begin(attempt_id, Kind.RELEASE, user=user, confirmation=confirmation)
    _run(order, op, lambda a: a.release_remaining(order.head.provider_reference, key=op.idempotency_key),
         source=source)
    _settle(order, source=source, released=True, message=f"Released the uncaptured {order.money(order.remaining)}")
    return op


def payment_extend(*, attempt_id, source="admin", user="", confirmation=""):
    order, op = _begin(attempt_id, Kind.EXTEND, user=user, confirmation=confirmation)
    expires = _run(order, op, lambda a: a.extend_authorization(order.head.provider_reference,
                                                               key=op.idempotency_key), source=source)
    PaymentAttempt.objects.filter(pk=order.head.pk).update(authorization_expires_at=expires, updated_at=timezone.now())
    record_event(order.head.pk, kind="note", source=source, message=f"Authorization extended until {expires}")
    return op
