"""Klarna emulator contract: pending fraud review and its notification, the authorization callback, the JS
SDK stand-in, injected faults, the request log and reset."""
from __future__ import annotations

import json

import requests

from tests.integration.emulator_klarna.helpers import (
    authorized,
    call,
    cart,
    create_session,
    error,
    om_order,
    place_order,
)


def pending_order(emulator, receiver, email="customer+pending@email.se") -> dict:
    order = place_order(emulator, email, merchant_urls={"notification": receiver.url + "?order={order.id}"})
    assert order["fraud_status"] == "PENDING"
    return order


def test_pending_order_is_decided_by_the_control_api_and_notified(emulator, receiver):
    order = pending_order(emulator, receiver)
    assert om_order(emulator, order["order_id"])["fraud_status"] == "PENDING"
    assert error(call(emulator, "POST", f"/ordermanagement/v1/orders/{order['order_id']}/captures",
                      {"captured_amount": 9500}))[:2] == (403, "CAPTURE_NOT_ALLOWED")  # don't ship under review
    assert receiver.events() == []
    assert emulator.klarna_decide(order["order_id"], "ACCEPTED")["fraud_status"] == "ACCEPTED"
    [notification] = receiver.wait_for(1)
    assert notification["order_id"] == order["order_id"] and notification["event_type"] == "FRAUD_RISK_ACCEPTED"
    assert notification["event_time"].endswith("Z")
    headers, _ = receiver.deliveries[0]
    assert headers["content-type"] == "application/json" and "authorization" not in headers  # unsigned
    assert om_order(emulator, order["order_id"])["fraud_status"] == "ACCEPTED"


def test_pending_reject_persona_is_decided_by_the_clock(emulator, receiver):
    order = pending_order(emulator, receiver, "customer+pending+reject@email.se")
    emulator.advance_clock(seconds=299)
    assert receiver.events() == []
    advanced = emulator.advance_clock(seconds=2)
    assert advanced["klarna_fraud_decisions"] == [{"order_id": order["order_id"], "fraud_status": "REJECTED"}]
    [notification] = receiver.wait_for(1)
    assert notification["event_type"] == "FRAUD_RISK_REJECTED"
    placed = om_order(emulator, order["order_id"])
    assert (placed["fraud_status"], placed["status"]) == ("REJECTED", "CANCELLED")
    target = emulator.control("GET", "/_emulator/webhooks?provider=klarna")["deliveries"][0]["target"]
    assert target.endswith(f"?order={order['order_id']}")  # {order.id} placeholder filled in


def test_klarna_pend_pattern_and_decide_refusals(emulator, receiver):
    order = pending_order(emulator, receiver, "customer+pend-accept-05@email.us")
    assert emulator.control("GET", "/_emulator/klarna/orders")["orders"][0]["fraud_decision"] == "ACCEPTED"
    emulator.advance_clock(seconds=5 * 60 + 1)
    assert receiver.wait_for(1)[0]["event_type"] == "FRAUD_RISK_ACCEPTED"
    response = requests.post(f"{emulator.url}/_emulator/klarna/orders/{order['order_id']}/decide",
                             json={"fraud_status": "REJECTED"}, timeout=5)
    assert response.status_code == 409  # already decided


def test_authorization_callback_reaches_the_merchant(emulator, receiver):
    session_id = create_session(emulator, merchant_urls={"authorization": receiver.url})
    token = emulator.klarna_authorize(session_id)["authorization_token"]
    assert receiver.wait_for(1) == [{"authorization_token": token, "session_id": session_id}]
    emulator.control("POST", "/_emulator/webhooks/mode", {"mode": "drop"})
    emulator.klarna_authorize(session_id)
    assert len(receiver.wait_for(2, timeout=0.5)) == 1


def test_sdk_script_is_served_with_cors(emulator):
    response = requests.get(f"{emulator.url}/klarna/js/klarna-payments.js", timeout=5)
    assert response.status_code == 200 and response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Content-Type"].startswith("application/javascript")
    script = response.text
    for needle in ("window.Klarna.Payments", "init:", "load:", "authorize:", "klarna-approve", "klarna-decline",
                   "#FFB3C7", f"{emulator.url}/klarna/sdk/authorize"):
        assert needle in script


def sdk_authorize(emulator, client_token, approve=True, email="customer@email.se"):
    body = {"client_token": client_token, "approve": approve, "payment_method_category": "pay_over_time",
            "data": {"billing_address": {"email": email, "country": "SE"}}}
    response = requests.post(f"{emulator.url}/klarna/sdk/authorize", data=json.dumps(body),
                             headers={"Content-Type": "text/plain;charset=UTF-8"}, timeout=5)
    assert response.status_code == 200 and response.headers["Access-Control-Allow-Origin"] == "*"
    return response.json()


