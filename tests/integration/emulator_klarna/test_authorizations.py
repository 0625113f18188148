"""Klarna emulator contract: authorizing a session (personas), placing the order, customer tokens, releasing
an authorization, and `Klarna-Idempotency-Key` replays."""
from __future__ import annotations

import uuid

import requests

from tests.integration.emulator_klarna.helpers import (
    LINE,
    authorized,
    call,
    cart,
    create_session,
    error,
    om_order,
    subscription_cart,
    token_request,
)


def order_path(token: str) -> str:
    return f"/payments/v1/authorizations/{token}/order"


def test_authorize_approves_and_the_session_shows_the_token(emulator):
    session_id = create_session(emulator)
    answer = emulator.klarna_authorize(session_id, email="customer@email.se")
    assert answer["approved"] is True and answer["show_form"] is True and answer["finalize_required"] is False
    read = call(emulator, "GET", f"/payments/v1/sessions/{session_id}").json()
    assert read["authorization_token"] == answer["authorization_token"]
    assert read["billing_address"]["email"] == "customer@email.se"


def test_denied_persona_and_shopper_decline_give_no_token(emulator):
    session_id = create_session(emulator)
    assert emulator.klarna_authorize(session_id, email="customer+denied@email.se") == \
        {"authorization_token": None, "approved": False, "show_form": False}
    assert emulator.klarna_authorize(session_id, approve=False)["authorization_token"] is None
    assert "authorization_token" not in call(emulator, "GET", f"/payments/v1/sessions/{session_id}").json()


def test_create_order_accepted_closes_the_session(emulator):
    token = authorized(emulator)
    response = call(emulator, "POST", order_path(token), cart(merchant_reference1="A-1"))
    assert response.status_code == 200, response.text
    order = response.json()
    uuid.UUID(order["order_id"])
    assert order["fraud_status"] == "ACCEPTED"
    assert order["authorized_payment_method"] == {"type": "invoice", "number_of_days": 30}
    assert "redirect_url" not in order  # only with merchant_urls.confirmation
    sessions = emulator.control("GET", "/_emulator/klarna/sessions")["sessions"]
    assert sessions[0]["status"] == "complete"
    assert om_order(emulator, order["order_id"])["status"] == "AUTHORIZED"
    refused = call(emulator, "POST", f"/payments/v1/sessions/{sessions[0]['session_id']}", {"locale": "sv-SE"})
    assert error(refused) == (404, "SESSION_COMPLETED", ["Session has already been completed"])


def test_redirect_url_bounces_to_the_confirmation_page(emulator):
    token = authorized(emulator)
    confirmation = "http://127.0.0.1:8000/klarna/confirm/?order={order.id}"
    order = call(emulator, "POST", order_path(token), cart(merchant_urls={"confirmation": confirmation})).json()
    bounce = requests.get(order["redirect_url"], allow_redirects=False, timeout=5)
    assert bounce.status_code == 302
    assert bounce.headers["Location"] == f"http://127.0.0.1:8000/klarna/confirm/?order={order['order_id']}"


def test_create_order_must_match_what_was_authorized(emulator):
    token = authorized(emulator, billing_address={"postal_code": "11122", "email": "customer@email.se"})
    moved = call(emulator, "POST", order_path(token), cart(billing_address={"postal_code": "99999"}))
    assert error(moved) == (409, "BAD_VALUE", ["Not matching fields: [billing_address.postal_code]"])
    two = cart(order_lines=[LINE, LINE], order_amount=19000, order_tax_amount=3800)
    status, code, [message] = error(call(emulator, "POST", order_path(token), two))
    assert (status, code) == (409, "BAD_VALUE") and message.startswith("Not matching fields: [")
    assert "order_amount" in message and "Incorrect number of items in the cart. Expected: 1, Actual: 2" in message
    assert call(emulator, "POST", order_path(token), cart()).status_code == 200  # the token was not used up


def test_consumed_superseded_expired_and_unknown_tokens(emulator):
    token = authorized(emulator)
    assert call(emulator, "POST", order_path(token), cart()).status_code == 200
    assert error(call(emulator, "POST", order_path(token), cart())) == \
        (403, "INVALID_OPERATION", ["Authorization token already consumed"])
    assert error(call(emulator, "POST", order_path(str(uuid.uuid4())), cart())) == \
        (404, "NOT_FOUND", ["Invalid authorization token"])
    session_id = create_session(emulator)
    first = emulator.klarna_authorize(session_id)["authorization_token"]
    second = emulator.klarna_authorize(session_id)["authorization_token"]  # re-authorize: the old one is dead
    assert error(call(emulator, "POST", order_path(first), cart()))[:2] == (404, "NOT_FOUND")
    emulator.advance_clock(seconds=61 * 60)  # tokens live 60 minutes
    assert error(call(emulator, "POST", order_path(second), cart()))[:2] == (404, "NOT_FOUND")


def test_cancel_authorization(emulator):
    token = authorized(emulator)
    cancelled = call(emulator, "DELETE", f"/payments/v1/authorizations/{token}")
    assert cancelled.status_code == 204 and cancelled.content == b""
    assert error(call(emulator, "POST", order_path(token), cart()))[:2] == (404, "NOT_FOUND")
    used = authorized(emulator)
    call(emulator, "POST", order_path(used), cart())
    assert error(call(emulator, "DELETE", f"/payments/v1/authorizations/{used}"))[:2] == (403, "INVALID_OPERATION")


