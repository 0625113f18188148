"""What statuses a payment and a subscription can have, and which moves between them are allowed.

Definitions only: payments/states.py is the one module that changes a status (DESIGN rule 3), by these
tables. The records a batch of changes is made of (Success, Renewed) live here beside TransitionResult.
"""
from dataclasses import dataclass

from django.db import models


class Status(models.TextChoices):
    CREATED = "created", "Created"
    PENDING = "pending", "Waiting for the shopper at the provider"
    # Money still held to capture. A payment stays here while anything is left to capture, even with part
    # of it captured and refunded (the amounts say so): it can still be captured, released or lapse, and the
    # expiry filter and dashboard look for it here. See services/operation_outcomes.py:_settle.
    AUTHORIZED = "authorized", "Authorized"
    CAPTURED = "captured", "Paid (captured)"
    FAILED = "failed", "Failed or declined"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
    REFUNDED = "refunded", "Refunded"


S = Status
SUCCESSFUL = frozenset({S.AUTHORIZED, S.CAPTURED, S.PARTIALLY_REFUNDED, S.REFUNDED})
# Still waiting for an outcome: the reconcile task re-reads these from the provider.
IN_BETWEEN = frozenset({S.CREATED, S.PENDING})

TRANSITIONS = {
    # EXPIRED: never sent, or its answer never came (a renewal cycle, a checkout whose start was lost).
    S.CREATED: {S.PENDING, S.AUTHORIZED, S.CAPTURED, S.FAILED, S.CANCELLED, S.EXPIRED},
    S.PENDING: {S.AUTHORIZED, S.CAPTURED, S.FAILED, S.CANCELLED, S.EXPIRED},
    S.AUTHORIZED: {S.CAPTURED, S.CANCELLED, S.EXPIRED, S.PARTIALLY_REFUNDED, S.REFUNDED},
    S.CAPTURED: {S.PARTIALLY_REFUNDED, S.REFUNDED},
    S.PARTIALLY_REFUNDED: {S.PARTIALLY_REFUNDED, S.REFUNDED},
    # A provider-confirmed success after we had given up (the shopper paid in another tab, a webhook
    # arrived late): money was taken, so the books must say so.
    S.FAILED: {S.AUTHORIZED, S.CAPTURED},
    S.EXPIRED: {S.AUTHORIZED, S.CAPTURED},
    S.CANCELLED: set(),
    S.REFUNDED: set(),
}


class InvalidTransition(Exception):
    """Raised by transition(strict=True) when TRANSITIONS does not allow the change."""


@dataclass(frozen=True)
class TransitionResult:
    attempt: object
    changed: bool
    reason: str = ""
    # This change made the order paid (it was not before): no other payment can have paid it first.
    order_paid_now: bool = False


# The provider runs a provider-run subscription's life and we mirror it; for a shop-run one the shop's
# renewals move it. Cancelled is terminal, so a stale read or a late webhook can never bring a cancelled
# subscription back.
SUBSCRIPTION_TRANSITIONS = {
    "active": {"past_due", "retrying", "paused", "canceled"},
    "past_due": {"active", "retrying", "canceled", "paused"},
    "retrying": {"active", "past_due", "canceled"},
    "paused": {"active", "canceled"},
    "canceled": set(),
}


@dataclass(frozen=True)
class Success:
    """One attempt of a batch that the provider reports as paid: `attempt` as the caller read it."""

    attempt: object
    to_status: Status
    provider_reference: str
    payload: object
    message: str
    authorization_expires_at: object = None  # when the provider lets an uncaptured authorization lapse


@dataclass(frozen=True)
class Renewed:
    """One paid cycle of a batch: the subscription as the caller read it (unlocked) and its next date."""

    subscription: object
    next_renewal_at: object
    message: str
