"""MultiSafepay JSON API, Klarna orders: our domain <-> the wire (README "How a MultiSafepay payment works").

One MultiSafepay order per attempt, `order_id` = the attempt's reference (unique per site: a second create of
the same id is refused with 1006, so nothing is ever created twice). The shopper goes to `payment_url`
(`type` redirect: MultiSafepay's page; direct: straight to Klarna) and comes back by GET to the attempt's
signed return URL with `?transactionid=`; notifications arrive on the attempt's signed notification URL,
POST with an `Auth` signature (verified) or GET without one. Nothing a message says is trusted: every
message is resolved by reading the order back (`GET /orders/{order_id}`).

Choices where the docs are silent:
- Markets: the currencies MultiSafepay takes Klarna in (EUR, GBP, DKK, NOK, SEK; reference notes §3), each
  country in its own currency as Klarna takes it: AT BE DE ES FI FR IT NL in EUR, GB, DK, NO, SE.
- Locale: `<language>_<country>` when the spec's enum has it, else `en_US` (the enum has no en_GB, en_NL...).
- Operations: ship (= capture of the whole order; MSP has no partial capture for Klarna), refund (as cart
  lines, refunds.py), cancel before shipping. No extension: MSP's answer does not say the new deadline.
- An authorisation lapses 28 days after `completed` (statuses.AUTHORIZATION_DAYS); MSP's times carry no
  zone and are Amsterdam time, which errs early if they are UTC.
- Addresses: one street line is split into `address1`, `house_number` and the floor or door, which goes
  to `address2` (streets.py); names, street, second line and city are cut to the spec's lengths, a name
  under 2 characters, a line without a house number or an e-mail over 64 characters is refused on the
  checkout form (detail_problems).
- MultiSafepay has no idempotency key: a create whose answer was lost is read back before anything else
  (its link is not in GET, so such an order is cancelled and the shopper tries again); shipping or
  cancelling twice is accepted and changes nothing; an identical refund within 5 minutes is refused (1034).
"""
import logging
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

from ...exceptions import (
    InvalidReturn,
    PaymentDeclined,
    ProviderError,
    ProviderRequestError,
    ProviderUnavailable,
    RouteNotAvailable,
)
from ...states import Status
from ..base import PaymentAdapter
from ..inbound import clean_text, derived_key
from ..types import (
    Address,
    Capabilities,
    CheckoutRequest,
    CustomerField,
    Declined,
    DetailProblem,
    Done,
    Identity,
    InboundAck,
    InboundMessage,
    NothingToApply,
    Operation,
    PaymentUpdate,
    ProviderPayment,
    Redirect,
    Renewals,
    Resolution,
    StartOutcome,
    UpsellKind,
)
from .cart import CartRoundingError, MultiSafepayCart, build_cart
from .client import INVALID_ORDER_ID, MultiSafepayClient, is_declined
from .notifications import ACK_BODY, Notification, NotificationError, parse_notification
from .refunds import RefundNotExpressible, original_items, refund_lines, tax_rates
from .signatures import verify
from .statuses import AUTHORIZATION_DAYS, is_chargeback, payment_status
from .streets import split_street

EURO_COUNTRIES = "AT BE DE ES FI FR IT NL".split()
MARKETS = frozenset({*((country, "EUR") for country in EURO_COUNTRIES),
                     ("GB", "GBP"), ("DK", "DKK"), ("NO", "NOK"), ("SE", "SEK")})
