"""29 Next Admin API, Klarna redirect flow: our domain <-> the wire.

Choices where the docs are silent (see README "29 Next"):
- No order exists at 29 Next until the shopper approves at Klarna (`{}` means "not created"), so we tie
  the order to our attempt by tagging it `shop-<attempt reference>` and putting the reference in its
  metadata; reconcile finds it again with the `tags` list filter.
- A 201 from ordersCreate for Klarna carries `payment_complete_url` (the guides), not an Order (the spec).
- payment_status `paid` means captured; `authorized` means authorized (auth-capture gateways).
"""
import json
from collections.abc import Mapping
from datetime import datetime

from django.conf import settings

from ...exceptions import InvalidReturn, ProviderRequestError
from ..base import PaymentAdapter
from ..money import to_decimal_string
from ..types import (
    Address,
    CheckoutRequest,
    CheckoutStart,
    ProviderPayment,
    ReturnData,
    SubscriptionInfo,
    UpsellRequest,
    UpsellResult,
    WebhookEvent,
)
from . import signatures, wire
from .client import NextClient

# Bigger than any real order JSON, small enough that parsing it cannot hurt us.
MAX_RESPONSE_FIELD = 512 * 1024
TAG_PREFIX = "shop-"

class NextAdapter(PaymentAdapter):
    key = "next"
    display_name = "Klarna (via 29 Next)"
    description = "Pay now, later or in slices with Klarna. You will be sent to Klarna to confirm."
    supports_recurring = True
    supports_upsell = True

    def __init__(self, client: NextClient | None = None):
        self.client = client or NextClient(
            base_url=settings.NEXT_API_BASE_URL,
            token=settings.NEXT_API_TOKEN,
            api_version=settings.NEXT_API_VERSION,
        )

    # --- checkout ---------------------------------------------------------------------------------
    def start_checkout(self, request: CheckoutRequest) -> CheckoutStart:
        answer = self.client.create_order(self.order_body(request))
        url = (answer or {}).get("payment_complete_url") if isinstance(answer, dict) else None
        if not url:
            raise ProviderRequestError("29next: ordersCreate answered without payment_complete_url",
                                       body=str(answer)[:500])
        return CheckoutStart(redirect_url=url, provider_reference="")

    @staticmethod
    def order_body(request: CheckoutRequest) -> dict:
        lines = []
        for line in request.lines:
            if not line.provider_product_id:
                raise ProviderRequestError(f"product {line.sku} has no 29 Next product id")
            wire = {
                "product_id": line.provider_product_id,
                "quantity": line.quantity,
                "price": to_decimal_string(line.unit_price),
                "metadata": {"sku": line.sku, "title": line.name},
            }
            if line.interval:
                wire["subscription"] = {"interval": line.interval, "interval_count": line.interval_count or 1}
            lines.append(wire)
        payment_details = {"payment_return_url": request.return_url}
        if settings.NEXT_PAYMENT_GATEWAY:
            payment_details["payment_gateway"] = settings.NEXT_PAYMENT_GATEWAY
        body = {
            "lines": lines,
            "currency": request.currency,
            "user": {
                "email": request.customer.email,
                "first_name": request.customer.first_name,
                "last_name": request.customer.last_name,
                "phone_number": request.customer.phone,
            },
            "shipping_address": _address(request.shipping_address, request.customer.phone),
            "billing_address": _address(request.billing_address, request.customer.phone),
            "payment_method": "klarna",
            "payment_details": payment_details,
            "metadata": {"shop_reference": request.reference, "shop_order_number": request.order_number},
            "tags": [TAG_PREFIX + request.reference],
        }
        if request.shipping_fee:
            body["shipping_price"] = to_decimal_string(request.shipping_fee)
        return body

    # --- return -----------------------------------------------------------------------------------
    def parse_return(self, data: Mapping[str, str]) -> ReturnData:
        raw = data.get("response")
        if raw is None:
            raise InvalidReturn("the return POST has no 'response' field")
        if len(raw) > MAX_RESPONSE_FIELD:
            raise InvalidReturn("the 'response' field is too large")
        try:
            order = json.loads(raw)
        except ValueError:
            raise InvalidReturn("the 'response' field is not JSON") from None
        if not isinstance(order, dict):
            raise InvalidReturn("the 'response' field is not a JSON object")
        if not order:
            return ReturnData(succeeded=False)
        number = order.get("number")
        if not isinstance(number, str | int) or isinstance(number, bool) or not str(number).strip():
            raise InvalidReturn("the order in 'response' has no number")
        return ReturnData(succeeded=True, provider_reference=str(number).strip()[:64])

    # --- reading back -----------------------------------------------------------------------------
    def fetch_payment(self, provider_reference: str) -> ProviderPayment:
        return self.to_payment(self.client.get_order(provider_reference))

    def find_payment(self, reference: str, since: datetime) -> ProviderPayment | None:
        page = self.client.list_orders(tags=TAG_PREFIX + reference,
                                       date_placed_from=since.date().isoformat())
        # The list filter narrows the search; the full order's metadata decides.
        for summary in (page or {}).get("results", []):
            if summary.get("number"):
                payment = self.fetch_payment(str(summary["number"]))
                if payment.reference == reference:
                    return payment
        return None

    to_payment = staticmethod(wire.to_payment)

    # --- upsells: ordersAddLineItemsCreate charges the order's payment method --------------------
    def add_upsell(self, request: UpsellRequest) -> UpsellResult:
        if not request.provider_product_id:
            raise ProviderRequestError(f"product {request.sku} has no 29 Next product id")
        order = self.client.add_line_items(request.provider_reference, {"lines": [{
            "product_id": request.provider_product_id,
            "quantity": request.quantity,
            "price": to_decimal_string(request.unit_price),
            "is_upsell": True,
            "metadata": {"shop_upsell": request.reference, "sku": request.sku, "title": request.name},
        }]})
        found = wire.find_upsell_line(order or {}, request.reference)
        if found is None:
            raise ProviderRequestError("29next: add-line-items answered without our upsell line")
        return found

    def find_upsell(self, provider_reference: str, reference: str) -> UpsellResult | None:
        return wire.find_upsell_line(self.client.get_order(provider_reference) or {}, reference)

    # --- subscriptions: 29 Next renews them; we read, renew, retry, cancel, reschedule -----------
    def fetch_subscription(self, provider_id: str) -> SubscriptionInfo:
        return wire.to_subscription(self.client.get_subscription(provider_id))

    def subscription_renew(self, provider_id: str) -> SubscriptionInfo:
        return wire.to_subscription(self.client.subscription_action(provider_id, "renew"))

    def subscription_retry(self, provider_id: str) -> SubscriptionInfo:
        return wire.to_subscription(self.client.subscription_action(provider_id, "retry"))

    def subscription_cancel(self, provider_id: str, *, reason: str, message: str = "") -> SubscriptionInfo:
        body = {"cancel_reason": reason, "send_cancel_notification": True}
        if message:
            body["cancel_reason_other_message"] = message[:255]
        return wire.to_subscription(self.client.subscription_action(provider_id, "cancel", body))

    def subscription_reschedule(self, provider_id: str, when: datetime) -> SubscriptionInfo:
        return wire.to_subscription(
            self.client.patch_subscription(provider_id, {"next_renewal_date": when.isoformat()}))

    # --- webhooks ---------------------------------------------------------------------------------
    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> bool:
        return signatures.verify(settings.NEXT_WEBHOOK_SECRET, body, headers.get("X-29Next-Signature"))

    def parse_webhook(self, body: bytes) -> WebhookEvent:
        try:
            envelope = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise InvalidReturn("webhook body is not JSON") from None
        if not isinstance(envelope, dict) or not envelope.get("event_id") or not envelope.get("event_type"):
            raise InvalidReturn("webhook body is not a 29 Next envelope")
        data = envelope.get("data") if isinstance(envelope.get("data"), dict) else {}
        event = dict(event_id=str(envelope["event_id"]), event_type=str(envelope["event_type"]), raw=envelope)
        kind = event["event_type"].split(".")[0]
        if kind == "order":
            payment = self.to_payment(data)
            # A renewal order names its subscription with billing_cycle >= 1 (0 is the first purchase).
            renewal = next(((sid, cycle) for sid, cycle in payment.subscriptions if cycle >= 1), None)
            return WebhookEvent(**event, provider_reference=payment.provider_reference, payment=payment,
                                subscription_id=renewal[0] if renewal else "",
                                billing_cycle=renewal[1] if renewal else None)
        if kind == "transaction":
            sub = data.get("subscription") if isinstance(data.get("subscription"), dict) else {}
            return WebhookEvent(**event, provider_reference=str(data.get("order") or ""),
                                subscription_id=str(sub.get("id") or ""),
                                billing_cycle=sub.get("billing_cycle") if sub else None,
                                failed=data.get("status") == "failed")
        if kind == "subscription":
            return WebhookEvent(**event, subscription_id=str(data.get("id") or ""))
        return WebhookEvent(**event)


def _address(address: Address, phone: str) -> dict:
    return {
        "first_name": address.first_name,
        "last_name": address.last_name,
        "line1": address.line1,
        "line2": address.line2,
        "line4": address.city,
        "postcode": address.postcode,
        "country": address.country,
        "phone_number": phone,
    }
