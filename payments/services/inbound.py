"""One path for everything a provider sends in (DESIGN rule 2): webhooks, notifications on an attempt's
signed URL, server callbacks and the shopper's return (POST or GET).

store raw → authenticate (signed URL here, signature in the adapter) → identify → dedupe → resolve →
apply through payments.states. Every step that can see hostile bytes is bounded: bodies are stored as a
prefix plus a hash until authenticated, text is cleaned for the database, and nothing unauthenticated is
parsed beyond what a signature check needs. A message whose outcome is already settled is answered from
the database without calling the provider again.
"""
import hashlib
import logging
from contextlib import nullcontext
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from common.db import without_nul

from ..exceptions import InvalidReturn, ProviderError, ReturnMismatch
from ..models import PaymentAttempt, WebhookDelivery
from ..providers.inbound import clean_text
from ..providers.registry import get_adapter
from ..providers.types import (
    AttemptRef,
    InboundMessage,
    NothingToApply,
    PaymentAbandoned,
    PaymentUpdate,
    SubscriptionUpdate,
)
from ..selectors import newer_checkout_exists
from ..states import IN_BETWEEN, SUCCESSFUL, Status, lock_order_then_attempt, record_event, transition
from .approvals import APPROVAL_REFUSED, approval_refused, payment_settle
from .payment_start import REPLACED, RETURN_SALT, checkout_request
from .subscriptions import subscription_apply_event

log = logging.getLogger(__name__)
State = WebhookDelivery.State
Channel = WebhookDelivery.Channel
REJECTED_BODY_PREFIX = 4096
SETTLED = (State.APPLIED, State.IGNORED, State.UNMATCHED, State.REJECTED, State.MISMATCH)


@dataclass(frozen=True)
class InboundResult:
    http_status: int
    state: str
    delivery_id: int | None = None
    attempt: PaymentAttempt | None = None
    error: str = ""

    @property
    def paid(self) -> bool:
        return self.attempt is not None and self.attempt.status in SUCCESSFUL

    @property
    def replaced(self) -> bool:
        """The message was about an attempt a newer checkout of its order replaced (or that was closed
        before a newer one was started), and it took no money."""
        if self.attempt is None or self.attempt.status in SUCCESSFUL | IN_BETWEEN:
            return False
        return self.attempt.failure_reason == REPLACED or newer_checkout_exists(self.attempt)

    @property
    def refused_after_approval(self) -> bool:
        """The shopper approved, but the provider refused to finish the payment for good (approvals.
        approval_refused): nothing was charged, and other details or another method are the way on."""
        return self.attempt is not None and self.attempt.status == Status.FAILED and \
            self.attempt.failure_reason == APPROVAL_REFUSED

    @property
    def confirming(self) -> bool:
        """The outcome is not known yet (provider unreachable, fraud review): webhook or reconcile settles it."""
        return self.attempt is not None and (self.state == State.FAILED or self.attempt.status in IN_BETWEEN)


def attempt_from_token(*, route: str, token: str) -> PaymentAttempt:
    """The attempt a signed return token was made for. Raises InvalidReturn for anything else."""
    if not token or len(token) > 512:
        raise InvalidReturn("the return URL carries no usable token")
    try:
        reference = signing.loads(token, salt=f"{RETURN_SALT}.{route}", max_age=settings.PAYMENT_RETURN_MAX_AGE)
    except signing.SignatureExpired:
        raise InvalidReturn("the return link has expired") from None
    except (signing.BadSignature, ValueError, UnicodeError):
        raise InvalidReturn("the return link is not valid") from None
    try:
        return PaymentAttempt.objects.select_related("order").get(reference=reference, route=route)
    except PaymentAttempt.DoesNotExist:
        raise InvalidReturn("the return link names no payment") from None


