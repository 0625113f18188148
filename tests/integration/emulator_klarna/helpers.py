"""Shared helpers for the Klarna emulator contract tests: credentials, the API caller, the documented cart."""
from __future__ import annotations

import base64
import copy
import json
import os
from pathlib import Path

import requests

from tests.emulator_process import REPO_ROOT

USER, PASSWORD = "PK_TEST", "emulator-secret"
API_KEY = "klarna_test_api_emulator"
SPEC_DIR = Path(os.environ["EMULATOR_SPEC_DIR"]) if os.environ.get("EMULATOR_SPEC_DIR") \
    else REPO_ROOT.parent / "shared" / "reference"
SPEC_FILES = [SPEC_DIR / "klarna" / name for name in
              ("payments-v1.openapi.yaml", "customer-token-v1.openapi.yaml", "ordermanagement-v1.openapi.yaml")]

SESSION = requests.Session()
SESSION.trust_env = False
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

# The docs' example that passes validation: 1 line, 100.00 less 5.00 discount, 25 % VAT included.
LINE = {"type": "physical", "reference": "TOTE-1", "name": "Canvas tote", "quantity": 1, "unit_price": 10000,
        "total_discount_amount": 500, "total_amount": 9500, "tax_rate": 2500, "total_tax_amount": 1900}
CART = {"purchase_country": "SE", "purchase_currency": "SEK", "locale": "sv-SE", "order_amount": 9500,
        "order_tax_amount": 1900, "order_lines": [LINE]}
SUBSCRIPTION = {"name": "Coffee club", "interval": "MONTH", "interval_count": 1}


def call(emulator, method, path, body=None, *, auth=BASIC, headers=None, timeout=10):
    """A Klarna API call; `path` is Klarna's own (e.g. /payments/v1/sessions), under the `/klarna` base."""
    sent = {"Content-Type": "application/json"}
    if auth is not None:
        sent["Authorization"] = auth
    sent.update(headers or {})
    data = json.dumps(body) if body is not None and not isinstance(body, (str, bytes)) else body
    return SESSION.request(method, f"{emulator.url}/klarna{path}", data=data, headers=sent, timeout=timeout)


def cart(**overrides) -> dict:
    body = copy.deepcopy(CART)
    body.update(copy.deepcopy(overrides))
    return body


def subscription_cart(amount: int = 9500, **overrides) -> dict:
    """A one-line subscription cart of `amount` (0 = a free trial), 25 % VAT included."""
    tax = amount - amount * 10000 // 12500 if amount else 0
    line = {**LINE, "unit_price": amount, "total_discount_amount": 0, "total_amount": amount,
            "total_tax_amount": tax, "subscription": SUBSCRIPTION}
    return cart(order_amount=amount, order_tax_amount=tax, order_lines=[line], **overrides)


def create_session(emulator, **overrides) -> str:
    response = call(emulator, "POST", "/payments/v1/sessions", cart(**overrides))
    assert response.status_code == 200, response.text
    return response.json()["session_id"]


def authorized(emulator, email: str = "customer@email.se", body: dict | None = None, **overrides) -> str:
    """A session authorized by the shopper: its authorization token."""
    body = body if body is not None else cart(**overrides)
    response = call(emulator, "POST", "/payments/v1/sessions", body)
    assert response.status_code == 200, response.text
    answer = emulator.klarna_authorize(response.json()["session_id"], email=email)
    assert answer["approved"] is True, answer
    return answer["authorization_token"]


def place_order(emulator, email: str = "customer@email.se", **overrides) -> dict:
    body = cart(**overrides)
    token = authorized(emulator, email, body)
    response = call(emulator, "POST", f"/payments/v1/authorizations/{token}/order", body)
    assert response.status_code == 200, response.text
    return response.json()


def token_request(**overrides) -> dict:
    body = {"description": "Coffee club", "intended_use": "SUBSCRIPTION", "locale": "sv-SE",
            "purchase_country": "SE", "purchase_currency": "SEK"}
    body.update(overrides)
    return body


def customer_token(emulator, amount: int = 0) -> str:
    """A customer token from a `tokenize` session (amount 0 = free trial)."""
    token = authorized(emulator, body=subscription_cart(amount, intent="tokenize"))
    response = call(emulator, "POST", f"/payments/v1/authorizations/{token}/customer-token", token_request())
    assert response.status_code == 200, response.text
    return response.json()["token_id"]


def om_order(emulator, order_id: str) -> dict:
    response = call(emulator, "GET", f"/ordermanagement/v1/orders/{order_id}")
    assert response.status_code == 200, response.text
    return response.json()


def error(response) -> tuple[int, str, list[str]]:
    body = response.json()
    assert body["correlation_id"] == response.headers["Klarna-Correlation-Id"]
    return response.status_code, body["error_code"], body["error_messages"]
