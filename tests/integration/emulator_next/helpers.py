"""Shared helpers for the 29 Next emulator contract tests: constants, the Admin API caller, order bodies."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path

import requests

from tests.emulator_process import REPO_ROOT

TOKEN = "emulator-token"
VERSION = "2024-04-01"
ADMIN = "/next/api/admin"
SPEC_FILE = REPO_ROOT.parent / "shared" / "reference" / "next-admin-api" / "2024-04-01.yaml"
SPEC_PATH = Path(os.environ["EMULATOR_SPEC_DIR"]) / "next-admin-api" / "2024-04-01.yaml" \
    if os.environ.get("EMULATOR_SPEC_DIR") else SPEC_FILE

SESSION = requests.Session()
SESSION.trust_env = False  # local calls only; keep-alive keeps the 100-order test quick


def call(emulator, method, path, body=None, *, token=TOKEN, version=VERSION, headers=None, timeout=10, **kw):
    sent = {"Content-Type": "application/json"}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    if version is not None:
        sent["X-29next-API-Version"] = version
    sent.update(headers or {})
    data = json.dumps(body) if body is not None and not isinstance(body, (str, bytes)) else body
    return SESSION.request(method, f"{emulator.url}{ADMIN}{path}", data=data, headers=sent, timeout=timeout, **kw)


def order_body(**overrides):
    body = {
        "lines": [
            {"product_id": 11, "quantity": 2, "price": "19.99", "metadata": {"title": "Canvas tote", "sku": "TOTE-1"}},
            {"product_id": 12, "quantity": 1, "price": "5.00", "is_upsell": False},
        ],
        "currency": "EUR",
        "payment_method": "klarna",
        "payment_details": {"payment_return_url": "http://127.0.0.1:8000/payments/next/return/?t=abc"},
        "user": {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace",
                 "phone_number": "+4915112345678"},
        "shipping_address": {"first_name": "Ada", "last_name": "Lovelace", "line1": "Hauptstr. 1",
                             "line4": "Berlin", "postcode": "10115", "country": "DE"},
        "billing_same_as_shipping_address": True,
        "shipping_price": "4.95",
        "tags": ["web"],
        "metadata": {"attempt": "pa_123"},
        "attribution": {"utm_source": "newsletter"},
    }
    body.update(overrides)
    return body


def create_checkout(emulator, **overrides) -> str:
    response = call(emulator, "POST", "/orders/", order_body(**overrides))
    assert response.status_code == 201, response.text
    return response.json()["payment_complete_url"]


def place_order(emulator, **overrides) -> dict:
    completion = emulator.complete_checkout(create_checkout(emulator, **overrides), "approve")
    return json.loads(completion["response"])


def signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
