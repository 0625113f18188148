"""Klarna Payment Authorize v2 (route `klarna_authorize`): server-side authorize, step-up through a
payment request, finalization with the Klarna Network Session Token, renewals on a customer token.

Choices (README "Klarna Payment Authorize v2"; [S]/[I] as in the reference notes):
- start: one authorize with `step_up_config` (HANDOVER, our signed return URL). APPROVED → Done (status
  authorized, provider reference = payment_transaction_id); DECLINED → Declined; STEP_UP_REQUIRED →
  Redirect to `payment_request_url` exactly as given, provider reference = payment_request_id.
- Our attempt reference is both `payment_transaction_reference` and `payment_request_reference`, so a
  webhook (which names only the payment request) finds its attempt through the inbound service's
  reference match, and the finalization links to the first call.
- finishing the step-up: the return (GET or POST on the signed URL: `confirms_on_get`), the
  `payment.request.state-change.*` webhooks and reconcile all read the payment request from Klarna (never
  a body) and report it the same way: COMPLETED → APPROVED; EXPIRED / CANCELED / DECLINED → closed.
  The finalization is the call that charges, so the adapter never makes it on its own: services.approvals
  calls finish_payment for an attempt that may still be charged, and release_payment (cancel the payment
  request, allowed while COMPLETED and unfinalized) for one that was replaced or whose order is paid; an
  approval never finalized lapses after an hour and charges nothing (notes §5, §6). Finalizing with the
  attempt's own checkout when we have it (return); otherwise with the amount, currency and purchase data
  Klarna stored on the payment request [I], which is what we sent.
  Finalization is idempotent: the session token acts as Klarna's idempotency key, and we add a
  Klarna-Idempotency-Key derived from the attempt and the token.
- Klarna only authorizes here: the acquirer captures, so `operations` is empty (the v2 notes document
  no capture, refund or cancel of a transaction) and admin offers none.
- Renewals are partner-initiated authorizes with `Klarna-Customer-Token` and no step-up.
"""
import logging
import time
import uuid
from datetime import datetime

from django.conf import settings

from ...exceptions import (
    InvalidReturn,
    PaymentDeclined,
    ProviderError,
    ProviderRequestError,
    ReturnMismatch,
    TokenRevoked,
)
from ..base import PaymentAdapter
from ..inbound import clean_text, derived_key
from ..types import (
    APPROVED,
    Capabilities,
    CheckoutRequest,
    Declined,
    Done,
    Identity,
    InboundMessage,
    NothingToApply,
    PaymentUpdate,
    ProviderPayment,
    Redirect,
    Renewals,
    Resolution,
    StartOutcome,
)
from . import signatures
from .client import KlarnaAuthorizeClient
from .purchase_data import Purchase, PurchaseDataError, purchase_for
from .wire import (
    SETTLING_EVENTS,
    as_object,
    envelope,
    is_payment_request,
    named_request,
    reason_of,
    result_of,
)

log = logging.getLogger(__name__)
CLOSED = {"EXPIRED": "expired", "CANCELED": "cancelled", "DECLINED": "failed"}
OPEN = {"SUBMITTED", "IN_PROGRESS"}
TOKEN_SCOPES = ["payment:customer_not_present"]
# Klarna redirects the shopper after the journey ends, but the state may trail the redirect by a moment.
RETURN_POLLS = (0.25, 0.5, 1.0)
DECLINED_MESSAGE = "Klarna did not approve this payment. You can try again or choose another way to pay."


