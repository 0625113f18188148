"""The adapter contract every payment route implements (DESIGN rule 2).

A route that cannot do something raises OperationNotSupported rather than doing nothing, so a caller
(or a merchant clicking in admin) always learns that the action did not happen.
"""
from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import datetime

from ..exceptions import OperationNotSupported
from .types import (
    CheckoutRequest,
    CheckoutStart,
    ProviderPayment,
    ReturnData,
    SubscriptionInfo,
    UpsellRequest,
    UpsellResult,
    WebhookEvent,
)


class PaymentAdapter(ABC):
    key: str = ""
    display_name: str = ""
    description: str = ""
    supports_recurring: bool = False
    supports_upsell: bool = False
    # Who charges renewals: the provider (29 Next renews its own subscriptions) or the shop (a customer
    # token charged by our beat task).
    renewals_by: str = "provider"
    # Whether a pending payment's provider session can be updated with a changed cart (Klarna Payments).
    updates_sessions: bool = False

    @abstractmethod
    def start_checkout(self, request: CheckoutRequest) -> CheckoutStart:
        """Create the payment at the provider and say where the shopper goes next."""

    @abstractmethod
    def parse_return(self, data: Mapping[str, str]) -> ReturnData:
        """Read what the shopper's browser brought back. Raises InvalidReturn for a malformed body."""

    def confirm_return(self, returned: ReturnData, request: CheckoutRequest) -> ProviderPayment:
        """Turn a successful return into the provider's own view of the payment. By default: read it
        back (29 Next). Routes that place the order at this point (Klarna Payments) override this."""
        return self.fetch_payment(returned.provider_reference)

    def update_checkout(self, session_id: str, request: CheckoutRequest) -> None:
        raise OperationNotSupported(f"{self.key} cannot update a payment session")

    def release_return(self, returned: ReturnData) -> None:
        """Give back what a return held that will not be used (e.g. an unused authorization)."""

    @abstractmethod
    def fetch_payment(self, provider_reference: str) -> ProviderPayment:
        """Read the payment from the provider: the only source that may mark an attempt paid."""

    @abstractmethod
    def find_payment(self, reference: str, since: datetime) -> ProviderPayment | None:
        """Look up a payment by our reference when we never learned the provider's (reconcile)."""

    @abstractmethod
    def verify_webhook(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """True when the signature over the raw body is valid (constant-time comparison)."""

    @abstractmethod
    def parse_webhook(self, body: bytes) -> WebhookEvent:
        """Turn a verified body into an event. Raises InvalidReturn when it is not a known envelope."""

    def charge_recurring(self, *args, **kwargs):
        raise OperationNotSupported(f"{self.key} cannot charge recurring payments")

    def add_upsell(self, request: UpsellRequest) -> UpsellResult:
        """Charge an upsell on a paid payment. Raises ProviderRequestError when declined."""
        raise OperationNotSupported(f"{self.key} does not support upsells")

    def find_upsell(self, provider_reference: str, reference: str) -> UpsellResult | None:
        """Read back whether an upsell with our `reference` was charged (after an unknown outcome)."""
        raise OperationNotSupported(f"{self.key} does not support upsells")

    # Provider-run subscriptions (29 Next renews them itself; the shop mirrors and steers).
    def fetch_subscription(self, provider_id: str) -> SubscriptionInfo:
        raise OperationNotSupported(f"{self.key} has no provider-run subscriptions")

    def subscription_renew(self, provider_id: str) -> SubscriptionInfo:
        raise OperationNotSupported(f"{self.key} cannot renew a subscription on request")

    def subscription_retry(self, provider_id: str) -> SubscriptionInfo:
        raise OperationNotSupported(f"{self.key} cannot retry a subscription payment")

    def subscription_cancel(self, provider_id: str, *, reason: str, message: str = "") -> SubscriptionInfo:
        raise OperationNotSupported(f"{self.key} cannot cancel a provider subscription")

    def subscription_reschedule(self, provider_id: str, when: datetime) -> SubscriptionInfo:
        raise OperationNotSupported(f"{self.key} cannot move a subscription's renewal date")

    def capture(self, *args, **kwargs):
        raise OperationNotSupported(f"{self.key} cannot capture from the shop")

    def refund(self, *args, **kwargs):
        raise OperationNotSupported(f"{self.key} cannot refund from the shop")

    def cancel(self, *args, **kwargs):
        raise OperationNotSupported(f"{self.key} cannot cancel from the shop")

    def release_remaining(self, *args, **kwargs):
        raise OperationNotSupported(f"{self.key} cannot release part of an authorization")

    def extend_authorization(self, *args, **kwargs):
        raise OperationNotSupported(f"{self.key} cannot extend an authorization")
