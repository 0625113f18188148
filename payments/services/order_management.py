"""Merchant actions on an authorized payment: capture (e.g. on shipment), refund, cancel, release the
rest of the authorization, extend its time. Each is a PaymentOperation row created before the provider
call, whose key is the idempotency key; each is recorded in the payment timeline; a refusal carries the
provider's reason back to the merchant and changes nothing."""
from django.db import transaction
from django.utils import timezone

from ..exceptions import OperationNotSupported, PaymentError, ProviderError
from ..models import PaymentAttempt, PaymentOperation
from ..providers.registry import get_adapter
from ..providers.types import Operation
from ..states import Status, record_event, transition

Kind = PaymentOperation.Kind


class OperationRefused(PaymentError):
    """The shop or the provider refused the action; str() says why (with the provider's code)."""


def _begin(attempt_id, kind, *, amount=None, details=None, user=""):
    with transaction.atomic():
        attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt_id)
        if Operation(kind) not in get_adapter(attempt.route).capabilities.operations:
            raise OperationRefused(f"{get_adapter(attempt.route).display_name} payments cannot be "
                                   f"{PaymentOperation.Kind(kind).label.lower()}d from the shop")
        if not attempt.provider_reference:
            raise OperationRefused("this payment has no provider order to act on")
        _check(attempt, kind, amount)
        op = PaymentOperation.objects.create(attempt=attempt, kind=kind, amount=amount, details=details or {},
                                             created_by=user)
    return attempt, op


def _check(attempt, kind, amount):
    remaining = attempt.amount - attempt.captured_amount
    if kind == Kind.CAPTURE and (attempt.status != Status.AUTHORIZED or not 0 < amount <= remaining):
        raise OperationRefused(f"capture of {amount} not possible: {remaining} left to capture")
    if kind == Kind.REFUND and not 0 < amount <= attempt.captured_amount - attempt.refunded_amount:
        raise OperationRefused(f"refund of {amount} is more than the {attempt.captured_amount - attempt.refunded_amount}"
                               " captured and not yet refunded")
    if kind == Kind.CANCEL and (attempt.captured_amount or attempt.status != Status.AUTHORIZED):
        raise OperationRefused("only an authorization with nothing captured can be cancelled")
    if kind == Kind.RELEASE and not (attempt.status == Status.AUTHORIZED and 0 < attempt.captured_amount):
        raise OperationRefused("release needs a partly captured authorization")


def _run(attempt, op, call, *, source):
    try:
        result = call(get_adapter(attempt.route))
    except OperationNotSupported as exc:
        PaymentOperation.objects.filter(pk=op.pk).update(result=PaymentOperation.Result.REFUSED, error=str(exc)[:500])
        raise OperationRefused(str(exc)) from exc
    except ProviderError as exc:
        retryable = getattr(exc, "retryable", False)
        result_state = PaymentOperation.Result.PENDING if retryable else PaymentOperation.Result.REFUSED
        PaymentOperation.objects.filter(pk=op.pk).update(result=result_state, error=str(exc)[:500])
        record_event(attempt.pk, kind="rejected", source=source, message=f"{op.get_kind_display()} refused: {exc}")
        reason = f"{exc.code}: {exc}" if getattr(exc, "code", None) else str(exc)
        raise OperationRefused(reason) from exc
    PaymentOperation.objects.filter(pk=op.pk).update(result=PaymentOperation.Result.DONE,
                                                     provider_id=str(result or "")[:64] if isinstance(result, str) else "")
    return result


def payment_capture(*, attempt_id, amount=None, tracking_number="", carrier="", source="admin", user=""):
    attempt = PaymentAttempt.objects.get(pk=attempt_id)
    amount = amount or attempt.amount - attempt.captured_amount
    shipping = [{"tracking_number": tracking_number, "shipping_company": carrier}] if tracking_number else None
    attempt, op = _begin(attempt_id, Kind.CAPTURE, amount=amount, user=user,
                         details={"tracking_number": tracking_number, "carrier": carrier})
    capture_id = _run(attempt, op, lambda a: a.capture(attempt.provider_reference, amount=amount,
                                                       key=op.idempotency_key, shipping_info=shipping), source=source)
    with transaction.atomic():
        locked = PaymentAttempt.objects.select_for_update().get(pk=attempt_id)
        locked.captured_amount += amount
        locked.save(update_fields=["captured_amount", "updated_at"])
        message = f"Captured {amount} (capture {capture_id})" + (f", tracking {tracking_number}" if tracking_number else "")
        if locked.captured_amount >= locked.amount:
            transition(attempt_id, Status.CAPTURED, source=source, message=message)
        else:
            record_event(attempt_id, kind="note", source=source, message=message)
    return op


def payment_refund(*, attempt_id, amount, description="", source="admin", user=""):
    attempt, op = _begin(attempt_id, Kind.REFUND, amount=amount, user=user, details={"description": description})
    refund_id = _run(attempt, op, lambda a: a.refund(attempt.provider_reference, amount=amount,
                                                     key=op.idempotency_key, description=description), source=source)
    with transaction.atomic():
        locked = PaymentAttempt.objects.select_for_update().get(pk=attempt_id)
        locked.refunded_amount += amount
        locked.save(update_fields=["refunded_amount", "updated_at"])
        full = locked.refunded_amount >= locked.captured_amount and locked.captured_amount >= locked.amount
        transition(attempt_id, Status.REFUNDED if full else Status.PARTIALLY_REFUNDED, source=source,
                   message=f"Refunded {amount} (refund {refund_id}). {description}".strip())
    return op


def payment_cancel(*, attempt_id, source="admin", user=""):
    attempt, op = _begin(attempt_id, Kind.CANCEL, user=user)
    _run(attempt, op, lambda a: a.cancel(attempt.provider_reference, key=op.idempotency_key), source=source)
    transition(attempt_id, Status.CANCELLED, source=source, message="Authorization cancelled by the merchant")
    return op


def payment_release_remaining(*, attempt_id, source="admin", user=""):
    attempt, op = _begin(attempt_id, Kind.RELEASE, user=user)
    _run(attempt, op, lambda a: a.release_remaining(attempt.provider_reference, key=op.idempotency_key),
         source=source)
    transition(attempt_id, Status.CAPTURED, source=source,
               message=f"Released the uncaptured {attempt.amount - attempt.captured_amount}")
    return op


def payment_extend(*, attempt_id, source="admin", user=""):
    attempt, op = _begin(attempt_id, Kind.EXTEND, user=user)
    expires = _run(attempt, op, lambda a: a.extend_authorization(attempt.provider_reference, key=op.idempotency_key),
                   source=source)
    PaymentAttempt.objects.filter(pk=attempt_id).update(authorization_expires_at=expires, updated_at=timezone.now())
    record_event(attempt_id, kind="note", source=source, message=f"Authorization extended until {expires}")
    return op
