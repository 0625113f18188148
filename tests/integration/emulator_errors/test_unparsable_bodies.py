"""A request body the emulator cannot parse (nested deeper than a JSON parser follows, invalid UTF-8, not
JSON) is the client's mistake: every provider answers 400 in its own error shape, never a 500.

Why: Python's `json.loads` raises RecursionError (not ValueError) on a deeply nested document, and a body
nested just below that limit still overflows the recursive code that reads it afterwards; the probe found
every provider answering such bodies with a crash."""
from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest
import requests

from tests.integration.emulator_multisafepay.helpers import ORDER

SESSION = requests.Session()
SESSION.trust_env = False

DEEP_ARRAY = b"[" * 5000 + b"]" * 5000
DEEP_OBJECT = b'{"a":' * 3000 + b"1" + b"}" * 3000
JUST_PARSEABLE = b'{"a":' * 900 + b"1" + b"}" * 900  # json.loads accepts it; recursive readers did not
BAD_UTF8 = b'{"purchase_country": "\xff\xfe"}'
BODIES = {"deep_array": DEEP_ARRAY, "deep_object": DEEP_OBJECT, "just_parseable": JUST_PARSEABLE,
          "bad_utf8": BAD_UTF8}

KLARNA_AUTH = "Basic " + base64.b64encode(b"PK_TEST:emulator-secret").decode()
GLOBAL_AUTH = "Basic klarna_test_api_emulator"
ACCOUNT = quote("krn:partner:global:account:test:EMULATOR", safe="")
NEXT_HEADERS = {"Authorization": "Bearer emulator-token", "X-29next-API-Version": "2024-04-01"}


def post(emulator, path, body, headers, method="POST"):
    return SESSION.request(method, emulator.url + path, data=body, timeout=30,
                           headers={"Content-Type": "application/json", **headers})


@pytest.mark.parametrize("name", sorted(BODIES))
@pytest.mark.parametrize("path,method", [
    ("/klarna/payments/v1/sessions", "POST"),
    ("/klarna/ordermanagement/v1/orders/nosuch/captures", "POST"),
    ("/klarna/customer-token/v1/tokens/nosuch/order", "POST"),
])
def test_klarna_v1_answers_bad_request(emulator, name, path, method):
    answer = post(emulator, path, BODIES[name], {"Authorization": KLARNA_AUTH})
    assert answer.status_code in (400, 404), answer.text  # unknown order/token may be found out first
    body = answer.json()
    assert body["error_code"] in ("BAD_REQUEST", "NO_SUCH_ORDER", "TOKEN_NOT_FOUND"), body
    assert body["correlation_id"] == answer.headers["Klarna-Correlation-Id"]
    if path.endswith("sessions"):
        assert (answer.status_code, body["error_code"]) == (400, "BAD_REQUEST")


@pytest.mark.parametrize("name", sorted(BODIES))
@pytest.mark.parametrize("check", [False, True])
def test_klarna_v1_under_an_idempotency_key(emulator, name, check):
    emulator.control("PATCH", "/_emulator/config", {"klarna": {"idempotency_body_check": check}})
    headers = {"Authorization": KLARNA_AUTH, "Klarna-Idempotency-Key": f"key-{name}-{check}"}
    answer = post(emulator, "/klarna/payments/v1/sessions", BODIES[name], headers)
    assert (answer.status_code, answer.json()["error_code"]) == (400, "BAD_REQUEST"), answer.text


@pytest.mark.parametrize("name", sorted(BODIES))
def test_klarna_sdk_routes_do_not_crash(emulator, name):
    """The SDK's dialog routes: authorize always answers 200 (the SDK reads the outcome inside), summary
    404 for a body that names no session."""
    authorize = post(emulator, "/klarna/sdk/authorize", BODIES[name], {})
    assert (authorize.status_code, authorize.json()["approved"]) == (200, False), authorize.text
    assert post(emulator, "/klarna/sdk/summary", BODIES[name], {}).status_code == 404


@pytest.mark.parametrize("name", sorted(BODIES))
@pytest.mark.parametrize("path", [f"/klarna-global/v2/accounts/{ACCOUNT}/payment/authorize",
                                  "/klarna-global/v2/notification/webhooks",
                                  "/klarna-global/v2/notification/signing-keys"])
def test_klarna_v2_answers_its_validation_error(emulator, name, path):
    answer = post(emulator, path, BODIES[name], {"Authorization": GLOBAL_AUTH})
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert (body["error_type"], body["error_code"]) == ("INPUT_ERROR", "VALIDATION_ERROR"), body
    assert body["validation_errors"][0]["parameter"] == "body"


@pytest.mark.parametrize("name", sorted(BODIES))
@pytest.mark.parametrize("path,method", [("/multisafepay/v1/json/orders", "POST"),
                                         ("/multisafepay/v1/json/orders/{id}", "PATCH"),
                                         ("/multisafepay/v1/json/orders/{id}/refunds", "POST")])
def test_multisafepay_answers_1000(emulator, name, path, method):
    headers = {"api_key": "msp-emulator-api-key"}
    if "{id}" in path:  # an order that exists: an unknown one is found out before the body is read
        created = post(emulator, "/multisafepay/v1/json/orders", json.dumps(ORDER).encode(), headers)
        assert created.status_code == 200, created.text
        path = path.format(id=ORDER["order_id"])
    answer = post(emulator, path, BODIES[name], headers, method)
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"success": False, "data": {}, "error_code": 1000,
                             "error_info": "Invalid JSON in request body"}


@pytest.mark.parametrize("name", sorted(BODIES))
@pytest.mark.parametrize("path", ["/next/api/admin/orders/", "/next/api/admin/webhooks/"])
def test_next_answers_drf_parse_error(emulator, name, path):
    answer = post(emulator, path, BODIES[name], NEXT_HEADERS)
    assert answer.status_code == 400, answer.text
    assert list(answer.json()) == ["detail"]
    assert answer.json()["detail"].startswith("JSON parse error - ")


@pytest.mark.parametrize("name", sorted(BODIES))
def test_control_api_answers_400(emulator, name):
    answer = post(emulator, "/_emulator/config", BODIES[name], {}, "PATCH")
    assert answer.status_code == 400, answer.text
