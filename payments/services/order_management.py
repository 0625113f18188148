"""Merchant actions on the provider's order: capture (e.g. on shipment), refund, cancel, release the rest
of the authorization, extend its time.

They act on the provider's order as a whole (the checkout payment plus the upsells the provider added to
the same order), never on one upsell attempt, and their limits come from the provider's order read back,
not from our books. Each action is a PaymentOperation row created before the provider call, whose key is
the idempotency key; afterwards the provider's order is read again and every payment on it, and so the
shop order, shows what the provider says. A refusal carries the provider's reason back and changes
nothing. An action the route does not offer, or the order's state does not allow, is refused before any
call. A lost answer (timeout, 5xx) is no refusal: the operation stays pending and is settled from the
provider's order read back (operation_outcomes.py), at once when it shows the effect, else by reconcile.
"""

from django.db import transaction
from django.utils import timezone

from ..exceptions import OperationNotSupported, PaymentError, ProviderError
from ..models import PaymentAttempt, PaymentOperation
from ..orders import order_book
from ..providers.registry import get_adapter
from ..providers.types import Operation
from ..selectors import AUTHORIZATION_CHANGES, upsell_in_flight
from ..states import SUCCESSFUL, Status, record_event
from .confirmations import operation_confirmed
from .operation_outcomes import in_flight_for, operation_finish, operation_settle, provider_order_book
from .provider_orders import ProviderOrder, provider_order

Kind = PaymentOperation.Kind


class OperationRefused(PaymentError):
    """The shop or the provider refused the action; str() says why (with the provider's code)."""


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


