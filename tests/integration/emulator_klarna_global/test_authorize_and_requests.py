"""The emulated Klarna Payment Authorize v2 on the wire: auth, the v2 error body, validation, personas,
payment requests and their lifecycle, finalization rules, idempotency, webhooks and the registry."""
from __future__ import annotations

import copy
import hashlib
import hmac
import json
from urllib.parse import quote

import pytest
import requests

SESSION = requests.Session()
SESSION.trust_env = False
ACCOUNT = quote("krn:partner:global:account:test:EMULATOR", safe="")
AUTH = "Basic klarna_test_api_emulator"
SIGNING_KEY = "emulator-klarna-signing-key"
BODY = {
    "currency": "EUR",
    "request_payment_transaction": {"amount": 11800, "payment_transaction_reference": "pa_1"},
    "supplementary_purchase_data": {
        "purchase_reference": "SO-1", "customer": {"email": "anna@example.com"},
        "line_items": [{"name": "T-shirt", "quantity": 2, "unit_price": 5000, "total_amount": 10000,
                        "total_tax_amount": 1736},
                       {"name": "Shipping", "quantity": 1, "unit_price": 1800, "total_amount": 1800,
                        "total_tax_amount": 312}]},
    "step_up_config": {"payment_request_reference": "pa_1", "customer_interaction_config": {
        "method": "HANDOVER", "return_url": "https://shop.example/return/"}},
}


def call(emulator, method, path, body=None, *, auth=AUTH, headers=None):
    sent = {"Content-Type": "application/json", **({"Authorization": auth} if auth else {}), **(headers or {})}
    return SESSION.request(method, f"{emulator.url}/klarna-global{path}", headers=sent, timeout=10,
                           data=json.dumps(body) if body is not None else None)


def authorize(emulator, body=None, **headers):
    return call(emulator, "POST", f"/v2/accounts/{ACCOUNT}/payment/authorize", BODY if body is None else body,
                headers=headers)


def with_email(email, body=BODY):
    changed = copy.deepcopy(body)
    changed["supplementary_purchase_data"]["customer"]["email"] = email
    return changed


def complete(emulator, request_id, action="approve"):
    return emulator.control("POST", f"/_emulator/klarna-global/payment-requests/{quote(request_id, safe='')}/complete",
                            {"action": action})


def stepped_up(emulator, body=None):
    answer = authorize(emulator, body).json()
    assert answer["payment_transaction_response"]["result"] == "STEP_UP_REQUIRED"
    return answer["payment_request"]


def final_body(body=BODY):
    return {k: v for k, v in body.items() if k != "step_up_config"}


def test_missing_key_and_foreign_account_answer_in_the_v2_error_body(emulator):
    missing = call(emulator, "POST", f"/v2/accounts/{ACCOUNT}/payment/authorize", BODY, auth=None)
    assert missing.status_code == 401 and missing.json()["error_type"] == "ACCESS_ERROR"
    assert missing.headers["Klarna-Correlation-Id"] and missing.json()["error_id"]
    other = call(emulator, "POST", "/v2/accounts/krn%3Aother/payment/authorize", BODY)
    assert other.status_code == 403 and other.json()["error_code"] == "OPERATION_FORBIDDEN"


@pytest.mark.parametrize("change,parameter", [
    (lambda b: b.update(currency="euro"), "currency"),
    (lambda b: b["request_payment_transaction"].update(amount=0), "request_payment_transaction.amount"),
    (lambda b: b["supplementary_purchase_data"]["line_items"][0].update(total_amount=9999),
     "supplementary_purchase_data.line_items[0].total_amount"),
    (lambda b: b["request_payment_transaction"].update(amount=11900), "supplementary_purchase_data.line_items"),
    (lambda b: b["step_up_config"]["customer_interaction_config"].update(method="POPUP"),
     "step_up_config.customer_interaction_config.method"),
    # a customer that is not an object was a 500 (the persona check called .get on it)
    (lambda b: b["supplementary_purchase_data"].update(customer="anna@example.com"),
     "supplementary_purchase_data.customer"),
    (lambda b: b["supplementary_purchase_data"].update(customer=[{"email": "a@example.com"}]),
     "supplementary_purchase_data.customer"),
    (lambda b: b["supplementary_purchase_data"].update(customer=True), "supplementary_purchase_data.customer"),
])
def test_validation_errors_name_each_parameter(emulator, change, parameter):
    body = copy.deepcopy(BODY)
    change(body)
    answer = authorize(emulator, body)
    assert answer.status_code == 400
    error = answer.json()
    assert (error["error_type"], error["error_code"]) == ("INPUT_ERROR", "VALIDATION_ERROR")
    assert parameter in [e["parameter"] for e in error["validation_errors"]]