class KlarnaAuthorizeAdapter(PaymentAdapter):
    key = "klarna_authorize"
    display_name = "Klarna (Payment Authorize)"
    description = "Pay now or later with Klarna. Klarna may ask you to confirm on its own page."
    capabilities = Capabilities(
        renewals=Renewals.SHOP,
        confirms_on_get=True,
        # The authorize is sent under `{reference}:authorize` and may approve at once (start_checkout).
        start_replays=True,
        inbound_headers=("Content-Type", "User-Agent", "Content-Length", signatures.SIGNATURE_HEADER,
                         signatures.KEY_ID_HEADER),
    )

    def __init__(self, client: KlarnaAuthorizeClient | None = None, sleep=time.sleep):
        self.client = client or KlarnaAuthorizeClient(
            base_url=settings.KLARNA_AUTHORIZE_API_BASE_URL,
            partner_account_id=settings.KLARNA_AUTHORIZE_PARTNER_ACCOUNT_ID,
            api_key=settings.KLARNA_AUTHORIZE_API_KEY)
        self.sleep = sleep

    # --- the authorize body ------------------------------------------------------------------------
    @staticmethod
    def purchase(request: CheckoutRequest) -> Purchase:
        try:
            return purchase_for(request)
        except PurchaseDataError as exc:
            raise ProviderRequestError(f"cart cannot be paid with Klarna: {exc}") from exc

    @staticmethod
    def authorize_body(purchase: Purchase, reference: str, *, return_url: str = "") -> dict:
        """The authorize body. With `return_url` it is a first call (step-up allowed); without it, a
        finalization or a renewal, which must not carry step_up_config (§6)."""
        body = {
            "currency": purchase.currency,
            "request_payment_transaction": {"amount": purchase.amount, "payment_transaction_reference": reference},
            "supplementary_purchase_data": purchase.data,
        }
        if return_url:
            body["step_up_config"] = {"payment_request_reference": reference, "customer_interaction_config": {
                "method": "HANDOVER", "return_url": return_url}}
        return body

    @staticmethod
    def with_token_request(body: dict, purchase: Purchase, reference: str) -> dict:
        """Ask for a customer token when the cart holds a subscription (renewals charge it later)."""
        if purchase.has_subscription:
            body["request_customer_token"] = {"scopes": TOKEN_SCOPES, "customer_token_reference": reference}
        return body

    # --- checkout ---------------------------------------------------------------------------------
    def start_checkout(self, request: CheckoutRequest) -> StartOutcome:
        """One authorize under the attempt's key (a timed-out call is retried by the client and Klarna
        replays its first answer, so it never authorizes twice)."""
        purchase = self.purchase(request)
        body = self.with_token_request(self.authorize_body(purchase, request.reference, return_url=request.return_url),
                                       purchase, request.reference)
        answer = as_object(self.client.authorize(body, idempotency_key=f"{request.reference}:authorize"))
        result, transaction = result_of(answer)
        if result == "APPROVED":
            return Done(self._approved(answer, transaction, purchase, request.reference,
                                       str(transaction.get("payment_transaction_id") or "")))
        if result == "DECLINED":
            return Declined(shopper_message=DECLINED_MESSAGE, detail=reason_of(answer))
        if result == "STEP_UP_REQUIRED":
            payment_request = answer.get("payment_request") if isinstance(answer.get("payment_request"), dict) else {}
            interaction = (payment_request.get("state_context") or {}).get("customer_interaction") or {}
            url, request_id = interaction.get("payment_request_url"), payment_request.get("payment_request_id")
            if not isinstance(url, str) or not url.startswith(("https://", "http://")) \
                    or not isinstance(request_id, str) or not request_id:
                raise InvalidReturn("Klarna asked for a step-up without a payment request URL")
            return Redirect(url=url, provider_reference=clean_text(request_id, limit=128))
        raise InvalidReturn(f"Klarna authorize answered an unknown result {clean_text(result, limit=40)!r}")

    @staticmethod
    def _approved(answer, transaction, purchase, reference, provider_reference) -> ProviderPayment:
        if not provider_reference:
            raise InvalidReturn("Klarna approved without a payment_transaction_id")
        token = ((answer.get("customer_token_response") or {}).get("customer_token") or {}).get("customer_token_id")
        return ProviderPayment(
            provider_reference=provider_reference, status="authorized",
            amount=int(transaction.get("amount", purchase.amount)),
            currency=str(transaction.get("currency") or purchase.currency),
            reference=str(transaction.get("payment_transaction_reference") or reference),
            customer_token=clean_text(token, limit=255) if token else "", raw=answer)

    # --- inbound: the shopper's return (bound) and Klarna's signed webhooks ------------------------
    def authenticate(self, message: InboundMessage) -> bool:
        if message.bound is not None:
            # The return carries nothing we use: the signed URL names the attempt, and resolve() reads
            # the payment request from Klarna before anything is applied.
            return True
        key = signatures.key_for(message.headers.get(signatures.KEY_ID_HEADER),
                                 settings.KLARNA_AUTHORIZE_SIGNING_KEYS, settings.KLARNA_AUTHORIZE_SIGNING_KEY)
        return signatures.verify(key, message.body, message.headers.get(signatures.SIGNATURE_HEADER))

    def identify(self, message: InboundMessage) -> Identity:
        """Webhooks: Klarna's `metadata.event_id`. A return is the shopper asking us to look again, so
        its identity is the payment request's state at that moment: returns while the state stays the
        same are one message (answered from the database), a return after it changed is looked at anew.
        When Klarna cannot be read, a one-off key makes the next return look again."""
        if message.bound is None:
            metadata = envelope(message.body)["metadata"]
            return Identity(metadata["event_id"], metadata["event_type"])
        request_id, named = message.bound.provider_reference, named_request(message)
        if not is_payment_request(request_id):
            return Identity(derived_key("return", message.bound.reference, "no-request", named), "return")
        try:
            state = str(as_object(self.client.read_payment_request(request_id)).get("state") or "")
        except (ProviderError, InvalidReturn):
            state = f"unread-{uuid.uuid4().hex}"
        return Identity(derived_key("return", message.bound.reference, request_id, state, named), "return")

    def resolve(self, message: InboundMessage, request: CheckoutRequest | None) -> Resolution:
        if message.bound is not None:
            request_id, named = message.bound.provider_reference, named_request(message)
            if named and named != request_id:
                raise ReturnMismatch(f"the return names payment request {named}, not this attempt's")
            if not is_payment_request(request_id):
                return NothingToApply("the attempt was decided at once; a return changes nothing")
            return self._settle(self._read_polling(request_id))
        event = envelope(message.body)
        event_type = event["metadata"]["event_type"]
        if event_type not in SETTLING_EVENTS:
            return NothingToApply(f"{event_type} settles nothing")
        request_id = event["payload"].get("payment_request_id")
        if not isinstance(request_id, str) or not request_id:
            raise InvalidReturn("the webhook names no payment request")
        # The payload is only a pointer: the payment request is read from Klarna itself.
        return self._settle(as_object(self.client.read_payment_request(clean_text(request_id, limit=128))))

    def _read_polling(self, request_id: str) -> dict:
        payment_request = as_object(self.client.read_payment_request(request_id))
        for delay in RETURN_POLLS:
            if payment_request.get("state") not in OPEN:
                break
            self.sleep(delay)
            payment_request = as_object(self.client.read_payment_request(request_id))
        return payment_request

    def _settle(self, payment_request: dict) -> Resolution:
        state = payment_request.get("state")
        if state == "COMPLETED":
            return PaymentUpdate(self._request_payment(payment_request, APPROVED))
        if state in CLOSED:
            return PaymentUpdate(self._request_payment(payment_request, CLOSED[state]))
        return NothingToApply(f"payment request is {clean_text(state, limit=20)}: the shopper is still at Klarna")

    def finish_payment(self, payment: ProviderPayment, request: CheckoutRequest | None) -> ProviderPayment:
        """The second authorize of §6, with the session token from `state_context` of the completed
        payment request (`payment.raw`). Its result is the payment: APPROVED → authorized; DECLINED (stale
        or foreign token, changed cart) → failed, never paid. Repeating it is safe: Klarna answers the same
        token with the same result."""
        payment_request = payment.raw
        request_id = str(payment_request.get("payment_request_id") or "")
        token = (payment_request.get("state_context") or {}).get("klarna_network_session_token")
        if not isinstance(token, str) or not token:
            raise InvalidReturn("completed payment request without a klarna_network_session_token")
        if request is None:
            # The payment request read back does not carry the purchase (§4): it is the checkout's.
            raise InvalidReturn("a Klarna v2 payment is finalized only with the checkout it was made for")
        purchase, reference = self.purchase(request), request.reference
        body = self.with_token_request(self.authorize_body(purchase, reference), purchase, reference)
        answer = as_object(self.client.authorize(body, idempotency_key=f"{reference}:finalize:{token}",
                                               session_token=token))
        result, transaction = result_of(answer)
        if result == "APPROVED":
            return self._approved(answer, transaction, purchase, reference, request_id)
        if result == "DECLINED":
            return ProviderPayment(provider_reference=request_id, status="failed", amount=purchase.amount,
                                   currency=purchase.currency, reference=reference, raw=answer)
        raise InvalidReturn(f"Klarna finalization answered {clean_text(result, limit=40)!r}")

    def release_payment(self, payment: ProviderPayment) -> None:
        """Cancel the completed, unfinalized payment request, so the shopper's approval ends at Klarna too."""
        self.client.cancel_payment_request(payment.provider_reference)

    @staticmethod
    def _request_payment(payment_request: dict, status: str) -> ProviderPayment:
        return ProviderPayment(
            provider_reference=str(payment_request.get("payment_request_id") or ""), status=status,
            amount=int(payment_request.get("amount") or 0), currency=str(payment_request.get("currency") or ""),
            reference=str(payment_request.get("payment_request_reference") or ""), raw=payment_request)

    # --- reading back (reconcile) --------------------------------------------------------------------
    def fetch_payment(self, provider_reference: str) -> ProviderPayment:
        """Read a payment request as a webhook would (a completed one is APPROVED: reconcile decides on
        finishing it), so a dropped webhook is made good. A transaction id (decided at once) cannot be read
        back: the v2 API has no read endpoint for transactions."""
        if not is_payment_request(provider_reference):
            raise ProviderRequestError("Klarna v2 offers no way to read a payment transaction back")
        payment_request = as_object(self.client.read_payment_request(provider_reference))
        settled = self._settle(payment_request)
        if isinstance(settled, PaymentUpdate):
            return settled.payment
        return self._request_payment(payment_request, "pending")

    def find_payment(self, reference: str, since: datetime, session: str = "") -> ProviderPayment | None:
        # No search by our reference. An attempt without a payment request id got its answer at start
        # (approved or declined), or never reached Klarna.
        return None

    # --- renewals on the customer token ------------------------------------------------------------
    def charge_recurring(self, token: str, request: CheckoutRequest, *, idempotency_key: str) -> ProviderPayment:
        """Partner-initiated authorize with `Klarna-Customer-Token`, no step_up_config (§4: only APPROVED
        or DECLINED). The key comes from the SubscriptionCharge row, so a retry replays Klarna's first
        answer. Raises TokenRevoked when Klarna no longer knows the token (404 RESOURCE_NOT_FOUND [I]),
        PaymentDeclined on DECLINED."""
        purchase = self.purchase(request)
        body = self.authorize_body(purchase, request.reference)
        try:
            answer = as_object(self.client.authorize(body, idempotency_key=idempotency_key, customer_token=token))
        except ProviderRequestError as exc:
            if exc.http_status in (404, 410) or exc.code in ("RESOURCE_NOT_FOUND", "CUSTOMER_TOKEN_REVOKED"):
                raise TokenRevoked(str(exc.args[0]) if exc.args else "token gone", status=exc.http_status,
                                   code=exc.code, correlation_id=exc.correlation_id, body=exc.body) from exc
            raise
        result, transaction = result_of(answer)
        if result == "APPROVED":
            return self._approved(answer, transaction, purchase, request.reference,
                                  str(transaction.get("payment_transaction_id") or ""))
        reason = reason_of(answer)
        if result == "DECLINED" and reason in ("CUSTOMER_TOKEN_REVOKED", "TOKEN_REVOKED"):
            raise TokenRevoked(f"Klarna declined the renewal: {reason}", code=reason)
        raise PaymentDeclined(f"Klarna answered the renewal with {clean_text(result, limit=40)} {reason}".strip(),
                              code=reason or None)

    def cancel_customer_token(self, token: str) -> None:
        """The v2 notes document no endpoint that revokes a customer token: the shop stops charging it
        (the subscription is cancelled by the caller) and Klarna keeps nothing that charges by itself."""
        log.info("klarna_authorize: customer token retired locally (no v2 revoke endpoint)")


ADAPTER = KlarnaAuthorizeAdapter
