"""The dataclasses adapters see. Adapters never touch ORM rows: services translate both ways.

Three groups: what a route *is* (Capabilities), what a service asks of it (CheckoutRequest, UpsellRequest,
InboundMessage) and what the route says happened (the start outcomes Redirect / Widget / Done / Declined,
the inbound Resolutions, ProviderPayment, SubscriptionInfo). Services act on these types and never ask
which route they hold.
"""
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class Renewals(StrEnum):
    """Who charges a subscription's later cycles."""

    PROVIDER = "provider"  # the provider renews on its own schedule; the shop mirrors and steers (29 Next)
    SHOP = "shop"  # the shop charges a stored customer token on its own schedule (Klarna Payments)
    NONE = "none"  # the route cannot take recurring payments; checkout does not offer it for subscriptions


class UpsellKind(StrEnum):
    """How a one-click post-purchase upsell is paid, if at all."""

    NONE = "none"
    ADD_TO_ORDER = "add_to_order"  # the provider charges new lines on the paid order at once (captured)
    RAISE_AUTHORIZATION = "raise_authorization"  # the order's authorization is raised (authorized)


class Operation(StrEnum):
    """Order-management operations a merchant may run from admin."""

    CAPTURE = "capture"
    REFUND = "refund"
    CANCEL = "cancel"
    RELEASE = "release"
    EXTEND = "extend"


class CustomerField(StrEnum):
    """Details about the shopper that checkout asks for only when the chosen route needs them (email,
    phone, name and addresses are always asked). A small fixed vocabulary: the form, the order and
    `Customer` each know these names."""

    BIRTHDAY = "birthday"
    GENDER = "gender"


@dataclass(frozen=True)
class InboundAck:
    """What a route's provider wants to read back from a notification or webhook that was accepted (HTTP
    200), when a JSON status is not it (MultiSafepay looks for the text `OK`)."""

    body: str
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Capabilities:
    """What a route is. Fixed per adapter; services read it to choose a strategy, never the route key."""

    renewals: Renewals = Renewals.NONE
    upsell: UpsellKind = UpsellKind.NONE
    # An upsell can still be added once the payment is captured in full. True when the provider charges the
    # upsell on its own (29 Next: a new transaction); False when it adds to money still authorized (Klarna
    # Payments raises the authorization, which a fully captured order no longer has).
    upsell_after_capture: bool = False
    operations: frozenset[Operation] = frozenset()
    # A capture may take part of what is left; False when the provider captures only the whole authorization.
    partial_capture: bool = True
    # The merchant can capture or refund in the provider's own dashboard and the provider sends the shop no
    # message about it (Klarna Payments: no notification for order management done in its portal). The shop
    # then reads such payments' orders now and then to book what was done there (services.provider_figures).
    silent_dashboard_operations: bool = False
    # An open payment session can be rewritten with a changed cart, so the order stays revisable.
    session_updates: bool = False
    # The start call is keyed by the attempt: sent again, it replays the provider's first answer. A start
    # whose answer was lost is then sent again (StartAnswerLost) instead of being called failed.
    start_replays: bool = False
    # A shopper's GET on the return URL may confirm a payment (MultiSafepay returns by GET); when False
    # a GET only shows the shopper where the order stands.
    confirms_on_get: bool = False
    # (country, currency) pairs the route can take payments in (ISO 3166-1 alpha-2, ISO 4217); empty means
    # no restriction. Klarna, for one, takes each country only in its own currency.
    markets: frozenset[tuple[str, str]] = frozenset()
    # Headers kept with every stored inbound message (signature, content type), by name.
    inbound_headers: tuple[str, ...] = ("Content-Type", "User-Agent", "Content-Length")
    # The answer to an accepted notification or webhook, when the provider needs a particular one; None
    # answers JSON `{"state": ...}`.
    inbound_ack: InboundAck | None = None
    # Shopper details checkout must ask for (validated) when this route is chosen.
    customer_fields: frozenset[CustomerField] = frozenset()
    # How many provider-run subscriptions one `list_subscriptions` call returns; 0 when the route cannot
    # list them. Services compare a sweep's pages with one read per subscription and pick the cheaper.
    subscription_page_size: int = 0

    @property
    def recurring(self) -> bool:
        return self.renewals != Renewals.NONE

    def serves(self, *, country: str, currency: str) -> bool:
        return not self.markets or (country.upper(), currency.upper()) in self.markets

    def countries_for(self, currency: str) -> frozenset[str]:
        """Countries served in `currency`; empty means every country."""
        return frozenset(c for c, cur in self.markets if cur == currency.upper()) if self.markets else frozenset()