def test_personas_decide_the_first_call(emulator):
    declined = authorize(emulator, with_email("a+denied@example.com")).json()
    assert declined["payment_transaction_response"]["result"] == "DECLINED"
    approved = authorize(emulator, with_email("a+approved@example.com"),
                         **{"Klarna-Idempotency-Key": "k-approved"}).json()
    transaction = approved["payment_transaction_response"]["payment_transaction"]
    assert transaction["payment_transaction_id"].startswith("krn:payment:eu1:transaction:")
    assert transaction["amount"] == 11800 and transaction["payment_transaction_reference"] == "pa_1"


def test_step_up_creates_a_payment_request_that_the_journey_completes(emulator, receiver):
    request = stepped_up(emulator)
    assert request["state"] == "SUBMITTED" and request["payment_request_reference"] == "pa_1"
    url = request["state_context"]["customer_interaction"]["payment_request_url"]
    page = SESSION.get(url, timeout=10)
    assert page.status_code == 200 and "klarna-approve" in page.text
    journey = SESSION.post(url, data={"action": "approve"}, allow_redirects=False, timeout=10)
    assert journey.status_code == 303 and journey.headers["Location"] == "https://shop.example/return/"
    read = call(emulator, "GET", f"/v2/accounts/{ACCOUNT}/payment/requests/{quote(request['payment_request_id'], safe='')}")
    assert read.json()["state"] == "COMPLETED"
    assert read.json()["state_context"]["klarna_network_session_token"].startswith("krn:network:")
    # The object of notes §4: the purchase the first call sent is not echoed, so a partner cannot rely on it.
    assert "supplementary_purchase_data" not in read.json() and "supplementary_purchase_data" not in request
    events = [json.loads(body)["metadata"]["event_type"] for _, body in receiver.deliveries]
    assert events == ["payment.request.state-change.submitted", "payment.request.state-change.in-progress",
                      "payment.request.state-change.completed"]


def test_webhooks_are_signed_over_the_raw_body(emulator, receiver):
    stepped_up(emulator)
    headers, body = receiver.deliveries[0]
    assert headers["klarna-signature"] == hmac.new(SIGNING_KEY.encode(), body, hashlib.sha256).hexdigest()
    assert headers["klarna-signing-key-id"] and json.loads(body)["metadata"]["event_version"] == "v2"


def test_finalization_approves_once_and_replays_for_the_same_token(emulator):
    request = stepped_up(emulator)
    token = complete(emulator, request["payment_request_id"])["klarna_network_session_token"]
    first = authorize(emulator, final_body(), **{"Klarna-Network-Session-Token": token}).json()
    again = authorize(emulator, final_body(), **{"Klarna-Network-Session-Token": token}).json()
    assert first["payment_transaction_response"]["result"] == "APPROVED" and first == again
    assert len(emulator.control("GET", "/_emulator/klarna-global/transactions")["transactions"]) == 1


@pytest.mark.parametrize("tamper", ["amount", "token", "expired", "step_up"])
def test_finalization_declines_what_the_shopper_did_not_approve(emulator, tamper):
    request = stepped_up(emulator)
    token = complete(emulator, request["payment_request_id"])["klarna_network_session_token"]
    body = final_body()
    if tamper == "amount":
        body = copy.deepcopy(body)
        body["request_payment_transaction"]["amount"] = 10000
        body["supplementary_purchase_data"]["line_items"].pop()
    elif tamper == "token":
        token = "krn:network:eu1:test:session-token:made-up"
    elif tamper == "expired":
        emulator.advance_clock(seconds=3601)
    elif tamper == "step_up":
        body = BODY
    answer = authorize(emulator, body, **{"Klarna-Network-Session-Token": token})
    if tamper == "step_up":
        assert answer.status_code == 400
        return
    assert answer.json()["payment_transaction_response"]["result"] == "DECLINED"
    assert emulator.control("GET", "/_emulator/klarna-global/transactions")["transactions"] == []


