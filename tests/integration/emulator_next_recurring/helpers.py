"""Shared helpers for the 29 Next emulator's recurring and upsell contract tests."""
from __future__ import annotations

import calendar
import json
import os
from datetime import datetime
from pathlib import Path

import requests

from tests.emulator_process import REPO_ROOT

TOKEN = "emulator-token"
VERSION = "2024-04-01"
ADMIN = "/next/api/admin"
SPEC_PATH = (Path(os.environ["EMULATOR_SPEC_DIR"]) if os.environ.get("EMULATOR_SPEC_DIR")
             else REPO_ROOT.parent / "shared" / "reference") / "next-admin-api" / "2024-04-01.yaml"
SESSION = requests.Session()
SESSION.trust_env = False


def call(emulator, method, path, body=None, *, token=TOKEN, timeout=10):
    headers = {"Content-Type": "application/json", "X-29next-API-Version": VERSION}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body) if body is not None else None
    return SESSION.request(method, f"{emulator.url}{ADMIN}{path}", data=data, headers=headers, timeout=timeout)


def ok(response, status=200):
    assert response.status_code == status, response.text
    return response.json()


MONTHLY = {"interval": "month", "interval_count": 1}


def order_body(email="ada@example.com", lines=None):
    return {
        "lines": lines or [
            {"product_id": 11, "quantity": 2, "price": "19.99", "metadata": {"title": "Coffee beans", "sku": "BEAN-1"},
             "subscription": {**MONTHLY, "price": "17.50"}},
            {"product_id": 12, "quantity": 1, "price": "5.00", "subscription": MONTHLY},
            {"product_id": 13, "quantity": 1, "price": "30.00"},
            {"product_id": 14, "quantity": 1, "price": "8.00", "subscription": {"interval": "week", "interval_count": 2}},
        ],
        "currency": "EUR", "payment_method": "klarna",
        "payment_details": {"payment_return_url": "http://127.0.0.1:8000/payments/next/return/?t=abc"},
        "user": {"email": email, "first_name": "Ada", "last_name": "Lovelace"},
        "shipping_address": {"first_name": "Ada", "last_name": "Lovelace", "line1": "Hauptstr. 1", "line4": "Berlin",
                             "postcode": "10115", "country": "DE"},
        "billing_same_as_shipping_address": True, "shipping_price": "4.95",
        "attribution": {"utm_source": "newsletter"},
    }


def place_order(emulator, **kwargs) -> dict:
    url = ok(call(emulator, "POST", "/orders/", order_body(**kwargs)), 201)["payment_complete_url"]
    return json.loads(emulator.complete_checkout(url, "approve")["response"])


def monthly_subscription(emulator, email="ada@example.com") -> dict:
    place_order(emulator, email=email, lines=[
        {"product_id": 11, "quantity": 2, "price": "19.99", "subscription": {**MONTHLY, "price": "17.50"}}])
    return ok(call(emulator, "GET", "/subscriptions/1/"))


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


def plus_month(moment: datetime) -> datetime:
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def types(receiver) -> list[str]:
    return [e["event_type"] for e in receiver.events()]