def inbound_receive(*, route: str, channel: str, method: str, body: bytes, headers, params,
                    content_type: str = "", attempt: PaymentAttempt | None = None) -> InboundResult:
    """Store, authenticate, dedupe and apply one message. Never raises for bad input: the result says it.

    `attempt` is the attempt whose signed URL the message arrived on (views check the token first).
    HTTP status: 401 unauthenticated, 400 unreadable, 503 when the provider could not be asked (redeliver later),
    200 otherwise (applied, duplicate, unmatched, mismatch, ignored: the provider must stop retrying).
    """
    adapter = get_adapter(route)
    if channel == Channel.RETURN and method == "GET" and not adapter.capabilities.confirms_on_get:
        # A refresh, or the back button: the shopper sees where the order stands; nothing changes.
        return InboundResult(200, "shown", None, attempt)
    bound = None if attempt is None else _ref(attempt)
    message = InboundMessage(channel=channel, method=method, body=body, headers=headers, params=params,
                             content_type=content_type, bound=bound)
    kept = {name: clean_text(headers[name], limit=500) for name in adapter.capabilities.inbound_headers
            if name in headers}
    # Form fields and query strings are stored as parsed, so a stored message can be applied again as is.
    fields = {_storable(k.encode())[:64]: _storable(v.encode()) for k, v in list(params.items())[:50]}
    row = dict(provider=route, channel=channel, method=clean_text(method, limit=8), headers=kept,
               attempt=attempt, params=fields, body_sha256=hashlib.sha256(body).hexdigest())
    try:
        authentic = adapter.authenticate(message)
    except InvalidReturn:
        authentic = False
    if not authentic:
        return _reject(row, body, attempt, "not authenticated (signature missing or invalid)", 401)
    try:
        identity = adapter.identify(message)
    except InvalidReturn as exc:
        return _reject(row, body, attempt, str(exc), 400, signature_valid=True)
    key = hashlib.sha256(identity.key.encode("utf-8", "surrogatepass")).hexdigest()
    if channel == Channel.RETURN and attempt is not None and attempt.status in IN_BETWEEN:
        return _return_at_once(adapter, message, row, body, identity, key, attempt)
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                **row, signature_valid=True, event_id=clean_text(identity.key, limit=64), dedupe_key=key,
                event_type=clean_text(identity.event_type, limit=64), body=_storable(body))
    except IntegrityError:
        delivery = WebhookDelivery.objects.get(provider=route, dedupe_key=key, signature_valid=True)
        if delivery.state in SETTLED:
            return _result(delivery, "duplicate", attempt)
    state = inbound_apply(delivery_id=delivery.pk)
    return _result(delivery, state, attempt)


def inbound_apply(*, delivery_id: int, force: bool = False) -> str:
    """Apply a stored, authenticated message through the state machine; returns its new state.

    Locks the delivery row, so a redelivery, a racing duplicate and an admin "re-apply" apply it one at a
    time; a message already settled is not applied again unless `force` (admin). Idempotent: transitions
    are keyed on the message's identity, so applying twice changes the payment once.
    """
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        if not delivery.signature_valid or (delivery.state in SETTLED and not force):
            return delivery.state
        delivery.apply_count += 1
        state, error, attempt = _apply(delivery)
        delivery.state, delivery.error, delivery.attempt = state, clean_text(error, limit=500), attempt
        delivery.processed_at = timezone.now()
        delivery.save(update_fields=["state", "error", "attempt", "apply_count", "processed_at"])
    return state


def _apply(delivery):
    adapter = get_adapter(delivery.provider)
    attempt = None
    if delivery.attempt_id is not None:
        # One provider conversation per attempt at a time (the row lock coalesces racing messages), and
        # a payment already settled needs none: a replayed or made-up return must not spend the shop's
        # provider quota.
        # The order's row first, then the attempt's: the order in which every path locks them (payments.states).
        attempt = lock_order_then_attempt(delivery.attempt_id)
        if delivery.channel == Channel.RETURN and attempt.status in SUCCESSFUL:
            return State.IGNORED, "the payment is settled already; the provider was not asked again", attempt
    message = _stored_message(delivery, attempt)
    dedupe = _dedupe(delivery.channel, delivery.provider, delivery.dedupe_key)
    request = checkout_request(attempt) if attempt else None
    return _resolve_and_apply(adapter, message, attempt, source=delivery.channel, dedupe=dedupe, request=request)


