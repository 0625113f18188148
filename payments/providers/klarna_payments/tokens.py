"""Klarna Payments' customer tokens (Renewals.SHOP): made from the checkout's authorization (buy_and_tokenize),
made again later when Klarna could not be reached for it (issue_customer_token), charged once per renewal
(charge_recurring) and cancelled with the last subscription on it. A mixin of KlarnaPaymentsAdapter, which
brings `client` and `amounts`."""
from django.utils import timezone

from ...exceptions import InvalidReturn, PaymentDeclined, ProviderRequestError, TokenRevoked
from ..types import CheckoutRequest, ProviderPayment
from .wire import FRAUD_STATUS, ORDER_AUTHORIZATION_LIFETIME, TOKEN_GONE, address_body


class CustomerTokens:
    def issue_customer_token(self, grant: str, request: CheckoutRequest) -> str:
        """The token renewals are charged to, made from the authorization token (`grant`), under one key per
        checkout: asked again, Klarna answers with the token it made rather than refusing a second one."""
        answer = self.client.create_customer_token(grant, {
            "description": f"Subscription from order {request.order_number}"[:255],
            "intended_use": "SUBSCRIPTION", "locale": request.locale,
            "purchase_country": request.billing_address.country, "purchase_currency": request.currency,
            "billing_address": address_body(request.billing_address, request),
        }, idempotency_key=f"{request.reference}-token")
        token = (answer or {}).get("token_id") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise InvalidReturn("Klarna's customer-token answer has no token_id")
        return token

    def charge_recurring(self, token: str, request: CheckoutRequest, *, idempotency_key: str) -> ProviderPayment:
        """Charge one renewal. The key comes from the SubscriptionCharge row, so a retried or crashed
        task gets Klarna's first answer back instead of a second charge. Raises ProviderRequestError
        (code TOKEN_SUSPENDED / TOKEN_CANCELED / PAYMENT_METHOD_FAILED ...) when refused."""
        amounts = self.amounts(request)
        try:
            order = self.client.token_order(token, {
                "purchase_currency": request.currency, "locale": request.locale, **amounts.as_body(),
                "merchant_reference1": request.order_number, "merchant_reference2": request.reference,
                "shipping_address": address_body(request.shipping_address, request), "auto_capture": False,
            }, idempotency_key=idempotency_key)
        except ProviderRequestError as exc:
            # Klarna answers a suspended or cancelled token with 403 + TOKEN_*: that is the token, not us. A 403
            # otherwise (PAYMENT_METHOD_FAILED) is the subscriber's payment declined (Klarna's wrong credentials
            # are a 401). Anything else (a 400 BAD_VALUE for a field Klarna cannot take, a 401) is the shop's
            # request, raised as it is: never a decline the subscriber is told about (probe I I2).
            if exc.code in TOKEN_GONE:
                kind = TokenRevoked
            elif exc.http_status == 403:
                kind = PaymentDeclined
            else:
                raise
            raise kind(str(exc.args[0]) if exc.args else "refused", status=exc.http_status, code=exc.code,
                       correlation_id=exc.correlation_id, body=exc.body) from exc
        if not isinstance(order, dict) or not order.get("order_id"):
            raise InvalidReturn("Klarna token order answer without an order_id")
        if order.get("fraud_status") == "REJECTED":
            raise PaymentDeclined(f"Klarna rejected renewal order {order['order_id']} (fraud_status REJECTED)")
        return ProviderPayment(
            provider_reference=str(order["order_id"]),
            status=FRAUD_STATUS.get(str(order.get("fraud_status")), "pending"),
            amount=amounts.order_amount, currency=request.currency, reference=request.reference,
            supports_upsell=False, raw=order,
            # Authorized only (auto_capture off): it lapses uncaptured after the order's lifetime (probe I I4).
            authorization_expires_at=timezone.now() + ORDER_AUTHORIZATION_LIFETIME,
        )

    def cancel_customer_token(self, token: str) -> None:
        try:
            self.client.cancel_token(token)
        except ProviderRequestError as exc:
            if exc.http_status != 404:
                raise