@dataclass(frozen=True)
class Address:
    first_name: str
    last_name: str
    line1: str
    line2: str
    city: str
    postcode: str
    country: str


@dataclass(frozen=True)
class DetailProblem:
    """A detail of one of the shopper's addresses the route's provider cannot take (adapters'
    detail_problems): said on the checkout form, on the field, before any order is placed."""

    address: str  # "shipping" or "billing"; "customer" for the shopper's own details (field "email")
    field: str    # the Address field: "first_name", "last_name", "line1", "line2", "city", "postcode"; "email"
    message: str  # for the shopper, naming the route and the detail


@dataclass(frozen=True)
class Customer:
    email: str
    first_name: str
    last_name: str
    phone: str
    # Asked only for routes whose capabilities.customer_fields name them (None / '' otherwise).
    birthday: date | None = None
    gender: str = ""  # "female" or "male" (CustomerField.GENDER)
    ip_address: str = ""  # the shopper's address when the order was placed, for providers' risk checks


@dataclass(frozen=True)
class CheckoutLine:
    sku: str
    name: str
    quantity: int
    unit_price: int  # minor units, VAT included
    total: int
    tax: int
    vat_rate_bp: int
    provider_product_id: int | None = None
    interval: str = ""
    interval_count: int | None = None


@dataclass(frozen=True)
class CheckoutRequest:
    """Everything a route needs to start collecting one order's total."""

    reference: str  # our attempt reference; the provider echoes it back (tags/metadata)
    order_number: str
    amount: int
    currency: str
    lines: tuple[CheckoutLine, ...]
    shipping_fee: int
    customer: Customer
    shipping_address: Address
    billing_address: Address
    return_url: str  # signed, bound to this attempt
    notification_url: str = ""  # signed, for provider notifications about this attempt
    shipping_vat_rate_bp: int = 0
    locale: str = "en-NL"


# --- Starting a checkout: exactly one of these outcomes ---------------------------------------------
@dataclass(frozen=True)
class Redirect:
    """Send the shopper to the provider's page at `url`, exactly as given."""

    url: str
    provider_reference: str = ""
    session_id: str = ""


@dataclass(frozen=True)
class Widget:
    """The provider's widget runs on our own payment page: what that page needs to load it."""

    template: str
    sdk_url: str
    client_token: str
    session_id: str
    expires_at: datetime | None = None  # the session must be replaced before this moment


@dataclass(frozen=True)
class Done:
    """The provider decided at once (no shopper interaction): its payment, to confirm as usual."""

    payment: "ProviderPayment"


@dataclass(frozen=True)
class Declined:
    """The provider refused at once; the shopper sees `shopper_message` and may try again."""

    shopper_message: str
    detail: str = ""
    provider_reference: str = ""


StartOutcome = Redirect | Widget | Done | Declined


# The shopper approved at the provider and the payment exists only once the shop finishes it (Klarna v2's
# finalizing authorize). No adapter finishes one by itself: services.approvals decides whether the attempt
# may still be charged (not replaced, its order not paid) and calls finish_payment, or release_payment.
APPROVED = "approved"