def _return_at_once(adapter, message, row, body, identity, key, attempt) -> InboundResult:
    """The shopper's return for a payment still waiting (the common case) in the fewest statements.

    The provider is asked first, outside any transaction, so no lock is held over the network; the
    attempt then changes by compare-and-set on the status the view read it in (a webhook that got there
    first makes this one a no-op), in one transaction with its event and the order's status. The message
    is stored right after, with what became of it and applied once; a duplicate racing it finds its
    stored twin and is answered from the database, as on the store-first path. Only a payment still
    waiting comes here: a settled one is never asked about again (see _apply).
    """
    source = Channel.RETURN
    state, error, target = _resolve_and_apply(adapter, message, attempt, source=source,
                                              dedupe=_dedupe(source, attempt.route, key),
                                              request=_CheckoutOfAttempt(attempt))
    settled = target if target is not None else attempt
    # A lone INSERT commits on its own; inside a caller's transaction a savepoint keeps a clash from
    # breaking it.
    guard = transaction.atomic() if transaction.get_connection().in_atomic_block else nullcontext()
    try:
        with guard:
            delivery = WebhookDelivery.objects.create(
                **row, signature_valid=True, event_id=clean_text(identity.key, limit=64), dedupe_key=key,
                event_type=clean_text(identity.event_type, limit=64), body=_storable(body), state=state,
                error=clean_text(error, limit=500), apply_count=1, processed_at=timezone.now())
    except IntegrityError:
        # The same return already stored: a double click, a retry after the provider was unreachable, or
        # the shopper back after paying (a route whose returns all look alike). A twin left unsettled
        # (FAILED) takes this outcome, so a later retry is answered from it; the attempt is as it now is.
        twin = WebhookDelivery.objects.get(provider=attempt.route, dedupe_key=key, signature_valid=True)
        if twin.state not in SETTLED:
            WebhookDelivery.objects.filter(pk=twin.pk).exclude(state__in=SETTLED).update(
                state=state, error=clean_text(error, limit=500), apply_count=F("apply_count") + 1,
                processed_at=timezone.now())
            twin.refresh_from_db(fields=["state", "error"])
        return _result(twin, "duplicate", settled)
    return InboundResult({State.FAILED: 503, State.REJECTED: 400}.get(state, 200), str(state), delivery.pk,
                         settled, delivery.error)


class _CheckoutOfAttempt:
    """The CheckoutRequest of a waiting attempt, read from its order only if the route asks for it (29
    Next's return carries everything it needs; Klarna places its order from the cart)."""

    def __init__(self, attempt):
        self._attempt, self._request = attempt, None

    def __getattr__(self, name):
        if self._request is None:
            self._request = checkout_request(self._attempt)
        return getattr(self._request, name)


def _resolve_and_apply(adapter, message, attempt, *, source, dedupe, request):
    """Ask the route what the message means and apply it. Returns (state, error, attempt), the attempt as
    it now is when the message was about one."""
    try:
        resolution = adapter.resolve(message, request)
        if isinstance(resolution, PaymentUpdate):
            # Inside the try: finishing an approved payment is a provider call of its own.
            return _apply_payment(adapter, resolution.payment, attempt, source=source, dedupe=dedupe,
                                  request=request)
    except ProviderError as exc:
        if getattr(exc, "retryable", False):
            if attempt:
                record_event(attempt.pk, kind="note", source=source,
                             message=f"Provider unavailable, confirmation deferred ({exc})"[:500])
            return State.FAILED, str(exc), attempt
        if attempt is None:
            return State.UNMATCHED, str(exc), None
        return _refused(attempt, source, f"The provider refused what this message named: {exc}")
    except ReturnMismatch as exc:
        return _refused(attempt, source, str(exc)) if attempt else (State.MISMATCH, str(exc), None)
    except InvalidReturn as exc:
        if attempt:
            record_event(attempt.pk, kind="rejected", source=source, message=clean_text(exc, limit=500))
        return State.REJECTED, str(exc), attempt
    match resolution:
        case PaymentAbandoned(reason=reason):
            result = transition(attempt, Status.FAILED, source=source, message=reason, dedupe_key=dedupe,
                                failure_reason="Declined or cancelled at the provider")
            return State.APPLIED, "", result.attempt
        case SubscriptionUpdate():
            return _apply_subscription(adapter.key, resolution, dedupe)
        case NothingToApply(reason=reason):
            return State.IGNORED, reason, attempt
    raise TypeError(f"unknown resolution {resolution!r}")