def _begin(attempt_id, kind, *, amount=None, details=None, user="", confirmation="", whole=False):
    """Claim the action on the attempt's provider order, then check its limits on a fresh provider read.

    Under the order's and the attempt's row locks: a form already confirmed (`confirmation`,
    payments.services.confirmations) raises AlreadyConfirmed; another operation still running on this payment
    refuses this one, and so does an upsell being added to its order for a capture, cancel or release
    (selectors.upsell_in_flight); the same action whose outcome stayed unknown is returned to run again
    under its own key; otherwise the PaymentOperation row is created and committed: the claim. Only then is
    the provider read and the limits checked (the row is deleted if they refuse). Reading under the lock
    would not do: the lock is released before the action is sent, so a second request could still read the
    provider before the first one's action lands there; and it would hold a database lock across an HTTP
    call. The claim serializes operations on one payment without either: while it runs, no other operation
    (nor an upsell's charge of its order, upsells._lease) starts, so the read it checks against is the
    provider's order as the action will find it.
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
        # The order's lock first (the state machine's order: order, then attempt). An upsell's charge takes it
        # to start (upsells._lease), so an upsell raising the authorization and a capture, cancel or release
        # of it never run at once: each sees the other's claim.
        order_book().lock_status_of_attempt(attempt_id)
        attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt_id)
        operation_confirmed(attempt_id=attempt_id, key=confirmation)
        waiting = attempt.operations.filter(result=PaymentOperation.Result.PENDING)
        running = waiting.filter(error="", created_at__gte=since).first()
        if running is not None:
            raise OperationRefused(f"a {running.get_kind_display().lower()} of this payment is still running "
                                   f"(started {timezone.localtime(running.created_at):%H:%M:%S}): look again in a "
                                   f"moment")
        if kind in AUTHORIZATION_CHANGES and upsell_in_flight(attempt):
            # Klarna would refuse the upsell once the order is captured or cancelled (and the shopper and the
            # merchant be told "declined"), or this would take an upsell the books do not hold yet.
            raise OperationRefused("an extra the shopper accepted is being added to this order right now; "
                                   "nothing was done: try again in a moment, once it is on the order")
        # The same action whose outcome stayed unknown (a provider error was recorded, or its request died
        # without an answer) runs again under its own key: Klarna replays it, 29 Next's adapter finds it on
        # the order; a second row would act twice.
        unknown = waiting.filter(kind=kind, amount=amount).first()
        if unknown is None:
            op = PaymentOperation.objects.create(attempt=attempt, kind=kind, amount=amount, details=details or {},
                                                 created_by=user, confirmation_key=confirmation or None)
    if unknown is not None:
        # Read back first: the provider may have done it (a route without idempotency keys, MultiSafepay,
        # would do it again; probe E F6). Done: nothing is sent (_run returns SETTLED).
        unknown = operation_settle(operation_id=unknown.pk, source="admin")
        return provider_order(attempt), unknown
    try:
        order = provider_order(attempt)
        _check(order, kind, amount, whole=whole)
    except BaseException:
        op.delete()  # never sent: the claim goes, and the same form may be confirmed again
        raise
    return order, op


def _check(order: ProviderOrder, kind, amount, *, whole=False):
    """Raises OperationRefused unless the action fits the order as read under the claim. `whole`: a capture of
    everything left, whose `amount` was read before the claim."""
    allowed = operations_allowed(order.head, order)
    caps = get_adapter(order.head.route).capabilities
    if kind != Kind.REFUND and order.remaining == 0:
        # Nothing authorized is left: say why (a double click, another tab), not that the amount is wrong.
        done = (f"the order is already captured ({order.money(order.captured)})" if order.captured
                else "the authorization is already cancelled (or expired)")
        verb = {Kind.CAPTURE: "captured", Kind.CANCEL: "cancelled", Kind.RELEASE: "released"}.get(kind, "extended")
        raise OperationRefused(f"nothing is left to be {verb}: {done}")
    if kind == Kind.CAPTURE and whole and amount != order.remaining:
        # An upsell was added to the order in between: capturing the old figure would leave it uncaptured,
        # and the new one is not what the merchant was shown.
        raise OperationRefused(f"the order changed meanwhile: {order.money(order.remaining)} is now left to "
                               f"capture, not {order.money(amount or 0)} (an extra the shopper accepted was "
                               f"probably added to it); nothing was captured: capture again to take it all")
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


# The provider's answer to an operation was lost (a timeout, a 5xx after the client's retries): it may
# have acted. _run returns this instead of an answer; the caller reads the provider's order back.
UNKNOWN = object()
# The operation was settled from the provider's order before it was sent again: nothing to send or book.
SETTLED = object()


def _run(order, op, call, *, source):
    """Call the provider under the operation's key: its answer, or UNKNOWN when the answer was lost. An
    unknown outcome is not a refusal (the money may have moved): the operation stays PENDING, so a retry
    reuses its key (_begin), and it keeps the provider's figures from before the call, which the read-back
    (operation_settle) compares with. Raises OperationRefused when the route or the provider refused."""
    head = order.head
    if op.result != PaymentOperation.Result.PENDING:
        return SETTLED
    try:
        result = call(get_adapter(head.route))
    except OperationNotSupported as exc:
        PaymentOperation.objects.filter(pk=op.pk).update(result=PaymentOperation.Result.REFUSED, error=str(exc)[:500])
        raise OperationRefused(str(exc)) from exc
    except ProviderError as exc:
        reason = f"{exc.code}: {exc}" if getattr(exc, "code", None) else str(exc)
        if getattr(exc, "retryable", False):
            # A retry of the same operation keeps the figures from before its first call.
            details = op.details if "before" in op.details else {**op.details, "before": {
                "captured": order.captured, "refunded": order.refunded, "remaining": order.remaining,
                "expires_at": order.expires_at.isoformat() if order.expires_at else None}}
            PaymentOperation.objects.filter(pk=op.pk).update(error=str(exc)[:500], details=details)
            op.details = details
            record_event(head.pk, kind="note", source=source,
                         message=f"{op.get_kind_display()}: outcome unknown, the provider's answer was lost "
                                 f"({reason}); its order is read back to settle it"[:500])
            return UNKNOWN
        PaymentOperation.objects.filter(pk=op.pk).update(result=PaymentOperation.Result.REFUSED, error=str(exc)[:500])
        record_event(head.pk, kind="rejected", source=source, message=f"{op.get_kind_display()} refused: {exc}")
        raise OperationRefused(reason) from exc
    return result


def _done(order, op, answer, *, source) -> PaymentOperation:
    """The end of every operation: settle what the provider answered, or read its order back when the
    answer was lost (the operation's result then says whether that settled it).

    An answered operation becomes DONE in the transaction that books it, after the provider's order is read
    back: until then it is still PENDING, so an upsell of the order waits for it (selectors.
    authorization_change_running) instead of raising an authorization Klarna has just captured and being told
    "declined" (review of stop 29)."""
    if answer is SETTLED:
        return op
    if answer is UNKNOWN:
        return operation_settle(operation_id=op.pk, source=source)
    after = provider_order(order.head)
    with transaction.atomic():
        PaymentOperation.objects.filter(pk=op.pk).update(
            result=PaymentOperation.Result.DONE, provider_id=str(answer or "")[:64] if isinstance(answer, str) else "")
        operation_finish(order, op, answer, source=source, after=after)
    op.refresh_from_db()
    return op


def payment_capture(*, attempt_id, amount=None, everything=False, tracking_number="", carrier="", source="admin",
                    user="", confirmation=""):
    """Capture `amount`, or everything left when it is empty. `everything` with an amount: everything left, which
    the merchant was shown to be `amount` (admin's confirmation page); refused if the order changed since."""
    whole = everything or not amount
    if not amount:
        # Everything left, as the provider says now; _begin checks it again on a read under its claim.
        amount = provider_order(PaymentAttempt.objects.get(pk=attempt_id)).remaining
    shipping = [{"tracking_number": tracking_number, "shipping_company": carrier}] if tracking_number else None
    order, op = _begin(attempt_id, Kind.CAPTURE, amount=amount, user=user, confirmation=confirmation,
                       details={"tracking_number": tracking_number, "carrier": carrier}, whole=whole)
    capture_id = _run(order, op, lambda a: a.capture(order.head.provider_reference, amount=amount,
                                                     key=op.idempotency_key, shipping_info=shipping), source=source)
    return _done(order, op, capture_id, source=source)


def payment_refund(*, attempt_id, amount, description="", source="admin", user="", confirmation=""):
    order, op = _begin(attempt_id, Kind.REFUND, amount=amount, user=user, details={"description": description},
                       confirmation=confirmation)
    refund_id = _run(order, op, lambda a: a.refund(order.head.provider_reference, amount=amount,
                                                   key=op.idempotency_key, description=description), source=source)
    return _done(order, op, refund_id, source=source)


def payment_cancel(*, attempt_id, source="admin", user="", confirmation=""):
    order, op = _begin(attempt_id, Kind.CANCEL, user=user, confirmation=confirmation)
    answer = _run(order, op, lambda a: a.cancel(order.head.provider_reference, key=op.idempotency_key), source=source)
    return _done(order, op, answer, source=source)


def payment_release_remaining(*, attempt_id, source="admin", user="", confirmation=""):
    order, op = _begin(attempt_id, Kind.RELEASE, user=user, confirmation=confirmation)
    answer = _run(order, op, lambda a: a.release_remaining(order.head.provider_reference, key=op.idempotency_key),
                  source=source)
    return _done(order, op, answer, source=source)


def payment_extend(*, attempt_id, source="admin", user="", confirmation=""):
    order, op = _begin(attempt_id, Kind.EXTEND, user=user, confirmation=confirmation)
    expires = _run(order, op, lambda a: a.extend_authorization(order.head.provider_reference,
                                                               key=op.idempotency_key), source=source)
    return _done(order, op, expires, source=source)


def payment_undo(attempt, *, source, description) -> bool:
    """Undo a payment the shop must not keep, the way the route allows: cancel an authorization nothing
    was captured from, else refund what was captured. False when the route can do neither (the merchant
    must act at the provider). Raises OperationRefused or PaymentError when the provider could not do it
    now; the operations are keyed rows, so the caller may simply try again."""
    operations = get_adapter(attempt.route).capabilities.operations
    if attempt.status == Status.AUTHORIZED and not attempt.captured_amount and Operation.CANCEL in operations:
        payment_cancel(attempt_id=attempt.pk, source=source, user="shop")
        return True
    if attempt.status not in (Status.CAPTURED, Status.PARTIALLY_REFUNDED) or Operation.REFUND not in operations:
        return False
    # What the provider still holds, as a merchant's refund is limited (our books when it cannot be read): a
    # refund made at the provider that no notification has told the shop about yet is not asked for again,
    # which the provider would refuse on every retry.
    order = provider_order(attempt)
    refundable = order.captured - order.refunded
    if refundable <= 0 and order.from_provider:
        # Already given back at the provider (its dashboard), with no notification: nothing is left to undo,
        # so the books say so, instead of "cannot undo" and a read on every reconcile run.
        provider_order_book(order, source=source, message="Nothing left to give back: the provider's order was "
                                                          "refunded there already")
        return True
    if refundable <= 0:
        return False
    payment_refund(attempt_id=attempt.pk, amount=refundable, source=source, user="shop", description=description)
    return True
