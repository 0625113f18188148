"""Klarna emulator contract: the Customer Token API (read, cancel, recurring charges with idempotency, scripted
declines and token statuses)."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.emulator_klarna.helpers import (
    LINE,
    call,
    customer_token,
    error,
    om_order,
    subscription_cart,
)

TOKENS = "/customer-token/v1/tokens"


def renewal(**overrides) -> dict:
    body = subscription_cart(merchant_reference1="renewal-1")
    for key in ("purchase_country", "locale"):
        body.pop(key)
    body.update(overrides)
    return body


def charge(emulator, token_id, body=None, key=None):
    headers = {"Klarna-Idempotency-Key": key} if key else None
    return call(emulator, "POST", f"{TOKENS}/{token_id}/order", body or renewal(), headers=headers)


def test_read_a_token(emulator):
    token_id = customer_token(emulator)
    read = call(emulator, "GET", f"{TOKENS}/{token_id}")
    assert read.status_code == 200 and read.json() == {"status": "ACTIVE", "payment_method_type": "INVOICE"}
    assert error(call(emulator, "GET", f"{TOKENS}/{uuid.uuid4()}")) == (404, "NOT_FOUND", ["Invalid customer-token ID"])


def test_charge_places_an_order_on_the_token(emulator):
    token_id = customer_token(emulator)
    response = charge(emulator, token_id)
    assert response.status_code == 200, response.text
    order = response.json()
    assert order["fraud_status"] == "ACCEPTED" and order["authorized_payment_method"]["type"] == "invoice"
    placed = om_order(emulator, order["order_id"])
    assert (placed["status"], placed["order_amount"], placed["purchase_country"]) == ("AUTHORIZED", 9500, "SE")
    assert placed["merchant_reference1"] == "renewal-1"


def test_auto_capture_captures_the_charge(emulator):
    order = charge(emulator, customer_token(emulator), renewal(auto_capture=True)).json()
    placed = om_order(emulator, order["order_id"])
    assert (placed["status"], placed["captured_amount"], placed["remaining_authorized_amount"]) == ("CAPTURED", 9500, 0)


def test_the_same_idempotency_key_charges_once(emulator):
    token_id = customer_token(emulator)
    key = f"renewal-{uuid.uuid4()}"
    first, again = charge(emulator, token_id, key=key), charge(emulator, token_id, key=key)
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    assert len(emulator.control("GET", "/_emulator/klarna/orders")["orders"]) == 1
    assert charge(emulator, token_id, renewal(merchant_reference1="other"), key=key).json() == first.json()
    assert charge(emulator, token_id, key=f"renewal-{uuid.uuid4()}").json()["order_id"] != first.json()["order_id"]


def test_scripted_decline_then_approve(emulator):
    token_id = customer_token(emulator)
    emulator.script_klarna_token(token_id, charge="decline", times=2)
    for _ in range(2):
        assert error(charge(emulator, token_id))[:2] == (403, "PAYMENT_METHOD_FAILED")
    assert charge(emulator, token_id).status_code == 200
    assert len(emulator.control("GET", "/_emulator/klarna/orders")["orders"]) == 1


def test_a_declined_charge_is_replayed_under_its_key(emulator):
    token_id = customer_token(emulator)
    emulator.script_klarna_token(token_id, charge="decline")
    assert error(charge(emulator, token_id, key="k1"))[:2] == (403, "PAYMENT_METHOD_FAILED")
    assert error(charge(emulator, token_id, key="k1"))[:2] == (403, "PAYMENT_METHOD_FAILED")  # runs once
    assert charge(emulator, token_id, key="k2").status_code == 200


@pytest.mark.parametrize("status,code", [("SUSPENDED", "TOKEN_SUSPENDED"), ("CANCELLED", "TOKEN_CANCELED")])
def test_suspended_and_cancelled_tokens_refuse_charges(emulator, status, code):
    token_id = customer_token(emulator)
    assert emulator.script_klarna_token(token_id, status=status)["status"] == status
    assert error(charge(emulator, token_id))[:2] == (403, code)
    assert call(emulator, "GET", f"{TOKENS}/{token_id}").json()["status"] == status
    emulator.script_klarna_token(token_id, status="ACTIVE")
    assert charge(emulator, token_id).status_code == 200


def test_unknown_token_charge(emulator):
    assert error(charge(emulator, str(uuid.uuid4())))[:2] == (404, "TOKEN_NOT_FOUND")


def test_the_token_decides_before_the_body(emulator):
    """Klarna's order of answers: a missing or cancelled token is reported even when the body is bad too."""
    bad = renewal(order_amount=9400)
    assert error(charge(emulator, str(uuid.uuid4()), bad))[:2] == (404, "TOKEN_NOT_FOUND")
    token_id = customer_token(emulator)
    emulator.script_klarna_token(token_id, status="CANCELLED")
    assert error(charge(emulator, token_id, bad))[:2] == (403, "TOKEN_CANCELED")
    emulator.script_klarna_token(token_id, status="ACTIVE")
    assert error(charge(emulator, token_id, bad))[2] == ["Bad value: order_amount"]


def test_charge_body_rules(emulator):
    token_id = customer_token(emulator)
    assert error(charge(emulator, token_id, renewal(purchase_currency="EUR")))[2] == ["Bad value: purchase_currency"]
    assert error(charge(emulator, token_id, renewal(order_amount=9400)))[2] == ["Bad value: order_amount"]
    zero = renewal(order_amount=0, order_tax_amount=0,
                   order_lines=[{**LINE, "unit_price": 0, "total_discount_amount": 0, "total_amount": 0,
                                 "total_tax_amount": 0}])
    assert error(charge(emulator, token_id, zero))[2] == ["Bad value: order_amount"]  # spec: minimum 1
    missing = renewal()
    del missing["order_tax_amount"]
    assert error(charge(emulator, token_id, missing))[2] == ["Bad value: order_tax_amount"]


def test_cancel_a_token_through_the_api(emulator):
    token_id = customer_token(emulator)
    cancelled = call(emulator, "PATCH", f"{TOKENS}/{token_id}/status", {"status": "cancelled"})  # any case
    assert cancelled.status_code == 202 and cancelled.content == b""
    assert call(emulator, "GET", f"{TOKENS}/{token_id}").json()["status"] == "CANCELLED"
    assert error(charge(emulator, token_id))[:2] == (403, "TOKEN_CANCELED")
    assert error(call(emulator, "PATCH", f"{TOKENS}/{token_id}/status", {"status": "ACTIVE"}))[2] == \
        ["Bad value: status"]
    assert error(call(emulator, "PATCH", f"{TOKENS}/{uuid.uuid4()}/status", {"status": "CANCELLED"}))[0] == 404


def test_concurrent_retries_under_one_key_charge_once(emulator):
    token_id = customer_token(emulator)
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: charge(emulator, token_id, key="renewal-race"), range(6)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["order_id"] for a in answers}) == 1
    assert len(emulator.control("GET", "/_emulator/klarna/orders")["orders"]) == 1
