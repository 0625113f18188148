"""Klarna Payments: a session per attempt, the Klarna widget on our payment page, the order placed
server-side from the authorization token (by the browser's POST or Klarna's authorization callback,
whichever comes first: both use the attempt's idempotency key, so Klarna places one order). An
authorization is reported APPROVED; services.approvals places the order (finish_payment) only while the
attempt may still be charged, and otherwise releases the authorization (release_payment).

Choices (README "Klarna Payments"): orders are authorized, not auto-captured (capture on shipment from
admin); fraud_status PENDING keeps the attempt pending until Klarna's notification; the purchase
country is the billing country and the locale `en-<country>`.
"""
import logging
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from ...exceptions import (
    InvalidReturn,
    ProviderError,
    ProviderRequestError,
    ProviderUnavailable,
    ReturnMismatch,
)
from ..base import PaymentAdapter
from ..inbound import derived_key
from ..types import (
    APPROVED,
    Address,
    Capabilities,
    CheckoutRequest,
    DetailProblem,
    Identity,
    InboundMessage,
    Operation,
    PaymentAbandoned,
    PaymentUpdate,
    ProviderPayment,
    Renewals,
    Resolution,
    UpsellKind,
    UpsellRequest,
    UpsellResult,
    Widget,
)
from .client import KlarnaClient
from .order_lines import Item, OrderLinesError, items_from_checkout, klarna_amounts, order_line
from .tokens import CustomerTokens
from .wire import (
    ADDRESS_LIMITS,
    AUTHORIZATION_LIFETIME,
    FRAUD_STATUS,
    MARKETS,
    MAX_EMAIL,
    OM_STATUS,
    SESSION_LIFETIME,
    address_body,
    authorization_token,
    instant,
    int_or_none,
    intent_for,
    notification,
)

log = logging.getLogger(__name__)