def _apply_payment(adapter, payment, attempt, *, source, dedupe, request):
    target = attempt or _find_attempt(adapter.key, payment)
    if target is None:
        return State.UNMATCHED, f"no payment attempt for provider order {payment.provider_reference}", None
    try:
        result = payment_settle(attempt=target, payment=payment, source=source, dedupe_key=dedupe,
                                request=request if attempt is not None else None)
    except ReturnMismatch as exc:
        return State.MISMATCH, str(exc), target
    except ProviderError as exc:
        # Finishing the approval was refused. For good (a body the provider refuses every time): the attempt
        # fails now, with a page the shopper can act on, rather than "still confirming" until it expires.
        refused = approval_refused(attempt=target, error=exc, source=source, dedupe_key=dedupe)
        if refused is None:
            raise
        return State.APPLIED, str(exc), refused.attempt
    if result is None:
        # Nothing changed here, but another message may have settled the attempt meanwhile (a webhook that
        # finished it while this return waited for its lock): answer with the attempt as it is now.
        return State.APPLIED, "", PaymentAttempt.objects.get(pk=target.pk)
    return State.APPLIED, "", result.attempt


def _dedupe(channel, provider, key) -> str:
    """The PaymentEvent key of one inbound message: applying it twice changes the payment once."""
    return f"{channel}:{provider}:{key[:40]}"


def _apply_subscription(route, update, dedupe):
    try:
        state, _ = subscription_apply_event(route=route, event=update, dedupe_key=dedupe)
    except ProviderError as exc:
        return (State.FAILED if getattr(exc, "retryable", False) else State.UNMATCHED), str(exc), None
    except InvalidReturn as exc:
        return State.REJECTED, str(exc), None
    if state == "unmatched":
        return State.UNMATCHED, f"no subscription {update.subscription_id} of ours", None
    return State.APPLIED, "", None


def _refused(attempt, source, message):
    """A message on an attempt's own URL that named something the provider does not confirm: never a
    payment. Recorded in the attempt's timeline for the merchant."""
    record_event(attempt.pk, kind="rejected", source=source, message=clean_text(message, limit=500))
    return State.MISMATCH, message, attempt


def _find_attempt(route, payment):
    attempts = PaymentAttempt.objects.filter(route=route)
    if payment.reference:
        found = attempts.filter(reference=payment.reference).first()
        if found:
            return found
    if payment.provider_reference:
        return attempts.filter(provider_reference=payment.provider_reference).first()
    return None


def _stored_message(delivery, attempt) -> InboundMessage:
    bound = None if attempt is None else _ref(attempt)
    headers = delivery.headers or {}
    content_type = headers.get("Content-Type", "")
    body = delivery.body.encode("utf-8")
    return InboundMessage(channel=delivery.channel, method=delivery.method, body=body, headers=headers,
                          params=delivery.params or {}, content_type=content_type, bound=bound)


def _ref(attempt) -> AttemptRef:
    return AttemptRef(reference=attempt.reference, amount=attempt.amount, currency=attempt.currency,
                      provider_reference=attempt.provider_reference, provider_session=attempt.provider_session)


def _storable(body: bytes, limit: int | None = None) -> str:
    return without_nul((body[:limit] if limit else body).decode("utf-8", errors="replace"))


def _reject(row, body, attempt, error, status, *, signature_valid=False) -> InboundResult:
    delivery = WebhookDelivery.objects.create(**row, signature_valid=signature_valid, state=State.REJECTED,
                                              body=_storable(body, REJECTED_BODY_PREFIX), error=error[:500],
                                              processed_at=timezone.now())
    if attempt is not None and signature_valid:
        record_event(attempt.pk, kind="rejected", source=row["channel"], message=clean_text(error, limit=500))
    log.warning("inbound %s %s rejected: %s", row["provider"], row["channel"], clean_text(error, limit=200))
    return InboundResult(status, str(State.REJECTED), delivery.pk, attempt, error)  # a plain str: see _result


def _result(delivery, state, attempt) -> InboundResult:
    state = str(state)  # a plain str (not the TextChoices member): it goes into HTTP headers and JSON
    if state not in (State.APPLIED, "duplicate"):
        delivery.refresh_from_db(fields=["error", "attempt"])  # the reason is part of the answer
    if attempt is not None:
        attempt.refresh_from_db(fields=["status", "provider_reference", "failure_reason"])
    elif delivery.attempt_id:
        attempt = PaymentAttempt.objects.get(pk=delivery.attempt_id)
    status = {State.FAILED: 503, State.REJECTED: 400}.get(state, 200)
    return InboundResult(status, state, delivery.pk, attempt, delivery.error)