LOCALES = frozenset("cs_CZ de_AT de_DE en_US fi_FI fr_BE fr_FR it_IT nl_BE nl_NL pl_PL es_ES sv_SE zh_CN".split())
MSP_TIME = ZoneInfo("Europe/Amsterdam")
MAX_NOTIFICATION_URL = 150  # the spec's maxLength
GENDERS = {"female": "F", "male": "M"}
AUTH_HEADER = "Auth"
# The spec's limits on the address fields we send (FirstName.yaml, LastName.yaml: 2-25; Address1.yaml,
# Address2.yaml: 64; City.yaml: 50). What we do about each (probe G F7), field by field:
# - a name longer than 25 is cut (at a word where one ends near the limit): the shopper's name is what it
#   is, they could only shorten it the same way, and Klarna's check still sees the names that fit;
# - a name shorter than 2 cannot be lengthened: the checkout form refuses it (detail_problems), naming it;
# - the street, the second line and the city are cut: the shop keeps the whole address for the parcel, and
#   Klarna's check leans on the postcode and house number, which are never cut.
NAME_LENGTHS = (2, 25)
MAX_ADDRESS_LINE = 64
MAX_CITY = 50
# Customer.yaml, GatewayInfoBNPL.yaml: `email` maxLength 64. An e-mail cannot be cut (it would be another
# address, or none): a longer one is refused on the checkout form (detail_problems).
MAX_EMAIL = 64
NAME_FIELDS = {"first_name": "first name", "last_name": "last name"}

log = logging.getLogger(__name__)


def msp_locale(request: CheckoutRequest) -> str:
    language = (request.locale.split("-")[0] or "en").lower()
    candidate = f"{language}_{(request.billing_address.country or '').upper()}"
    return candidate if candidate in LOCALES else "en_US"


