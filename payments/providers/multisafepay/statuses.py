"""MultiSafepay's order statuses as the shop's payment statuses (reference notes §7, Klarna page §8).

MultiSafepay reports two statuses: `status` (the order) and `financial_status` (the funds). For Klarna,
order `completed` with funds `uncleared` means authorised and not yet captured; `shipped` is the capture
(funds stay `uncleared` until MultiSafepay collects them). Choices where the docs are silent:
- `uncleared` as the ORDER status (manual review) is still pending: neither paid nor failed.
- `void` (cancelled after authorisation) and `cancelled` are both our CANCELLED.
- `chargedback` (SDK spelling) and `chargeback` (spec enum) are REFUNDED: our states have no chargeback
  and the money has gone back to the shopper. The adapter reports it as a chargeback of the whole captured
  amount (ProviderPayment.charged_back), which the timeline names as the bank's, not the merchant's, doing.
- `reserved` (a refund waiting for balance) and unknown values map to None: nothing changes until a
  status that says what happened arrives.
An authorised Klarna order expires if not shipped within AUTHORIZATION_DAYS of authorisation.
"""
from ...states import Status

AUTHORIZATION_DAYS = 28

ORDER_STATUSES = {
    "initialized": Status.PENDING,
    "uncleared": Status.PENDING,
    "shipped": Status.CAPTURED,
    "declined": Status.FAILED,
    "cancelled": Status.CANCELLED,
    "void": Status.CANCELLED,
    "expired": Status.EXPIRED,
    "refunded": Status.REFUNDED,
    "partial_refunded": Status.PARTIALLY_REFUNDED,
    "chargedback": Status.REFUNDED,
    "chargeback": Status.REFUNDED,
}


def payment_status(status: str, financial_status: str = "") -> Status | None:
    """Our status for MultiSafepay's pair; None when the pair says nothing we can act on."""
    status, financial_status = (status or "").lower(), (financial_status or "").lower()
    if status == "completed":
        return Status.CAPTURED if financial_status == "completed" else Status.AUTHORIZED
    return ORDER_STATUSES.get(status)


def is_chargeback(status: str) -> bool:
    """MultiSafepay's order status says the shopper's bank took the payment back."""
    return (status or "").lower() in ("chargedback", "chargeback")
