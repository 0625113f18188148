"""Provider-side state of the emulated Klarna Network account: payment requests, payment transactions,
customer tokens, signing keys and webhooks.

Why one re-entrant lock: the HTTP server is threaded, and a finalization (token → transaction), a journey
decision and the expiry job must each happen once even when requests race; scripted token charges live
in a `ScenarioQueue` sharing that lock, so a charge checks its token and takes its outcome atomically.
Lifetimes (payment request `expires_at`, session token one hour) are judged against the emulator clock,
so advancing it expires them.
"""
from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from ..scenarios import ScenarioQueue

OPEN = ("SUBMITTED", "IN_PROGRESS")
FINAL = ("COMPLETED", "EXPIRED", "CANCELED", "DECLINED")


@dataclass
class PaymentRequest:
    id: str
    journey_id: str  # the uuid in the purchase-journey URL
    reference: str
    amount: int
    currency: str
    purchase: dict  # supplementary_purchase_data as first sent
    transaction_reference: str
    return_url: str
    request_customer_token: dict | None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    state: str = "SUBMITTED"
    previous_state: str | None = None
    state_reason: str | None = None
    session_token: str | None = None
    session_token_expires_at: datetime | None = None
    final_answer: dict | None = None  # the finalization's answer, replayed for the same token

    def context(self) -> dict:
        """What a finalization must repeat exactly (§6)."""
        return {"currency": self.currency, "amount": self.amount, "purchase": self.purchase,
                "reference": self.transaction_reference}


@dataclass
class CustomerToken:
    id: str
    reference: str
    scopes: list[str]
    created_at: datetime
    status: str = "ACTIVE"  # ACTIVE or REVOKED


@dataclass
class Webhook:
    id: str
    url: str
    event_types: list[str]
    signing_key_id: str
    status: str = "ENABLED"


@dataclass
class GlobalState:
    lock: threading.RLock = field(default_factory=threading.RLock)
    requests: dict[str, PaymentRequest] = field(default_factory=dict)
    transactions: dict[str, dict] = field(default_factory=dict)
    tokens: dict[str, CustomerToken] = field(default_factory=dict)
    signing_keys: dict[str, str] = field(default_factory=dict)
    webhooks: dict[str, Webhook] = field(default_factory=dict)
    scenarios: ScenarioQueue = field(init=False)  # ("charge", token id) → queued "approve"/"decline"

    def __post_init__(self) -> None:
        self.scenarios = ScenarioQueue(self.lock)

    def reset(self) -> None:
        with self.lock:
            for store in (self.requests, self.transactions, self.tokens, self.signing_keys, self.webhooks,
                          self.scenarios):  # every store, the scenario queue included, has clear()
                store.clear()

    def by_journey(self, journey_id: str) -> PaymentRequest | None:
        with self.lock:
            return next((r for r in self.requests.values() if r.journey_id == journey_id), None)

    def by_session_token(self, token: str) -> PaymentRequest | None:
        with self.lock:
            return next((r for r in self.requests.values() if r.session_token == token), None)

    def move(self, request: PaymentRequest, state: str, now: datetime, reason: str | None = None) -> None:
        request.previous_state, request.state, request.state_reason = request.state, state, reason
        request.updated_at = now

    def issue_token(self, reference: str, scopes: list[str], now: datetime) -> CustomerToken:
        token = CustomerToken(f"krn:partner:eu1:test:identity:customer-token:{uuid.uuid4()}", reference, scopes, now)
        with self.lock:
            self.tokens[token.id] = token
        return token

    def next_charge(self, token_id: str) -> str:
        """The scripted outcome of this token's next charge (consumed); "approve" when none is scripted."""
        return self.scenarios.take("charge", token_id) or "approve"
