"""29 Next Admin API, Klarna redirect flow: our domain <-> the wire.

Choices where the docs are silent (see README "29 Next"):
- No order exists at 29 Next until the shopper approves at Klarna (`{}` means "not created"), so we tie
  the order to our attempt by tagging it `shop-<attempt reference>` and putting the reference in its
  metadata; reconcile finds it again with the `tags` list filter.
- A 201 from ordersCreate for Klarna carries `payment_complete_url` (the guides), not an Order (the spec).
- payment_status `paid` means captured; `authorized` means authorized (auth-capture gateways).
- Order management (capture, refund, cancel) lives in order_actions.py: no idempotency key exists, so each
  call reads the order back before acting and after an unknown outcome.
"""
from datetime import datetime

from django.conf import settings

from ...exceptions import InvalidReturn, ProviderRequestError
from ..base import PaymentAdapter
from ..inbound import clean_text, derived_key, load_json, load_json_object
from ..money import to_decimal_string
from ..types import (
    Address,
    Capabilities,
    CheckoutRequest,
    Identity,
    InboundMessage,
    NothingToApply,
    Operation,
    PaymentAbandoned,
    PaymentUpdate,
    ProviderPayment,
    Redirect,
    Renewals,
    Resolution,
    SubscriptionInfo,
    SubscriptionPage,
    SubscriptionUpdate,
    UpsellKind,
    UpsellRequest,
    UpsellResult,
)
from . import signatures, wire
from .client import NextClient
from .order_actions import NextOrderActions

SIGNATURE_HEADER = "X-29Next-Signature"

# Bigger than any real order JSON, small enough that parsing it cannot hurt us.
MAX_RESPONSE_FIELD = 512 * 1024
TAG_PREFIX = "shop-"

