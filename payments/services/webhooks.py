"""Webhooks: store every delivery raw, verify, dedupe on the provider's event id, apply.

Applying happens in the request (order events need no further call; transaction events read the order
back, well inside the 20 s providers allow). A delivery that failed to apply answers 500 so the
provider redelivers it, and the redelivery (same event id) re-applies the stored one.
"""
import json
import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..exceptions import InvalidReturn, ProviderError, ReturnMismatch
from ..models import PaymentAttempt, WebhookDelivery
from ..providers.registry import get_adapter
from .payment_confirm import payment_confirm
from .subscriptions import subscription_apply_event

log = logging.getLogger(__name__)
State = WebhookDelivery.State
KEPT_HEADERS = ("Content-Type", "User-Agent", "X-29Next-Signature", "Content-Length")


@dataclass(frozen=True)
class WebhookResult:
    http_status: int
    state: str
    delivery_id: int | None = None


def webhook_receive(*, provider: str, body: bytes, headers) -> WebhookResult:
    """Store, verify and apply one delivery. Never raises for bad input: the answer says it.

    401 for a bad signature (stored, never applied), 400 for a signed body we cannot read, 200 for
    applied, duplicate, unmatched or ignored events, 500 when applying failed and should be retried.
    """
    adapter = get_adapter(provider)
    event_id, event_type = _peek(body)
    kept = {k: v for k, v in headers.items() if k in KEPT_HEADERS}
    text = body.decode("utf-8", errors="replace")
    if not adapter.verify_webhook(body, headers):
        delivery = WebhookDelivery.objects.create(
            provider=provider, event_id=event_id, event_type=event_type, signature_valid=False,
            state=State.REJECTED, headers=kept, body=text, error="invalid signature",
            processed_at=timezone.now(),
        )
        log.warning("webhook %s %s rejected: invalid signature", provider, event_id)
        return WebhookResult(401, State.REJECTED, delivery.pk)
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                provider=provider, event_id=event_id, event_type=event_type, signature_valid=True,
                headers=kept, body=text,
            )
    except IntegrityError:
        delivery = WebhookDelivery.objects.get(provider=provider, event_id=event_id, signature_valid=True)
        if delivery.state not in (State.FAILED, State.RECEIVED):
            return WebhookResult(200, "duplicate", delivery.pk)
    state = webhook_apply(delivery_id=delivery.pk)
    status = {State.FAILED: 500, State.REJECTED: 400}.get(state, 200)
    return WebhookResult(status, state, delivery.pk)


def webhook_apply(*, delivery_id: int) -> str:
    """Apply a stored, verified delivery through the state machine; returns its new state.

    Locks the delivery row so a redelivery and an admin "re-apply" cannot apply it concurrently.
    Idempotent: transitions are keyed on the event id, so applying twice changes the payment once.
    """
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        if not delivery.signature_valid:
            return delivery.state
        adapter = get_adapter(delivery.provider)
        delivery.apply_count += 1
        state, error, attempt = _apply(adapter, delivery)
        delivery.state, delivery.error, delivery.attempt = state, error[:500], attempt
        delivery.processed_at = timezone.now()
        delivery.save(update_fields=["state", "error", "attempt", "apply_count", "processed_at"])
    return state


def _apply(adapter, delivery):
    try:
        event = adapter.parse_webhook(delivery.body.encode())
    except InvalidReturn as exc:
        return State.REJECTED, str(exc), None
    if event.subscription_id:
        try:
            state, sub = subscription_apply_event(route=delivery.provider, event=event,
                                                  dedupe_key=f"webhook:{event.event_id}")
        except ProviderError as exc:
            return (State.FAILED if getattr(exc, "retryable", False) else State.UNMATCHED), str(exc), None
        except InvalidReturn as exc:
            return State.REJECTED, str(exc), None
        if state == "unmatched":
            return State.UNMATCHED, f"no subscription {event.subscription_id} of ours", None
        return State.APPLIED, "", None
    payment = event.payment
    try:
        if payment is None and event.provider_reference:
            payment = adapter.fetch_payment(event.provider_reference)
    except ProviderError as exc:
        retry = getattr(exc, "retryable", False)
        return (State.FAILED if retry else State.UNMATCHED), str(exc), None
    if payment is None:
        return State.IGNORED, f"{event.event_type} carries nothing to apply", None
    attempt = _find_attempt(delivery.provider, payment)
    if attempt is None:
        return State.UNMATCHED, f"no payment attempt for provider order {payment.provider_reference}", None
    try:
        payment_confirm(attempt_id=attempt.pk, payment=payment, source="webhook",
                        dedupe_key=f"webhook:{delivery.provider}:{event.event_id}")
    except ReturnMismatch as exc:
        return State.MISMATCH, str(exc), attempt
    return State.APPLIED, "", attempt


def _find_attempt(provider, payment):
    attempts = PaymentAttempt.objects.filter(route=provider)
    if payment.reference:
        found = attempts.filter(reference=payment.reference).first()
        if found:
            return found
    if payment.provider_reference:
        return attempts.filter(provider_reference=payment.provider_reference).first()
    return None


def _peek(body: bytes):
    """Event id and type for storage, read without trusting the body."""
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "", ""
    if not isinstance(envelope, dict):
        return "", ""
    return str(envelope.get("event_id") or "")[:64], str(envelope.get("event_type") or "")[:64]


def notification_receive(*, attempt, body: bytes, headers) -> WebhookResult:
    """An unsigned provider notification that arrived on the attempt's signed URL: stored raw, deduped
    on its event id, and applied by reading the payment back from the provider (never from the body)."""
    adapter = get_adapter(attempt.route)
    kept = {k: v for k, v in headers.items() if k in KEPT_HEADERS}
    text = body.decode("utf-8", errors="replace")
    try:
        event = adapter.parse_webhook(body)
    except InvalidReturn as exc:
        WebhookDelivery.objects.create(provider=attempt.route, signature_valid=False, state=State.REJECTED,
                                       headers=kept, body=text, error=str(exc), attempt=attempt,
                                       processed_at=timezone.now())
        return WebhookResult(400, State.REJECTED)
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                provider=attempt.route, event_id=event.event_id[:64], event_type=event.event_type[:64],
                signature_valid=True, headers=kept, body=text, attempt=attempt,
                error="authenticated by the attempt's signed URL")
    except IntegrityError:
        return WebhookResult(200, "duplicate")
    order_id = event.provider_reference
    if attempt.provider_reference and order_id != attempt.provider_reference:
        state, error = State.MISMATCH, f"order {order_id} is not this attempt's {attempt.provider_reference}"
    else:
        try:
            payment = adapter.fetch_payment(order_id)
            payment_confirm(attempt_id=attempt.pk, payment=payment, source="notification",
                            dedupe_key=f"notification:{event.event_id}")
            state, error = State.APPLIED, ""
        except ProviderError as exc:
            state, error = (State.FAILED if getattr(exc, "retryable", False) else State.UNMATCHED), str(exc)
        except ReturnMismatch as exc:
            state, error = State.MISMATCH, str(exc)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(state=state, error=error[:500], apply_count=1,
                                                          processed_at=timezone.now())
    return WebhookResult(500 if state == State.FAILED else 200, state, delivery.pk)