class KlarnaPaymentsAdapter(CustomerTokens, PaymentAdapter):
    key = "klarna_payments"
    display_name = "Klarna"
    description = "Pay now, pay later or in instalments with Klarna, right on this page."
    capabilities = Capabilities(
        renewals=Renewals.SHOP,
        upsell=UpsellKind.RAISE_AUTHORIZATION,
        operations=frozenset(Operation),
        # Captures and refunds made in Klarna's merchant portal reach the shop by no notification.
        silent_dashboard_operations=True,
        session_updates=True,
        markets=MARKETS,
    )

    def __init__(self, client: KlarnaClient | None = None):
        self.client = client or KlarnaClient(base_url=settings.KLARNA_API_BASE_URL,
                                             username=settings.KLARNA_USERNAME, password=settings.KLARNA_PASSWORD)

    def amounts(self, request: CheckoutRequest):
        try:
            return klarna_amounts(items_from_checkout(request.lines, shipping_fee=request.shipping_fee,
                                                      shipping_tax_rate=request.shipping_vat_rate_bp))
        except OrderLinesError as exc:
            raise ProviderRequestError(f"cart cannot be paid with Klarna: {exc}") from exc

    def session_body(self, request: CheckoutRequest) -> dict:
        return {
            "intent": intent_for(request),
            "purchase_country": request.billing_address.country,
            "purchase_currency": request.currency,
            "locale": request.locale,
            **self.amounts(request).as_body(),
            "merchant_reference1": request.order_number,
            "merchant_reference2": request.reference,
            "merchant_urls": {"authorization": request.return_url},
        }

    def order_body(self, request: CheckoutRequest) -> dict:
        return {
            "purchase_country": request.billing_address.country,
            "purchase_currency": request.currency,
            "locale": request.locale,
            **self.amounts(request).as_body(),
            "billing_address": address_body(request.billing_address, request),
            "shipping_address": address_body(request.shipping_address, request),
            "merchant_reference1": request.order_number,
            "merchant_reference2": request.reference,
            "merchant_urls": {"notification": request.notification_url},
            "auto_capture": False,
        }

    # --- checkout ---------------------------------------------------------------------------------
    def detail_problems(self, *, shipping: Address, billing: Address, email: str = "") -> list[DetailProblem]:
        """Each detail longer than the spec lets Klarna take (wire.ADDRESS_LIMITS, MAX_EMAIL): said on the
        form, since Klarna would refuse the order only after the shopper approved it in the widget."""
        problems = []
        for role, address in (("shipping", shipping), ("billing", billing)):
            for field, limit in ADDRESS_LIMITS.items():
                value = getattr(address, field).strip()
                if len(value) > limit:
                    problems.append(DetailProblem(role, field, self._too_long(limit, len(value))))
        if len(email.strip()) > MAX_EMAIL:
            problems.append(DetailProblem("customer", "email", self._too_long(MAX_EMAIL, len(email.strip()))))
        return problems

    def _too_long(self, limit: int, length: int) -> str:
        return f"{self.display_name} takes at most {limit} characters here (this has {length}). Please shorten it."

    def start_checkout(self, request: CheckoutRequest) -> Widget:
        session = self.client.create_session(self.session_body(request))
        if not isinstance(session, dict) or not session.get("client_token"):
            raise InvalidReturn("Klarna session without a client_token")
        return Widget(template="payments/widget.html", sdk_url=settings.KLARNA_SDK_URL,
                      client_token=str(session["client_token"]), session_id=str(session.get("session_id") or ""),
                      expires_at=timezone.now() + SESSION_LIFETIME)

    def update_checkout(self, session_id: str, request: CheckoutRequest) -> None:
        """New cart or addresses for an open session (Klarna re-validates it like a new one)."""
        self.client.update_session(session_id, self.session_body(request))

    # --- inbound: all on the attempt's signed URLs (Klarna v1 signs nothing) ----------------------
    def authenticate(self, message: InboundMessage) -> bool:
        # The widget page's POST, Klarna's authorization callback and its notifications arrive on URLs
        # signed for one attempt; the body is only a hint that resolve() checks with Klarna itself.
        return message.bound is not None

    def identify(self, message: InboundMessage) -> Identity:
        if message.channel == "notification":
            data = notification(message)
            return Identity(f"{data['order_id']}:{data['event_type']}", data["event_type"])
        token = authorization_token(message)
        if token is None:
            return Identity(derived_key("declined", message.bound.reference), "declined")
        # The browser's POST and Klarna's callback carry the same token: one identity, applied once.
        return Identity(derived_key("authorization", message.bound.reference, token), "authorization")

    def resolve(self, message: InboundMessage, request: CheckoutRequest | None) -> Resolution:
        if message.channel == "notification":
            order_id = notification(message)["order_id"]
            if message.bound.provider_reference and order_id != message.bound.provider_reference:
                raise ReturnMismatch(f"order {order_id} is not this attempt's {message.bound.provider_reference}")
            return PaymentUpdate(self.fetch_payment(order_id))
        token = authorization_token(message)
        if token is None:
            return PaymentAbandoned("Declined or cancelled at the provider")
        if request is None:
            raise InvalidReturn("an authorization arrived for no checkout")
        # Nothing is charged until the order is placed: that call is the shop's (finish_payment), made by
        # services.approvals only while the attempt may still be charged; otherwise the approval is released.
        return PaymentUpdate(ProviderPayment(
            provider_reference=derived_key("authorization", token), status=APPROVED,
            amount=self.amounts(request).order_amount, currency=request.currency, reference=request.reference,
            raw={"authorization_token": token, "session_id": message.bound.provider_session}))

    def finish_payment(self, payment: ProviderPayment, request: CheckoutRequest | None) -> ProviderPayment:
        """Place the order for an approval resolve() reported. An authorization Klarna refuses (expired,
        reused, foreign, for another cart) is never a payment: it is released when it is this attempt's own,
        and the refusal raised."""
        if request is None:
            raise InvalidReturn("a Klarna order is placed only from its checkout")
        token = payment.raw["authorization_token"]
        try:
            return self.place_order(token, request)
        except (ProviderRequestError, InvalidReturn):
            self.release_payment(payment)
            raise

    def release_payment(self, payment: ProviderPayment) -> None:
        """Give the approval back, but only when it is the current authorization of the attempt's own session:
        a token copied from another attempt's page must not cost that attempt's shopper their approval."""
        token = payment.raw["authorization_token"]
        if self._session_authorized(payment.raw.get("session_id", ""), token):
            self.release_authorization(token)

    def place_order(self, authorization_token: str, request: CheckoutRequest) -> ProviderPayment:
        """Place the order for the authorization. The attempt's reference is the idempotency key: the
        browser and the callback (and any retry) get the same single order back from Klarna."""
        body = self.order_body(request)
        order = self.client.create_order(authorization_token, body, idempotency_key=request.reference)
        if not isinstance(order, dict) or not order.get("order_id"):
            raise InvalidReturn("Klarna create-order answer without an order_id")
        token, grant = "", ""
        if intent_for(request) != "buy":
            # The same authorization serves the order and the token (buy_and_tokenize). A failure here must
            # not undo the placed order. Klarna unreachable: the shop asks again with the authorization while
            # it lives (token_grant); refused: the subscription is flagged for the merchant (no token, no
            # renewals).
            try:
                token = self.issue_customer_token(authorization_token, request)
            except ProviderUnavailable:
                grant = authorization_token
            except (ProviderError, InvalidReturn):
                pass
        try:
            expires = self.authorization_expiry(str(order["order_id"]))
        except ProviderError:
            expires = None  # shown as unknown in admin; the order itself is placed
        return ProviderPayment(
            provider_reference=str(order["order_id"]),
            status=FRAUD_STATUS.get(str(order.get("fraud_status")), "pending"),
            amount=body["order_amount"], currency=request.currency, reference=request.reference,
            supports_upsell=True, customer_token=token, authorization_expires_at=expires, raw=order,
            token_grant=grant, token_grant_until=timezone.now() + AUTHORIZATION_LIFETIME if grant else None,
        )

    def _session_authorized(self, session_id: str, authorization_token: str) -> bool:
        """Whether `authorization_token` is the current authorization of our session (Klarna's read
        session names it)."""
        if not session_id:
            return False
        try:
            session = self.client.read_session(session_id)
        except ProviderError:
            return False
        return isinstance(session, dict) and session.get("authorization_token") == authorization_token

    def release_authorization(self, authorization_token: str) -> None:
        try:
            self.client.cancel_authorization(authorization_token)
        except ProviderError as exc:
            # Already consumed or expired: nothing is held any more.
            log.info("authorization not released: %s", exc)

    # --- upsells: raise the order's authorization with the new line ---------------------------------
    def find_upsell(self, provider_reference: str, reference: str) -> UpsellResult | None:
        order = self.client.read_order(provider_reference)
        for line in order.get("order_lines") or []:
            if line.get("reference") == reference:
                return UpsellResult(provider_reference=provider_reference, amount=int(line.get("total_amount") or 0),
                                    status="authorized", raw=order)
        return None

    def add_upsell(self, request: UpsellRequest) -> UpsellResult:
        """PATCH the authorization to the current lines plus ours (reference = the upsell's). Klarna runs
        a new risk check and may refuse (ProviderRequestError); the key makes a retry act once.

        The PATCH replaces the order's lines as a whole, so the order is read back afterwards: an update
        sent at the same time from what it read before ours would have dropped our line, and a 204 alone
        does not say our line is there. Raises ProviderRequestError when it is not (nothing authorized)."""
        order = self.client.read_order(request.provider_reference)
        lines = list(order.get("order_lines") or [])
        if any(line.get("reference") == request.reference for line in lines):
            return self.find_upsell(request.provider_reference, request.reference)
        tax_rate = request.tax_rate
        new = order_line(Item(reference=request.reference, name=request.name, quantity=request.quantity,
                              unit_price=request.unit_price, tax_rate=tax_rate))
        self.client.order_action(request.provider_reference, "authorization", {
            "order_amount": int(order.get("order_amount") or 0) + new["total_amount"],
            "order_lines": lines + [new], "description": f"Post-purchase: {request.name}"[:255],
        }, idempotency_key=request.reference, method="PATCH")
        if self.find_upsell(request.provider_reference, request.reference) is None:
            raise ProviderRequestError(f"Klarna order {request.provider_reference} does not carry upsell "
                                       f"{request.reference} after raising its authorization (overwritten)")
        return UpsellResult(provider_reference=request.provider_reference, amount=new["total_amount"],
                            status="authorized", raw={"order_line": new})

    # --- order management (each call under the PaymentOperation row's idempotency key) -----------
    def capture(self, order_id: str, *, amount: int, key: str, shipping_info=None) -> str:
        body = {"captured_amount": amount}
        if shipping_info:
            body["shipping_info"] = shipping_info
        _, headers = self.client.order_action(order_id, "captures", body, idempotency_key=key, with_headers=True)
        return headers.get("Capture-Id", "")

    def refund(self, order_id: str, *, amount: int, key: str, description: str = "") -> str:
        body = {"refunded_amount": amount, **({"description": description[:255]} if description else {})}
        _, headers = self.client.order_action(order_id, "refunds", body, idempotency_key=key, with_headers=True)
        return headers.get("Refund-Id", "")

    def cancel(self, order_id: str, *, key: str) -> None:
        self.client.order_action(order_id, "cancel", idempotency_key=key)

    def release_remaining(self, order_id: str, *, key: str) -> None:
        self.client.order_action(order_id, "release-remaining-authorization", idempotency_key=key)

    def extend_authorization(self, order_id: str, *, key: str) -> datetime | None:
        self.client.order_action(order_id, "extend-authorization-time", idempotency_key=key)
        return self.authorization_expiry(order_id)

    def authorization_expiry(self, order_id: str) -> datetime | None:
        return instant(self.client.read_order(order_id).get("expires_at"))

    # --- reading back -----------------------------------------------------------------------------
    def fetch_payment(self, provider_reference: str) -> ProviderPayment:
        order = self.client.read_order(provider_reference)
        fraud = str(order.get("fraud_status") or "")
        status = "pending" if fraud == "PENDING" else "failed" if fraud == "REJECTED" else \
            OM_STATUS.get(str(order.get("status")), "pending")
        return ProviderPayment(
            provider_reference=str(order.get("order_id") or provider_reference), status=status,
            amount=int(order.get("original_order_amount") or order.get("order_amount") or 0),
            currency=str(order.get("purchase_currency") or ""), reference=str(order.get("merchant_reference2") or ""),
            supports_upsell=True, raw=order, order_total=int_or_none(order.get("order_amount")),
            captured=int_or_none(order.get("captured_amount")), refunded=int_or_none(order.get("refunded_amount")),
            remaining=int_or_none(order.get("remaining_authorized_amount")),
            authorization_expires_at=instant(order.get("expires_at")),
        )

    def find_payment(self, reference: str, since: datetime, session: str = "") -> ProviderPayment | None:
        """Klarna cannot search orders by our reference, but the attempt's session says whether an order was
        placed from it: placing closes the session (`complete`), and only the shop places. So a complete
        session is an order the shop placed and never heard back about (the answer was lost). It is reported
        APPROVED with the session's authorization, and finishing it places the order again under the
        attempt's key, which makes Klarna replay the first answer (24 hours) instead of placing another.

        An authorization without an order (session still `incomplete`) is not reported: the session does not
        say whether its token is still usable (60 minutes) or was released, and the browser and Klarna's
        authorization callback deliver it."""
        if not session:
            return None
        try:
            data = self.client.read_session(session)
        except ProviderRequestError as exc:
            if exc.http_status == 404:
                return None  # past its 48 hours: an order placed from it would have been found before
            raise
        if not isinstance(data, dict) or data.get("status") != "complete":
            return None
        token = data.get("authorization_token")
        if not isinstance(token, str) or not token:
            return None
        return ProviderPayment(
            provider_reference=derived_key("authorization", token), status=APPROVED,
            amount=int_or_none(data.get("order_amount")) or 0, currency=str(data.get("purchase_currency") or ""),
            reference=str(data.get("merchant_reference2") or ""),
            raw={"authorization_token": token, "session_id": session})


ADAPTER = KlarnaPaymentsAdapter