class NextAdapter(NextOrderActions, PaymentAdapter):
    key = "next"
    display_name = "Klarna (via 29 Next)"
    description = "Pay now, later or in slices with Klarna. You will be sent to Klarna to confirm."
    capabilities = Capabilities(
        renewals=Renewals.PROVIDER,
        upsell=UpsellKind.ADD_TO_ORDER,
        upsell_after_capture=True,  # add-line-items charges the upsell as a transaction of its own
        # ordersCaptureCreate / ordersRefundCreate / ordersCancelCreate (order_actions.py); no release or extend
        operations=frozenset({Operation.CAPTURE, Operation.REFUND, Operation.CANCEL}),
        partial_capture=False,
        inbound_headers=("Content-Type", "User-Agent", "Content-Length", SIGNATURE_HEADER),
        # DRF's page size for subscriptionsList (the spec has no page_size parameter; the emulator uses 50)
        subscription_page_size=50,
    )

    def __init__(self, client: NextClient | None = None):
        self.client = client or NextClient(
            base_url=settings.NEXT_API_BASE_URL,
            token=settings.NEXT_API_TOKEN,
            api_version=settings.NEXT_API_VERSION,
        )

    # --- checkout ---------------------------------------------------------------------------------
    def start_checkout(self, request: CheckoutRequest) -> Redirect:
        answer = self.client.create_order(self.order_body(request))
        url = (answer or {}).get("payment_complete_url") if isinstance(answer, dict) else None
        if not url or not isinstance(url, str):
            raise ProviderRequestError("29next: ordersCreate answered without payment_complete_url",
                                       body=str(answer)[:500])
        return Redirect(url=url)

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

    # --- inbound: the shopper's return POST (unsigned, bound by our signed URL) and signed webhooks ----
    def authenticate(self, message: InboundMessage) -> bool:
        if message.bound is not None:
            # The return POST is unsigned and comes through the browser: the signed URL binds it to the
            # attempt, and resolve() reads the order back from 29 Next before anything is applied.
            return True
        return signatures.verify(settings.NEXT_WEBHOOK_SECRET, message.body, message.headers.get(SIGNATURE_HEADER))

    def identify(self, message: InboundMessage) -> Identity:
        if message.bound is not None:
            returned = parse_return(message)
            outcome = returned or "no-order"
            return Identity(derived_key("return", message.bound.reference, outcome), "return")
        envelope = _envelope(message.body)
        return Identity(envelope["event_id"], envelope["event_type"])

    def resolve(self, message: InboundMessage, request: CheckoutRequest | None) -> Resolution:
        if message.bound is not None:
            number = parse_return(message)
            if not number:
                return PaymentAbandoned("Provider returned the shopper with no order (declined or cancelled)")
            return PaymentUpdate(self.fetch_payment(number))
        try:
            return self._resolve_webhook(_envelope(message.body))
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidReturn(f"29 Next webhook data is not readable: {type(exc).__name__}") from None

    def _resolve_webhook(self, envelope: dict) -> Resolution:
        data = envelope.get("data") if isinstance(envelope.get("data"), dict) else {}
        kind = envelope["event_type"].split(".")[0]
        if kind == "order":
            payment = self.to_payment(data)
            # A renewal order names its subscription with billing_cycle >= 1 (0 is the first purchase).
            renewal = next(((sid, cycle) for sid, cycle in payment.subscriptions if cycle >= 1), None)
            if renewal:
                return SubscriptionUpdate(subscription_id=renewal[0], billing_cycle=renewal[1], payment=payment)
            return PaymentUpdate(payment)
        if kind == "transaction":
            sub = data.get("subscription") if isinstance(data.get("subscription"), dict) else {}
            if sub.get("id") is not None:
                return SubscriptionUpdate(subscription_id=wire.subscription_id(sub["id"]),
                                          billing_cycle=wire.billing_cycle(sub.get("billing_cycle")),
                                          failed=data.get("status") == "failed")
            if data.get("order"):
                return PaymentUpdate(self.fetch_payment(str(data["order"])[:64]))
            return NothingToApply(f"{envelope['event_type']} names no order")
        if kind == "subscription" and data.get("id") is not None:
            return SubscriptionUpdate(subscription_id=wire.subscription_id(data["id"]))
        return NothingToApply(f"{envelope['event_type']} carries nothing to apply")

    # --- reading back -----------------------------------------------------------------------------
    def fetch_payment(self, provider_reference: str) -> ProviderPayment:
        return self.to_payment(self.client.get_order(provider_reference))

    def find_payment(self, reference: str, since: datetime, session: str = "") -> ProviderPayment | None:
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

    def list_subscriptions(self, *, cursor: str | None = None, statuses: tuple[str, ...] = ()) -> SubscriptionPage:
        return wire.to_subscription_page(self.client.list_subscriptions(cursor=cursor, statuses=statuses))

    def subscription_renew(self, provider_id: str) -> SubscriptionInfo:
        return wire.to_subscription(self.client.subscription_action(provider_id, "renew"))

    def subscription_retry(self, provider_id: str) -> SubscriptionInfo:
        return wire.to_subscription(self.client.subscription_action(provider_id, "retry"))

    def subscription_cancel(self, provider_id: str, *, reason: str, message: str = "") -> SubscriptionInfo:
        body = {"cancel_reason": reason, "send_cancel_notification": True}
        if message:
            body["cancel_reason_other_message"] = message[:255]
        return wire.to_subscription(self.client.subscription_action(provider_id, "cancel", body))

    def subscription_set_amount(self, provider_id: str, amount: int) -> SubscriptionInfo:
        """29 Next puts the first order's shipping price on the subscription, so every renewal would carry
        it; the shop's pages say subscriptions ship free. The renewal total is lines + shipping_price, so
        the shipping price is set to what is left of `amount` after the lines."""
        info = self.fetch_subscription(provider_id)
        shipping = wire.money_field(info.raw.get("shipping_price") or "0", "subscription shipping price")
        lines_total = info.amount - shipping
        if amount < lines_total:
            raise ProviderRequestError(f"29next: subscription {provider_id} lines cost {lines_total}, more than {amount}")
        return wire.to_subscription(self.client.patch_subscription(
            provider_id, {"shipping_price": to_decimal_string(amount - lines_total)}))

    def subscription_reschedule(self, provider_id: str, when: datetime) -> SubscriptionInfo:
        return wire.to_subscription(
            self.client.patch_subscription(provider_id, {"next_renewal_date": when.isoformat()}))


def parse_return(message: InboundMessage) -> str:
    """The order number the return POST names, or '' for `{}` (no order: declined or cancelled).

    29 Next posts a form whose `response` field is the order JSON. Raises InvalidReturn for anything
    else: a JSON body (29 Next has no server callback), a missing, oversized or non-object `response`."""
    if message.method != "POST" or "json" in message.content_type:
        raise InvalidReturn("29 Next returns the shopper with a form POST")
    raw = message.params.get("response")
    if not isinstance(raw, str):
        raise InvalidReturn("the return POST has no 'response' field")
    order = load_json(raw, what="the 'response' field", max_bytes=MAX_RESPONSE_FIELD)
    if not isinstance(order, dict):
        raise InvalidReturn("the 'response' field is not a JSON object")
    if not order:
        return ""
    number = order.get("number")
    if not isinstance(number, str | int) or isinstance(number, bool) or not clean_text(number).strip():
        raise InvalidReturn("the order in 'response' has no number")
    return clean_text(number, limit=64).strip()


def _envelope(body: bytes) -> dict:
    envelope = load_json_object(body, what="webhook body")
    event_id, event_type = envelope.get("event_id"), envelope.get("event_type")
    if not isinstance(event_id, str | int) or not isinstance(event_type, str) or not event_id or not event_type:
        raise InvalidReturn("webhook body is not a 29 Next envelope")
    return {**envelope, "event_id": clean_text(event_id), "event_type": clean_text(event_type, limit=64)}


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


ADAPTER = NextAdapter