def cut(text: str, limit: int) -> str:
    """`text` within `limit` characters, ending at a word when one ends in the second half of the limit
    ("Maria Fernanda Guadalupe Z" → "Maria Fernanda Guadalupe"), so no half word is sent; one long word
    is cut where the limit falls ("A Wolfeschlegelsteinhausen…" must not become "A")."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    at_word = text[:limit + 1].rfind(" ")
    return (text[:at_word] if at_word > limit // 2 else text[:limit]).rstrip(" ,")


def _address(address, request: CheckoutRequest) -> dict:
    street = split_street(address.line1)
    # The floor, door or flat typed on the street line ("Calle Mayor 5, 2º B") goes before the second line.
    line2 = ", ".join(part for part in (street.extra, address.line2.strip()) if part)
    return {"first_name": cut(address.first_name, NAME_LENGTHS[1]),
            "last_name": cut(address.last_name, NAME_LENGTHS[1]),
            "address1": cut(street.street, MAX_ADDRESS_LINE), "address2": cut(line2, MAX_ADDRESS_LINE),
            "house_number": street.number, "zip_code": address.postcode, "city": cut(address.city, MAX_CITY),
            "country": address.country, "email": request.customer.email[:MAX_EMAIL],
            "phone": request.customer.phone[:25]}


def _int(value) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


class MultiSafepayAdapter(PaymentAdapter):
    key = "multisafepay"
    display_name = "Klarna (via MultiSafepay)"
    description = "Pay later or in instalments with Klarna, through MultiSafepay. Not for subscriptions."
    capabilities = Capabilities(
        renewals=Renewals.NONE,
        upsell=UpsellKind.NONE,
        operations=frozenset({Operation.CAPTURE, Operation.REFUND, Operation.CANCEL}),
        partial_capture=False,
        confirms_on_get=True,
        markets=MARKETS,
        inbound_headers=("Content-Type", "User-Agent", "Content-Length", AUTH_HEADER),
        inbound_ack=InboundAck(ACK_BODY),
        customer_fields=frozenset({CustomerField.BIRTHDAY, CustomerField.GENDER}),
    )

    def __init__(self, client: MultiSafepayClient | None = None):
        self.client = client or MultiSafepayClient(base_url=settings.MULTISAFEPAY_API_BASE_URL,
                                                   api_key=settings.MULTISAFEPAY_API_KEY)

    # --- checkout ---------------------------------------------------------------------------------
    def cart(self, request: CheckoutRequest) -> MultiSafepayCart:
        """The cart MultiSafepay's rounding rule accepts for exactly our amount, or RouteNotAvailable."""
        try:
            cart = build_cart(request.lines, shipping_fee=request.shipping_fee,
                              shipping_vat_rate_bp=request.shipping_vat_rate_bp)
        except CartRoundingError as exc:
            cart, reason = None, str(exc)
        else:
            reason = "" if cart.amount == request.amount else f"cart totals {cart.amount}, order {request.amount}"
        if reason:
            raise RouteNotAvailable(f"multisafepay cannot express order {request.order_number}: {reason}",
                                    shopper_message=f"{self.display_name} cannot take this exact order total "
                                                    "(its rounding rules do not allow it). Please choose another "
                                                    "payment method.")
        return cart

    def detail_problems(self, *, shipping: Address, billing: Address, email: str = "") -> list[DetailProblem]:
        """A name under 2 characters (MultiSafepay's minimum, which we cannot make up), a street line in
        which no house number can be told apart (`house_number` is required for Klarna) and an e-mail over
        the spec's 64 characters."""
        problems = []
        if len(email.strip()) > MAX_EMAIL:
            problems.append(DetailProblem("customer", "email", f"{self.display_name} takes an e-mail address of "
                                                               f"at most {MAX_EMAIL} characters (this has "
                                                               f"{len(email.strip())}). Please use a shorter one."))
        for role, address in (("shipping", shipping), ("billing", billing)):
            for field, words in NAME_FIELDS.items():
                value = getattr(address, field).strip()
                if value and len(value) < NAME_LENGTHS[0]:
                    problems.append(DetailProblem(role, field, f"{self.display_name} needs at least "
                                                               f"{NAME_LENGTHS[0]} letters in the {words}."))
            if address.line1.strip() and not split_street(address.line1).number:
                problems.append(DetailProblem(role, "line1", f"{self.display_name} needs the house number in "
                                                             "this line, e.g. Keizersgracht 1 or 12 High Street."))
        return problems

    def check_checkout(self, request: CheckoutRequest) -> None:
        """Refuses what MultiSafepay would: a cart its rounding cannot express, the details detail_problems
        names (an order placed on another route and retried here), an order placed without the shopper's
        IP address (its risk check needs it)."""
        self.cart(request)
        self.refuse_detail_problems(request)
        if not request.customer.ip_address:
            raise RouteNotAvailable("multisafepay needs the shopper's IP address",
                                    shopper_message=f"{self.display_name} cannot be used for this order. "
                                                    "Please choose another payment method.")

    def order_body(self, request: CheckoutRequest) -> dict:
        cart, customer = self.cart(request), request.customer
        gateway_info = {"phone": customer.phone[:25], "email": customer.email[:MAX_EMAIL]}
        if customer.birthday:
            gateway_info["birthday"] = customer.birthday.isoformat()
        if customer.gender in GENDERS:
            gateway_info["gender"] = GENDERS[customer.gender]
        return {
            "type": settings.MULTISAFEPAY_KLARNA_TYPE, "gateway": "KLARNA", "order_id": request.reference,
            "currency": request.currency, "amount": cart.amount,
            "description": f"Order {request.order_number}"[:200], "var1": request.order_number,
            "payment_options": {"notification_url": request.notification_url, "notification_method": "POST",
                                "redirect_url": request.return_url, "cancel_url": request.return_url,
                                "close_window": False},
            "customer": {**_address(request.billing_address, request), "locale": msp_locale(request),
                         "ip_address": customer.ip_address, **({"gender": gateway_info["gender"]}
                                                               if "gender" in gateway_info else {})},
            "delivery": _address(request.shipping_address, request),
            "gateway_info": gateway_info,
            "shopping_cart": cart.shopping_cart,
            "checkout_options": cart.checkout_options,
        }

    def start_checkout(self, request: CheckoutRequest) -> StartOutcome:
        """Create the order. A decline (1024) is a Declined outcome. After an unknown outcome (timeout,
        5xx) or a 1006 (our order_id exists already) the order is read back first: it is ours, made by
        this very call."""
        if len(request.notification_url) > MAX_NOTIFICATION_URL:
            raise ProviderRequestError("multisafepay: the notification URL is longer than 150 characters "
                                       "(shorten SHOP_BASE_URL)")
        try:
            answer = self.client.create_order(self.order_body(request))
        except ProviderUnavailable:
            self._created_after_all(request.reference)
            raise
        except ProviderRequestError as exc:
            if is_declined(exc):
                return Declined(PaymentDeclined.shopper_message, detail=str(exc), provider_reference=request.reference)
            if exc.code == INVALID_ORDER_ID:
                self._created_after_all(request.reference)
            raise
        if not isinstance(answer, dict):
            raise InvalidReturn("multisafepay: create-order answer is not an object")
        if answer.get("status"):  # direct: the whole order; it may be decided already
            payment = self.to_payment(answer, request.reference)
            if payment.status == Status.FAILED:
                return Declined(PaymentDeclined.shopper_message, detail=f"order {payment.raw.get('status')}",
                                provider_reference=request.reference)
            if payment.status in (Status.AUTHORIZED, Status.CAPTURED):
                return Done(payment)
        url = answer.get("payment_url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise InvalidReturn("multisafepay: create-order answer without a payment_url")
        return Redirect(url=url, provider_reference=request.reference,
                        session_id=clean_text(answer.get("session_id") or "", limit=64))

    def _created_after_all(self, order_id: str) -> None:
        """A create whose answer we did not get may have landed. The payment link is not in GET, so an
        unpaid order found is cancelled (nobody can reach it) and the caller raises "try again"."""
        try:
            order = self.client.get_order(order_id)
        except ProviderError:
            return  # not there (1006), or unreadable: the reconcile task reads the attempt back later
        if str((order or {}).get("status")) == "initialized":
            try:
                self.client.update_order(order_id, {"status": "cancelled", "exclude_order": True})
            except ProviderError as exc:
                # Nobody holds its payment link, and MultiSafepay expires an unpaid order after a day.
                log.warning("MultiSafepay order %s not cancelled (%s); it expires unpaid", order_id, exc)

    # --- inbound ------------------------------------------------------------------------------------
    def authenticate(self, message: InboundMessage) -> bool:
        if message.channel == "return" or (message.method == "GET" and message.channel == "notification"):
            # The shopper's return and GET notifications carry no signature: the attempt's signed URL
            # binds them, and resolve() reads the order back from MultiSafepay.
            return message.bound is not None
        return bool(verify(settings.MULTISAFEPAY_API_KEY, message.body, message.headers.get(AUTH_HEADER),
                           tolerance=settings.MULTISAFEPAY_NOTIFICATION_TOLERANCE))

    def identify(self, message: InboundMessage) -> Identity:
        if message.channel == "return":
            named = clean_text(message.params.get("transactionid") or "", limit=64)
            if named and named != message.bound.reference:
                raise InvalidReturn(f"the return names order {named}, not this attempt's")
            return Identity(derived_key("return", message.bound.reference), "return")
        notification = self._notification(message)
        kind = f"{notification.status}/{notification.financial_status}" if notification.method == "POST" else "get"
        return Identity(clean_text(notification.identity, limit=200), clean_text(kind, limit=64))

    def resolve(self, message: InboundMessage, request: CheckoutRequest | None) -> Resolution:
        if message.channel == "return":
            return PaymentUpdate(self.fetch_payment(message.bound.reference))
        notification = self._notification(message)
        if notification.ignorable:
            return NothingToApply("pre-transaction notification" if notification.pretransaction
                                  else "notification without a timestamp")
        return PaymentUpdate(self.fetch_payment(notification.order_id))

    @staticmethod
    def _notification(message: InboundMessage) -> Notification:
        try:
            notification = parse_notification(method=message.method, query=message.params,
                                              body=message.body if message.method == "POST" else b"")
        except NotificationError as exc:
            raise InvalidReturn(f"not a MultiSafepay notification: {exc}") from None
        if message.bound is not None and notification.order_id != message.bound.reference:
            raise InvalidReturn(f"notification about order {clean_text(notification.order_id, limit=64)}, "
                                "not this attempt's")
        return notification

    # --- reading back -----------------------------------------------------------------------------
    def fetch_payment(self, provider_reference: str) -> ProviderPayment:
        return self.to_payment(self.client.get_order(provider_reference), provider_reference)

    def find_payment(self, reference: str, since: datetime, session: str = "") -> ProviderPayment | None:
        try:
            return self.fetch_payment(reference)
        except ProviderRequestError as exc:
            if exc.code == INVALID_ORDER_ID:
                return None  # MultiSafepay never got an order with this id
            raise

    @staticmethod
    def to_payment(order, order_id: str) -> ProviderPayment:
        """Our view of MultiSafepay's order; amounts for order management from its status (ship captures
        the whole order; nothing is captured before)."""
        if not isinstance(order, dict) or _int(order.get("amount")) is None:
            raise InvalidReturn("multisafepay: the order read back has no amount")
        status = payment_status(str(order.get("status") or ""), str(order.get("financial_status") or ""))
        amount, refunded = _int(order["amount"]), _int(order.get("amount_refunded")) or 0
        captured = amount if status in (Status.CAPTURED, Status.PARTIALLY_REFUNDED, Status.REFUNDED) else 0
        charged_back = is_chargeback(str(order.get("status") or ""))
        if charged_back:
            # A chargeback leaves `amount_refunded` as it was (0 without refunds), yet the shopper's bank took
            # all of it back and MultiSafepay refuses any further refund (1034). Our choice: report all of the
            # captured amount as given back, so the shop books refunded_amount = captured (no revenue, nothing
            # left to refund in admin) with `charged_back` set, which the timeline names as the bank's doing,
            # not a refund the merchant made (our statuses have no chargeback of their own).
            refunded = captured
        expires = None
        if status == Status.AUTHORIZED and order.get("completed"):
            try:
                completed = datetime.fromisoformat(str(order["completed"])).replace(tzinfo=MSP_TIME)
                expires = completed + timedelta(days=AUTHORIZATION_DAYS)
            except ValueError:
                expires = None
        return ProviderPayment(
            provider_reference=clean_text(order.get("order_id") or order_id, limit=64),
            status=str(status or Status.PENDING), amount=amount, currency=str(order.get("currency") or ""),
            reference=clean_text(order.get("order_id") or "", limit=64), order_total=amount, captured=captured,
            refunded=refunded, remaining=amount if status == Status.AUTHORIZED else 0, charged_back=charged_back,
            authorization_expires_at=expires, in_review=str(order.get("status") or "").lower() == "uncleared",
            raw=order,
        )

    # --- order management (MultiSafepay has no idempotency key; see the module docstring) ----------
    def capture(self, provider_reference: str, *, amount: int, key: str, shipping_info=None) -> str:
        """Ship the order: for Klarna the capture of all of it (order_management checks the amount)."""
        info = (shipping_info or [{}])[0]
        self.client.ship_order(provider_reference, carrier=str(info.get("shipping_company") or "")[:100],
                               tracktrace_code=str(info.get("tracking_number") or "")[:100],
                               ship_date=date.today().isoformat())
        return provider_reference

    def refund(self, provider_reference: str, *, amount: int, key: str, description: str = "") -> str:
        try:
            order = self.client.get_order(provider_reference)  # the refund's cart lines come from the order
        except ProviderUnavailable as exc:
            # Nothing was sent: a refusal to try again later, not a refund whose answer was lost (probe E F12).
            raise ProviderRequestError(f"multisafepay: the order could not be read, so no refund was sent "
                                       f"({exc}); try again in a moment", status=exc.http_status) from exc
        try:
            items = original_items(order.get("shopping_cart") or {})
            lines = refund_lines(items, tax_rates(order.get("checkout_options") or {}), amount=amount,
                                 order_amount=int(order["amount"]))
        except (RefundNotExpressible, KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise ProviderRequestError(f"multisafepay: cannot refund {amount}: {exc}") from None
        answer = self.client.refund_order(provider_reference, {"checkout_data": {"items": items + lines}})
        answer = answer if isinstance(answer, dict) else {}
        return str(answer.get("refund_id") or answer.get("transaction_id") or "")

    def cancel(self, provider_reference: str, *, key: str) -> None:
        self.client.cancel_order(provider_reference)


ADAPTER = MultiSafepayAdapter