def test_the_same_idempotency_key_replays_the_first_answer(emulator):
    first = authorize(emulator, **{"Klarna-Idempotency-Key": "k-1"}).json()
    again = authorize(emulator, **{"Klarna-Idempotency-Key": "k-1"}).json()
    assert first == again
    assert len(emulator.control("GET", "/_emulator/klarna-global/payment-requests")["payment_requests"]) == 1


def test_cancel_and_expiry_close_open_requests_only(emulator):
    request = stepped_up(emulator)
    path = f"/v2/accounts/{ACCOUNT}/payment/requests/{quote(request['payment_request_id'], safe='')}"
    assert call(emulator, "DELETE", path).status_code == 204
    assert call(emulator, "GET", path).json()["state"] == "CANCELED"
    assert call(emulator, "DELETE", path).status_code == 409
    other = stepped_up(emulator)
    emulator.advance_clock(seconds=3 * 3600 + 1)
    read = call(emulator, "GET", f"/v2/accounts/{ACCOUNT}/payment/requests/{quote(other['payment_request_id'], safe='')}")
    assert read.json()["state"] == "EXPIRED"
    assert call(emulator, "GET", f"/v2/accounts/{ACCOUNT}/payment/requests/nope").status_code == 404


def test_customer_tokens_charge_until_revoked(emulator):
    body = {**copy.deepcopy(BODY), "request_customer_token": {"scopes": ["payment:customer_not_present"],
                                                              "customer_token_reference": "pa_1"}}
    approved = authorize(emulator, with_email("a+approved@example.com", body)).json()
    token = approved["customer_token_response"]["customer_token"]["customer_token_id"]
    charge = final_body()
    assert authorize(emulator, charge, **{"Klarna-Customer-Token": token}).json()[
        "payment_transaction_response"]["result"] == "APPROVED"
    emulator.control("POST", f"/_emulator/klarna-global/tokens/{quote(token, safe='')}/scenario", {"charge": "decline"})
    assert authorize(emulator, charge, **{"Klarna-Customer-Token": token}).json()[
        "payment_transaction_response"]["result"] == "DECLINED"
    emulator.control("POST", f"/_emulator/klarna-global/tokens/{quote(token, safe='')}/scenario", {"status": "REVOKED"})
    gone = authorize(emulator, charge, **{"Klarna-Customer-Token": token})
    assert gone.status_code == 404 and gone.json()["error_code"] == "RESOURCE_NOT_FOUND"


def test_registered_webhooks_get_events_signed_with_their_own_key(emulator, receiver):
    emulator.control("PATCH", "/_emulator/config", {"klarna_global": {"webhook_target": ""}})
    key = call(emulator, "POST", "/v2/notification/signing-keys", {}).json()
    hook = call(emulator, "POST", "/v2/notification/webhooks", {
        "url": receiver.url, "event_types": ["payment.request.state-change.*"], "event_version": "v2",
        "signing_key_id": key["signing_key_id"], "status": "ENABLED"})
    assert hook.status_code == 201
    stepped_up(emulator)
    headers, body = receiver.deliveries[0]
    assert headers["klarna-signing-key-id"] == key["signing_key_id"]
    assert headers["klarna-signature"] == hmac.new(key["signing_key"].encode(), body, hashlib.sha256).hexdigest()
    bad = call(emulator, "POST", "/v2/notification/webhooks", {"url": "ftp://x", "event_types": [],
                                                                "signing_key_id": "nope"})
    assert {e["parameter"] for e in bad.json()["validation_errors"]} == {"url", "event_types", "signing_key_id"}


def test_a_fault_answers_in_the_v2_error_body(emulator):
    emulator.control("POST", "/_emulator/faults", {"method": "POST", "path": "/klarna-global/", "kind": "error",
                                                   "status": 503})
    answer = authorize(emulator)
    assert answer.status_code == 503
    assert answer.json()["error_type"] == "TECHNICAL_ERROR" and answer.headers["Klarna-Correlation-Id"]
