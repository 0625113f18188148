"""In-memory provider-side state of the emulated Klarna merchant: payment sessions, authorizations, customer
tokens, orders (the Order Management view), confirmation redirects and scripted scenarios.

Why in memory, one re-entrant lock: the emulator lives for one test session (`POST /_emulator/reset` wipes
it) and its HTTP server is threaded; placing an order from an authorization, capturing, or charging a token
must each happen once even when two requests race, so every check-then-change runs under `lock`.
Lifetimes are judged lazily against the emulator clock (sessions 48 h, authorizations 60 min, orders'
authorizations `expires_at`), so moving the clock forward is all it takes to expire something.
"""
from __future__ import annotations

import base64
import json
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..scenarios import ScenarioQueue
from ..server import parse_json

SESSION_LIFETIME = timedelta(hours=48)
AUTHORIZATION_LIFETIME = timedelta(minutes=60)


@dataclass
class Session:
    id: str
    client_token: str
    data: dict  # the validated session (spec fields only), updated by POST /sessions/{id} and authorize()
    created_at: datetime
    expires_at: datetime
    status: str = "incomplete"  # complete once an order (or, for `tokenize`, a customer token) is placed
    authorization_token: str | None = None  # the current one; a new authorize() supersedes it

    @property
    def intent(self) -> str:
        return self.data.get("intent") or "buy"


@dataclass
class Authorization:
    token: str
    session_id: str
    intent: str
    snapshot: dict  # the cart and addresses the shopper approved: create order must match them
    category: str
    created_at: datetime
    expires_at: datetime
    order_id: str | None = None
    customer_token_id: str | None = None
    cancelled: bool = False


@dataclass
class CustomerToken:
    token_id: str
    status: str  # ACTIVE, SUSPENDED, CANCELLED
    purchase_country: str
    purchase_currency: str
    locale: str | None
    billing_address: dict
    description: str
    intended_use: str
    payment_method_reference: str
    category: str
    created_at: datetime
    session_id: str | None = None

    def as_dict(self) -> dict:
        """customer_token (GET /customer-token/v1/tokens/{t}); INVOICE-style methods carry no card data."""
        return {"status": self.status, "payment_method_type": "INVOICE"}


@dataclass
class Order:
    order_id: str
    klarna_reference: str
    fraud_status: str  # ACCEPTED, PENDING, REJECTED
    data: dict  # purchase_country/currency, locale, order_amount, order_tax_amount, order_lines, addresses, ...
    original_order_amount: int
    created_at: datetime
    expires_at: datetime
    authorized_payment_method: dict
    source: str  # "payments" (authorization token) or "customer_token"
    session_id: str | None = None
    token_id: str | None = None
    status: str = "AUTHORIZED"
    captured_amount: int = 0
    refunded_amount: int = 0
    released: bool = False
    captures: list[dict] = field(default_factory=list)
    refunds: list[dict] = field(default_factory=list)
    shipping_info: list[dict] = field(default_factory=list)
    decision: str | None = None  # the fraud decision awaiting its time (PENDING orders)
    decide_at: datetime | None = None
    decided_at: datetime | None = None
    extended_on: str | None = None  # date of the last extend-authorization-time

    @property
    def order_amount(self) -> int:
        return self.data["order_amount"]

    def remaining_authorized(self, now: datetime) -> int:
        if self.status in ("CANCELLED", "EXPIRED", "CLOSED") or self.released or now > self.expires_at:
            return 0
        return max(self.order_amount - self.captured_amount, 0)

    def refresh(self, now: datetime) -> None:
        """An authorization nobody captured lapses at `expires_at` (status EXPIRED)."""
        if self.status == "AUTHORIZED" and now > self.expires_at:
            self.status = "EXPIRED"


def client_token(session_id: str, base_url: str, data: dict) -> str:
    """A JWT-shaped token (the SDK's init() checks the shape); the signature is random, nobody verifies it."""
    def part(payload: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).rstrip(b"=").decode()

    header = {"alg": "RS256", "kid": "emulator", "typ": "JWT"}
    claims = {"session_id": session_id, "base_url": base_url, "environment": "playground",
              "purchase_country": data.get("purchase_country"), "locale": data.get("locale") or "en-US",
              "session_type": "PAYMENTS"}
    return f"{part(header)}.{part(claims)}.{secrets.token_urlsafe(32)}"


def decode_client_token(token: Any) -> dict | None:
    try:
        payload = str(token).split(".")[1]
        return parse_json(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, UnicodeDecodeError):
        return None


class KlarnaState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.sessions: dict[str, Session] = {}
        self.authorizations: dict[str, Authorization] = {}
        self.tokens: dict[str, CustomerToken] = {}
        self.orders: dict[str, Order] = {}
        self.redirects: dict[str, str] = {}  # redirect id -> merchant confirmation URL
        self.scenarios = ScenarioQueue(self.lock)  # ("charge", token) / ("authorization_update", order)

    def reset(self) -> None:
        with self.lock:
            for store in (self.sessions, self.authorizations, self.tokens, self.orders, self.redirects,
                          self.scenarios):
                store.clear()

    # --- sessions and authorizations ----------------------------------------------------------
    def add_session(self, data: dict, base_url: str, now: datetime) -> Session:
        session_id = str(uuid.uuid4())
        session = Session(session_id, client_token(session_id, base_url, data), data, now, now + SESSION_LIFETIME)
        with self.lock:
            self.sessions[session_id] = session
        return session

    def session(self, session_id: str, now: datetime) -> Session | None:
        """The open or completed session; None when unknown or past its 48 hours."""
        with self.lock:
            session = self.sessions.get(session_id)
            return session if session is not None and now <= session.expires_at else None

    def authorize(self, session: Session, snapshot: dict, category: str, now: datetime) -> Authorization:
        """A new authorization token for the session; the previous one is superseded (404 from now on)."""
        with self.lock:
            authorization = Authorization(str(uuid.uuid4()), session.id, session.intent, snapshot, category,
                                          now, now + AUTHORIZATION_LIFETIME)
            self.authorizations[authorization.token] = authorization
            session.authorization_token = authorization.token
            return authorization

    def authorization(self, token: str, now: datetime) -> Authorization | None:
        """A usable token: known, not cancelled, not superseded, within its 60 minutes."""
        with self.lock:
            found = self.authorizations.get(token)
            if found is None or found.cancelled or now > found.expires_at:
                return None
            session = self.sessions.get(found.session_id)
            if session is None or session.authorization_token != token:
                return None
            return found

    # --- tokens, orders, redirects -------------------------------------------------------------
    def add_token(self, token: CustomerToken) -> None:
        with self.lock:
            self.tokens[token.token_id] = token

    def add_order(self, order: Order) -> None:
        with self.lock:
            self.orders[order.order_id] = order

    def order(self, order_id: str, now: datetime) -> Order | None:
        with self.lock:
            order = self.orders.get(order_id)
            if order is not None:
                order.refresh(now)
            return order

    def add_redirect(self, url: str) -> str:
        redirect_id = secrets.token_urlsafe(12)
        with self.lock:
            self.redirects[redirect_id] = url
        return redirect_id
