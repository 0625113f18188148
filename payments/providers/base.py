"""The adapter contract every payment route implements (DESIGN rule 2).

A route says what it is in `capabilities` and what happened in explicit outcomes (payments.providers.types);
services act on those and never ask which route they hold. Every operation has a typed signature; an
operation a route's capabilities do not list raises OperationNotSupported rather than doing nothing, so a
caller (or a merchant clicking in admin) always learns that the action did not happen.

Errors every provider call may raise: ProviderUnavailable (timeout, 5xx, 429 after retries: retryable,
the outcome is unknown), ProviderAuthError (our credentials), ProviderRequestError (the provider refused
the request), PaymentDeclined (it refused the *payment*), TokenRevoked (a stored token is gone), and
InvalidReturn (the provider or a message said something we cannot read).
"""
from abc import ABC, abstractmethod
from datetime import datetime

from ..exceptions import OperationNotSupported, RouteNotAvailable
from .types import (
    Address,
    Capabilities,
    CheckoutRequest,
    DetailProblem,
    Identity,
    InboundMessage,
    ProviderPayment,
    Resolution,
    StartOutcome,
    SubscriptionInfo,
    SubscriptionPage,
    UpsellRequest,
    UpsellResult,
)


class PaymentAdapter(ABC):
    key: str = ""
    display_name: str = ""
    description: str = ""
    capabilities: Capabilities = Capabilities()

    def _unsupported(self, what: str):
        return OperationNotSupported(f"{self.display_name or self.key} cannot {what}")

    # --- checkout ---------------------------------------------------------------------------------
    def check_checkout(self, request: CheckoutRequest) -> None:
        """Refuse, before any attempt exists or any call is made, a checkout this route knows its provider
        would refuse (a cart it cannot express, say). Raises RouteNotAvailable whose shopper_message says
        why; pure: calls no provider. `request.reference` and its URLs are still empty here. By default it
        refuses what detail_problems names (an order placed on another route, retried here)."""
        self.refuse_detail_problems(request)

    def detail_problems(self, *, shipping: Address, billing: Address, email: str = "") -> list[DetailProblem]:
        """The shopper's details this route's provider cannot take (a name too short, a street line without
        the house number it needs, a line or an e-mail longer than its spec allows), each on its field, so
        checkout says so on the form before any order exists; check_checkout refuses the same ones later
        (an order placed on another route, retried here). Pure: calls no provider. Most routes take
        whatever the form took: none."""
        return []

    def refuse_detail_problems(self, request: CheckoutRequest) -> None:
        """Raise RouteNotAvailable naming the first of the order's details detail_problems names, with the
        words the checkout form shows on its field; nothing when there is none."""
        problems = self.detail_problems(shipping=request.shipping_address, billing=request.billing_address,
                                        email=request.customer.email)
        if problems:
            first = problems[0]
            raise RouteNotAvailable(f"{self.key} cannot take the {first.address} {first.field}",
                                    shopper_message=f"{first.message} Please change it with \"Change details\" "
                                                    "or choose another payment method.")

    @abstractmethod
    def start_checkout(self, request: CheckoutRequest) -> StartOutcome:
        """Create the payment at the provider; say where the shopper goes (Redirect, Widget), or that the
        provider decided already (Done, Declined). Raises ProviderError subclasses; a refusal of the payment
        itself is a Declined outcome, not an exception."""

    def update_checkout(self, session_id: str, request: CheckoutRequest) -> None:
        """Rewrite an open session with a changed cart (capabilities.session_updates). Raises
        ProviderRequestError when the provider refuses the new cart."""
        raise self._unsupported("update a payment session")

    # --- everything the provider (or the shopper's browser) sends in --------------------------------
    @abstractmethod
    def authenticate(self, message: InboundMessage) -> bool:
        """True when the message is the provider's: a valid signature over the raw body (constant-time),
        or, for a message on an attempt's signed URL (`message.bound`), whatever that route requires on
        top of the URL. Must not parse an unauthenticated body beyond what the signature needs."""

    @abstractmethod
    def identify(self, message: InboundMessage) -> Identity:
        """The message's identity for deduplication: the provider's event id, or a key derived from its
        content (order, status, attempt) when the provider sends none. Called only on authentic messages.
        Raises InvalidReturn for a body that is not what the provider sends."""

    @abstractmethod
    def resolve(self, message: InboundMessage, request: CheckoutRequest | None) -> Resolution:
        """What an authentic message means now: read the payment back from the provider, place it (with
        `request`, the bound attempt's checkout, when there is one), or say there is nothing to apply. A
        payment that needs the shop's own charging call to exist, a call the shop could not undo, is
        reported APPROVED and never finished here (see finish_payment). Never trusts amounts in an
        unsigned body. Raises InvalidReturn, ProviderError; a route that holds something for a refused
        message (an authorization) releases it itself."""

    # --- reading back -------------------------------------------------------------------------------
    @abstractmethod
    def fetch_payment(self, provider_reference: str) -> ProviderPayment:
        """Read the payment from the provider: the only source that may mark an attempt paid. A read only:
        an approval waiting for the shop's charging call comes back APPROVED, unfinished."""

    @abstractmethod
    def find_payment(self, reference: str, since: datetime, session: str = "") -> ProviderPayment | None:
        """Look up a payment by our attempt reference when we never learned the provider's (reconcile).
        `session` is the provider session the attempt opened, if any (a route that cannot search by our
        reference may read it instead). None when the provider has nothing for it (or cannot search: then
        it never got one)."""

    def finish_payment(self, payment: ProviderPayment, request: CheckoutRequest | None) -> ProviderPayment:
        """Make the charging call for a payment the shopper approved (status APPROVED, as resolve or
        fetch_payment reported it), with `request` (the attempt's checkout) when the caller has it. Only
        services.approvals calls it, after deciding the attempt may still be charged. Returns the payment
        as it now is; repeating it must not charge twice (the provider's idempotency key)."""
        raise self._unsupported("finish an approved payment")

    def release_payment(self, payment: ProviderPayment) -> None:
        """Give up an APPROVED payment the shop will not finish (its attempt was replaced, its order is
        paid), so the shopper is not left with an approval at the provider. Nothing is charged either way."""
        raise self._unsupported("release an approved payment")

    # --- recurring (capabilities.renewals) ---------------------------------------------------------
    def charge_recurring(self, token: str, request: CheckoutRequest, *, idempotency_key: str) -> ProviderPayment:
        """Charge one renewal on a stored customer token (Renewals.SHOP). The key makes a retry replay the
        first answer. Raises TokenRevoked when the token is gone, PaymentDeclined when refused."""
        raise self._unsupported("charge recurring payments")

    def issue_customer_token(self, grant: str, request: CheckoutRequest) -> str:
        """The customer token a payment's `token_grant` stands for, asked for again under the key of the first
        ask (so a token the provider made, whose answer was lost, comes back instead of a second one). Raises
        ProviderUnavailable to be asked later, ProviderRequestError when it will never be issued."""
        raise self._unsupported("issue a customer token later")

    def cancel_customer_token(self, token: str) -> None:
        """Stop a stored customer token (Renewals.SHOP). A token the provider no longer knows counts as
        cancelled (no error)."""
        raise self._unsupported("cancel a customer token")

    def fetch_subscription(self, provider_id: str) -> SubscriptionInfo:
        """Read a provider-run subscription (Renewals.PROVIDER)."""
        raise self._unsupported("read provider-run subscriptions")

    def list_subscriptions(self, *, cursor: str | None = None, statuses: tuple[str, ...] = ()) -> SubscriptionPage:
        """One page of the provider-run subscriptions (Renewals.PROVIDER, capabilities.subscription_page_size
        per page), newest first, optionally only those in `statuses`; pass the page's `next_cursor` to get
        the next. A cursor is opaque and stable while subscriptions are added. One provider call per page,
        so reading N subscriptions back costs N / page size calls instead of N."""
        raise self._unsupported("list provider-run subscriptions")

    def subscription_renew(self, provider_id: str) -> SubscriptionInfo:
        raise self._unsupported("renew a subscription on request")

    def subscription_retry(self, provider_id: str) -> SubscriptionInfo:
        raise self._unsupported("retry a subscription payment")

    def subscription_cancel(self, provider_id: str, *, reason: str, message: str = "") -> SubscriptionInfo:
        raise self._unsupported("cancel a provider subscription")

    def subscription_reschedule(self, provider_id: str, when: datetime) -> SubscriptionInfo:
        raise self._unsupported("move a subscription's renewal date")

    def subscription_set_amount(self, provider_id: str, amount: int) -> SubscriptionInfo:
        """Make a provider-run subscription charge exactly `amount` per cycle (what the shop's pages said),
        e.g. when the provider would add the first order's shipping to every renewal. Raises
        ProviderRequestError when the provider cannot charge that amount."""
        raise self._unsupported("change what a subscription charges")

    # --- upsells (capabilities.upsell) -------------------------------------------------------------
    def add_upsell(self, request: UpsellRequest) -> UpsellResult:
        """Charge an upsell on a paid payment. Raises PaymentDeclined / ProviderRequestError when refused,
        ProviderUnavailable when the outcome is unknown (the caller reads back with find_upsell)."""
        raise self._unsupported("take upsells")

    def find_upsell(self, provider_reference: str, reference: str) -> UpsellResult | None:
        """Whether an upsell with our `reference` was charged (after an unknown outcome)."""
        raise self._unsupported("take upsells")

    # --- order management (capabilities.operations), each under the operation row's key ------------
    def capture(self, provider_reference: str, *, amount: int, key: str,
                shipping_info: list[dict] | None = None) -> str:
        """Capture `amount`; returns the provider's capture id. Raises ProviderRequestError when refused."""
        raise self._unsupported("capture from the shop")

    def refund(self, provider_reference: str, *, amount: int, key: str, description: str = "") -> str:
        """Refund `amount` of what was captured; returns the provider's refund id."""
        raise self._unsupported("refund from the shop")

    def cancel(self, provider_reference: str, *, key: str) -> None:
        """Cancel an authorization with nothing captured."""
        raise self._unsupported("cancel from the shop")

    def release_remaining(self, provider_reference: str, *, key: str) -> None:
        """Give up the uncaptured rest of a partly captured authorization."""
        raise self._unsupported("release part of an authorization")

    def extend_authorization(self, provider_reference: str, *, key: str) -> datetime | None:
        """Extend the authorization's lifetime; returns its new expiry."""
        raise self._unsupported("extend an authorization")