def test_customer_token_only_for_tokenizing_intents(emulator):
    token = authorized(emulator)
    refused = call(emulator, "POST", f"/payments/v1/authorizations/{token}/customer-token", token_request())
    assert error(refused) == (403, "INVALID_OPERATION", ["Not allowed to create customer token for intent buy"])
    trial = authorized(emulator, body=subscription_cart(0, intent="tokenize",
                                                        billing_address={"country": "SE"}))
    created = call(emulator, "POST", f"/payments/v1/authorizations/{trial}/customer-token", token_request())
    assert created.status_code == 200, created.text
    body = created.json()
    uuid.UUID(body["token_id"])
    assert body["billing_address"]["country"] == "SE" and body["payment_method_reference"]
    assert error(call(emulator, "POST", order_path(trial), subscription_cart(0)))[0] == 403  # tokenize: no order
    again = call(emulator, "POST", f"/payments/v1/authorizations/{trial}/customer-token", token_request())
    assert error(again) == (403, "INVALID_OPERATION", ["Authorization token already consumed"])


def test_customer_token_request_is_checked(emulator):
    token = authorized(emulator, body=subscription_cart(intent="tokenize"))
    path = f"/payments/v1/authorizations/{token}/customer-token"
    assert error(call(emulator, "POST", path, token_request(intended_use="ONE_OFF")))[2] == \
        ["Bad value: intended_use"]
    assert error(call(emulator, "POST", path, token_request(billing_address={"country": "DE"})))[2] == \
        ["Bad value: billing_address.country"]


def test_buy_and_tokenize_uses_the_token_for_the_order_then_the_customer_token(emulator):
    body = subscription_cart(intent="buy_and_tokenize")
    token = authorized(emulator, body=body)
    assert call(emulator, "POST", order_path(token), body).json()["fraud_status"] == "ACCEPTED"
    created = call(emulator, "POST", f"/payments/v1/authorizations/{token}/customer-token", token_request())
    assert created.status_code == 200, created.text
    assert emulator.control("GET", "/_emulator/klarna/tokens")["tokens"][0]["status"] == "ACTIVE"


def test_idempotency_key_replays_the_first_answer(emulator):
    token = authorized(emulator)
    key = {"Klarna-Idempotency-Key": str(uuid.uuid4())}
    first = call(emulator, "POST", order_path(token), cart(), headers=key)
    replay = call(emulator, "POST", order_path(token), cart(), headers=key)
    assert first.status_code == replay.status_code == 200
    assert replay.json() == first.json()
    assert len(emulator.control("GET", "/_emulator/klarna/orders")["orders"]) == 1
    # Klarna's documented behaviour: only the key is compared, a different body still replays
    assert call(emulator, "POST", order_path(token), cart(merchant_reference1="X"), headers=key).json() == first.json()
    # A stricter check that flags such client bugs is one setting away
    emulator.control("PATCH", "/_emulator/config", {"klarna": {"idempotency_body_check": True}})
    other_body = call(emulator, "POST", order_path(token), cart(merchant_reference1="X"), headers=key)
    assert error(other_body)[:2] == (409, "CONFLICT")


def test_idempotency_keys_last_24_hours_on_the_emulator_clock(emulator):
    key = {"Klarna-Idempotency-Key": "session-1"}
    first = call(emulator, "POST", "/payments/v1/sessions", cart(), headers=key).json()["session_id"]
    assert call(emulator, "POST", "/payments/v1/sessions", cart(), headers=key).json()["session_id"] == first
    emulator.advance_clock(seconds=24 * 3600 + 1)
    assert call(emulator, "POST", "/payments/v1/sessions", cart(), headers=key).json()["session_id"] != first


# Probe I I5: the spec's `address` limits (payments-v1 `address`: 99 characters, postal_code 10, title 20).
ADDRESS = {"given_name": "Sam", "family_name": "Andersson", "email": "customer@email.se",
           "street_address": "Drottninggatan 1", "street_address2": "", "postal_code": "11151",
           "city": "Stockholm", "country": "SE"}
OVER = {"given_name": "G" * 100, "family_name": "F" * 100, "street_address": "Drottninggatan " + "x" * 84 + " 1",
        "street_address2": "y" * 100, "city": "c" * 100, "email": "e" * 88 + "@email.se.com", "postal_code": "1" * 11}


def test_create_order_refuses_address_fields_over_the_specs_limits(emulator):
    token = authorized(emulator)
    for field, value in OVER.items():
        assert len(value) == (11 if field == "postal_code" else 101 if field == "email" else 100) or \
            field == "street_address" and len(value) == 101
        address = {**ADDRESS, field: value}
        refused = call(emulator, "POST", order_path(token), cart(billing_address=address, shipping_address=address))
        assert error(refused) == (400, "BAD_VALUE", [f"Bad value: billing_address.{field}",
                                                     f"Bad value: shipping_address.{field}"]), field
    at_limit = {**ADDRESS, "street_address": "Drottninggatan " + "x" * 82 + " 1", "city": "c" * 99}
    assert len(at_limit["street_address"]) == 99
    placed = call(emulator, "POST", order_path(token), cart(billing_address=at_limit, shipping_address=at_limit))
    assert placed.status_code == 200, placed.text