def test_sdk_authorize_endpoint_approves_declines_and_personas(emulator, receiver):
    body = cart(merchant_urls={"authorization": receiver.url})
    created = call(emulator, "POST", "/payments/v1/sessions", body).json()
    approved = sdk_authorize(emulator, created["client_token"])
    assert approved["approved"] is True and approved["finalize_required"] is False
    assert receiver.wait_for(1)[0]["authorization_token"] == approved["authorization_token"]
    order = call(emulator, "POST", f"/payments/v1/authorizations/{approved['authorization_token']}/order", body)
    assert order.json()["authorized_payment_method"] == {"type": "fixed_amount", "number_of_installments": 3}
    other = call(emulator, "POST", "/payments/v1/sessions", cart()).json()["client_token"]
    assert sdk_authorize(emulator, other, approve=False) == {"approved": False, "show_form": False}
    assert sdk_authorize(emulator, other, email="customer+denied@email.se") == {"approved": False, "show_form": False}
    assert sdk_authorize(emulator, "not-a-jwt")["approved"] is False


def sdk_summary(emulator, body):
    response = requests.post(f"{emulator.url}/klarna/sdk/summary", data=json.dumps(body),
                             headers={"Content-Type": "text/plain;charset=UTF-8"}, timeout=5)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    return response.status_code, response.json()


def test_sdk_summary_shows_the_amount_the_session_holds_when_the_dialog_opens(emulator):
    """The dialog's amount is the session's as it stands, not what the merchant's page drew: a session the
    shop updated after the page loaded shows its new amount; authorize() data that sets one shows that."""
    created = call(emulator, "POST", "/payments/v1/sessions", cart()).json()
    token, amount = created["client_token"], cart()["order_amount"]
    assert sdk_summary(emulator, {"client_token": token}) == (
        200, {"order_amount": amount, "purchase_currency": cart()["purchase_currency"]})
    # Two totes now (the shop rewrote the order): 200.00 less 5.00, 25 % VAT included.
    line = {**cart()["order_lines"][0], "quantity": 2, "total_amount": 19500, "total_tax_amount": 3900}
    updated = call(emulator, "POST", f"/payments/v1/sessions/{created['session_id']}",
                   {"order_amount": line["total_amount"], "order_tax_amount": line["total_tax_amount"],
                    "order_lines": [line]})
    assert updated.status_code == 204, updated.text
    assert sdk_summary(emulator, {"client_token": token})[1]["order_amount"] == line["total_amount"]
    assert sdk_summary(emulator, {"client_token": token, "data": {"order_amount": 99}})[1]["order_amount"] == 99
    assert sdk_summary(emulator, {"client_token": token, "data": {"order_amount": "99"}})[1]["order_amount"] == \
        line["total_amount"]
    for hostile in ({"client_token": "not-a-jwt"}, ["a list"], {"client_token": token + "x"}):
        assert sdk_summary(emulator, hostile)[0] == 404


def test_faults_apply_to_klarna_routes_in_klarnas_error_format(emulator):
    emulator.control("POST", "/_emulator/faults", {"method": "POST", "path": "/klarna/payments/v1/sessions",
                                                   "kind": "error", "status": 503})
    failed = call(emulator, "POST", "/payments/v1/sessions", cart())
    assert error(failed) == (503, "TEMPORARILY_UNAVAILABLE", ["Service Unavailable"])
    assert emulator.control("GET", "/_emulator/klarna/sessions")["sessions"] == []
    emulator.control("POST", "/_emulator/faults", {"path": "/klarna/", "kind": "rate_limit"})
    throttled = call(emulator, "GET", "/payments/v1/sessions/x")
    assert error(throttled)[:2] == (429, "TOO_MANY_REQUESTS") and throttled.headers["Retry-After"] == "1"


def test_answer_lost_after_the_order_is_replayed_under_the_same_key(emulator):
    token = authorized(emulator)
    emulator.control("POST", "/_emulator/faults", {"method": "POST", "path": "/klarna/payments/v1/authorizations/",
                                                   "kind": "error", "status": 500, "when": "after"})
    key = {"Klarna-Idempotency-Key": "order-attempt-1"}
    lost = call(emulator, "POST", f"/payments/v1/authorizations/{token}/order", cart(), headers=key)
    assert error(lost) == (500, "INTERNAL_SERVER_ERROR", ["Internal error"])
    [placed] = emulator.control("GET", "/_emulator/klarna/orders")["orders"]  # the work was done
    retried = call(emulator, "POST", f"/payments/v1/authorizations/{token}/order", cart(), headers=key)
    assert retried.status_code == 200 and retried.json()["order_id"] == placed["order_id"]


def test_request_log_has_klarna_calls_without_credentials_and_reset_clears_state(emulator):
    create_session(emulator)
    [logged] = emulator.control("GET", "/_emulator/requests?provider=klarna")["requests"]
    assert logged["path"] == "/klarna/payments/v1/sessions" and logged["status"] == 200
    assert "authorization" not in {k.lower() for k in logged["headers"]}
    assert json.loads(logged["body"])["order_amount"] == 9500
    place_order(emulator)
    emulator.reset()
    for kind in ("sessions", "orders", "tokens"):
        assert emulator.control("GET", f"/_emulator/klarna/{kind}")[kind] == []
    assert emulator.control("GET", "/_emulator/requests?provider=klarna")["requests"] == []
