"""The dataclasses adapters see. Adapters never touch ORM rows: services translate both ways."""
from dataclasses import dataclass, field
from datetime import datetime


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
class Customer:
    email: str
    first_name: str
    last_name: str
    phone: str


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


@dataclass(frozen=True)
class CheckoutStart:
    redirect_url: str  # where the shopper goes next; empty when the route pays in a widget on our page
    provider_reference: str = ""
    client_token: str = ""  # for routes whose widget runs on our own payment page (Klarna Payments)
    session_id: str = ""


@dataclass(frozen=True)
class ReturnData:
    """What the shopper's browser (or a callback) brought back. Never trusted on its own (DESIGN rule 4)."""

    succeeded: bool
    provider_reference: str = ""  # 29 Next: the order number; Klarna Payments: the authorization token


@dataclass(frozen=True)
class ProviderPayment:
    """The provider's own view of a payment, read from the provider itself or a signed webhook."""

    provider_reference: str
    status: str  # one of payments.states.Status values
    amount: int
    currency: str
    reference: str  # our attempt reference as the provider stored it ('' when absent)
    lines: tuple[tuple[int, int], ...] = ()  # (provider_product_id, quantity) of non-upsell lines
    supports_upsell: bool = False
    # Provider subscriptions this payment started or renewed: (subscription id, billing cycle).
    subscriptions: tuple[tuple[str, int], ...] = ()
    # (provider_product_id, quantity, line total in minor units) of non-upsell lines, as charged.
    line_totals: tuple[tuple[int, int, int], ...] = ()
    customer_token: str = ""  # a token for merchant-initiated renewals, when the payment created one
    authorization_expires_at: datetime | None = None
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
class WebhookEvent:
    event_id: str
    event_type: str
    provider_reference: str = ""  # e.g. 29 Next order number, when the event names one
    payment: ProviderPayment | None = None  # when the event carries the whole payment
    subscription_id: str = ""  # the provider subscription the event is about, if any
    billing_cycle: int | None = None  # for renewal orders and renewal transactions
    failed: bool = False  # a failed transaction (declined renewal or upsell)
    raw: dict = field(default_factory=dict, compare=False, repr=False)