@dataclass(frozen=True)
class ProviderPayment:
    """The provider's own view of a payment, read from the provider itself or a signed webhook."""

    provider_reference: str
    # One of payments.states.Status values, or APPROVED: the shopper approved, but nothing is charged until
    # the shop makes one more call (adapter.finish_payment), which the services alone decide to make.
    status: str
    amount: int
    currency: str
    reference: str  # our attempt reference as the provider stored it ('' when absent)
    # (provider_product_id, quantity) of the checkout's lines; None when the route does not report lines.
    # A route that reports them always does, so an order arriving without lines fails the check.
    lines: tuple[tuple[int, int], ...] | None = None
    supports_upsell: bool = False  # the provider says this payment can take one-click upsells
    # Provider subscriptions this payment started or renewed: (subscription id, billing cycle).
    subscriptions: tuple[tuple[str, int], ...] = ()
    # (provider_product_id, quantity, line total in minor units) of non-upsell lines, as charged.
    line_totals: tuple[tuple[int, int, int], ...] = ()
    customer_token: str = ""  # a token for merchant-initiated renewals, when the payment created one
    # Creating that token failed for a moment (the provider unreachable): what the route can still turn into
    # one (adapter.issue_customer_token) and until when. The shop asks again (payments.services.customer_tokens).
    token_grant: str = ""
    token_grant_until: datetime | None = None
    # The provider's order as a whole (upsells included), when the route reports it: what admin's limits
    # for capture, refund, cancel and release come from.
    order_total: int | None = None
    captured: int | None = None
    # Given back to the shopper out of `captured`: refunds (the shop's and any made at the provider), or all
    # of it when the shopper's bank charged the payment back (then `charged_back`).
    refunded: int | None = None
    remaining: int | None = None  # authorized, not yet captured or released
    # The shopper's bank took the money back (a chargeback): not a refund the merchant made, and nothing is
    # left to refund. The route reports `refunded` as the whole captured amount then.
    charged_back: bool = False
    authorization_expires_at: datetime | None = None
    # Still pending because the provider holds it for review after the shopper finished there (MultiSafepay's
    # `uncleared`), not because the shopper has yet to pay: the shopper is told so (payments.selectors.
    # in_review_ids), and told not to pay again.
    in_review: bool = False
    raw: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class UpsellRequest:
    provider_reference: str  # the paid order at the provider
    reference: str  # our Upsell reference, stored on the provider's line so it can be found again
    sku: str
    name: str
    provider_product_id: int | None
    quantity: int
    unit_price: int
    currency: str
    tax_rate: int = 0  # basis points, VAT included in unit_price


@dataclass(frozen=True)
class UpsellResult:
    provider_reference: str
    amount: int  # what the provider charged (or authorized) for the added line(s)
    status: str = "captured"  # captured (29 Next charges at once) or authorized (Klarna raises the authorization)
    raw: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class SubscriptionInfo:
    """The provider's view of one subscription."""

    provider_id: str
    status: str  # active, past_due, retrying, paused, canceled
    interval: str
    interval_count: int
    next_renewal_at: datetime | None
    amount: int
    currency: str
    email: str = ""
    cancel_reason: str = ""
    orders: tuple[tuple[str, int], ...] = ()  # (provider order, billing cycle)
    raw: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class SubscriptionPage:
    """One page of a provider's subscription list, and the opaque cursor of the next (None: last page)."""

    infos: tuple[SubscriptionInfo, ...]
    next_cursor: str | None = None


# --- Everything a provider sends in -----------------------------------------------------------------
@dataclass(frozen=True)
class AttemptRef:
    """The attempt a message is bound to by the signed URL it arrived on (return, callback, notification)."""

    reference: str
    provider_reference: str
    amount: int
    currency: str
    provider_session: str = ""  # the provider session this attempt opened, if any


@dataclass(frozen=True)
class InboundMessage:
    """One message as it arrived: a webhook to the route's URL, or a return, callback or notification on
    an attempt's signed URL (then `bound` names that attempt). Never trusted until authenticated."""

    channel: str  # "return" (the attempt's return URL), "notification" (its notify URL) or "webhook"
    method: str
    body: bytes
    headers: Mapping[str, str]
    params: Mapping[str, str]  # query string for GET, form fields for a form POST
    content_type: str = ""
    bound: AttemptRef | None = None


@dataclass(frozen=True)
class Identity:
    """What dedupes a message: the provider's event id, or a key derived from content when it sends none."""

    key: str
    event_type: str = ""


@dataclass(frozen=True)
class PaymentUpdate:
    """The provider's current word on a payment (read back, or placed/finalized just now)."""

    payment: ProviderPayment


@dataclass(frozen=True)
class PaymentAbandoned:
    """The shopper came back without paying (declined, cancelled)."""

    reason: str


@dataclass(frozen=True)
class SubscriptionUpdate:
    """Something happened to a provider-run subscription (a renewal paid or declined, a status change)."""

    subscription_id: str
    billing_cycle: int | None = None
    payment: ProviderPayment | None = None  # the renewal order, when the message carries one
    failed: bool = False


@dataclass(frozen=True)
class NothingToApply:
    reason: str


Resolution = PaymentUpdate | PaymentAbandoned | SubscriptionUpdate | NothingToApply
