"""29 Next emulator contract: health, authentication, API version, routing, request validation, control API."""
from __future__ import annotations

import json
import os

import pytest

from tests.emulator_process import EmulatorProcess
from tests.integration.emulator_next.helpers import (
    ADMIN,
    SESSION,
    SPEC_PATH,
    VERSION,
    call,
    order_body,
    place_order,
)


# --- health, auth, version, routing ----------------------------------------------------------
def test_spec_is_loaded(emulator):
    if not SPEC_PATH.is_file():
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(f"REQUIRE_SERVICES=1 but the 29 Next spec is missing at {SPEC_PATH}")
        pytest.skip(f"29 Next spec not found at {SPEC_PATH}")
    assert emulator.control("GET", "/_emulator/health")["specs"]["next"] is True


@pytest.mark.parametrize("token,detail", [
    (None, "Authentication credentials were not provided."),
    ("wrong", "Invalid token."),
])
def test_authentication_errors(emulator, token, detail):
    response = call(emulator, "GET", "/orders/", token=token)
    assert response.status_code == 401
    assert response.json() == {"detail": detail}


def test_second_configured_token_is_accepted(emulator):
    assert call(emulator, "GET", "/orders/", token="second-token").status_code == 200


def test_version_header_missing_or_unsupported(emulator):
    missing = call(emulator, "GET", "/orders/", version=None)
    assert missing.status_code == 400
    assert missing.json() == {"detail": "Missing required header X-29next-API-Version."}
    wrong = call(emulator, "GET", "/orders/", version="2023-02-10")
    assert wrong.status_code == 400
    assert wrong.json() == {"detail": "Unsupported API version '2023-02-10'."}
    lower = call(emulator, "GET", "/orders/", version=None, headers={"x-29next-api-version": VERSION})
    assert lower.status_code == 200


def test_unknown_route_and_wrong_method(emulator):
    assert call(emulator, "GET", "/nothing/").status_code == 404
    assert call(emulator, "GET", "/orders/999999/").json() == {"detail": "Not found."}
    assert call(emulator, "DELETE", "/orders/").status_code == 405


@pytest.mark.parametrize("method", ["OPTIONS", "TRACE", "PUT", "PROPFIND"])
def test_unrouted_methods_answer_405_in_drf_shape_after_authentication(emulator, method):
    refused = call(emulator, method, "/orders/")
    assert (refused.status_code, refused.headers["Allow"]) == (405, "GET, POST")
    assert refused.json() == {"detail": f'Method "{method}" not allowed.'}
    assert call(emulator, method, "/orders/", token=None).status_code == 401  # DRF authenticates first


def test_multipart_bodies_are_parsed_like_forms(emulator):
    fields = {"target": (None, "https://example.com/hook"), "events": (None, "order.created")}
    created = SESSION.post(f"{emulator.url}{ADMIN}/webhooks/", files=fields, timeout=5,
                           headers={"Authorization": "Bearer emulator-token", "X-29next-API-Version": VERSION})
    assert created.status_code == 201 and created.json()["events"] == ["order.created"]
    broken = call(emulator, "POST", "/orders/", b"no parts", headers={"Content-Type": "multipart/form-data"})
    assert broken.status_code == 400 and broken.json()["detail"].startswith("Multipart form parse error")


@pytest.mark.parametrize("query,errors", [
    ("status=weird", {"status": ["Select a valid choice. weird is not one of the available choices."]}),
    ("date_placed_from=notadate", {"date_placed_from": ["Enter a valid date."]}),
    ("product=abc", {"product": ["Enter a number."]}),
])
def test_list_filters_are_validated_and_unknown_ones_ignored(emulator, query, errors):
    refused = call(emulator, "GET", f"/orders/?{query}")
    assert (refused.status_code, refused.json()) == (400, errors)
    assert call(emulator, "GET", "/orders/?bogus=1&status=").json()["results"] == []


# --- validation ------------------------------------------------------------------------------
@pytest.mark.parametrize("overrides,errors", [
    ({"lines": None}, {"lines": ["This field may not be null."]}),
    ({"lines": [{"product_id": 1, "price": "1.00"}, {"product_id": 2, "quantity": 0, "price": "1.00"}]},
     {"lines": [{"quantity": ["This field is required."]},
                {"quantity": ["Ensure this value is greater than or equal to 1."]}]}),
    ({"lines": [{"product_id": 1, "quantity": 1, "price": "1.00"}, {"product_id": 2, "quantity": "two",
                                                                    "price": "1.00"}]},
     {"lines": [{}, {"quantity": ["A valid integer is required."]}]}),
    ({"user": {"email": "ada@example.com", "phone_number": "0151 1234"}},
     {"user": {"phone_number": ["Enter a valid phone number."]}}),
    ({"payment_details": {"payment_return_url": "not a url"}},
     {"payment_details": {"payment_return_url": ["Enter a valid URL."]}}),
    ({"payment_details": {}}, {"payment_details": {"payment_return_url": ["This field is required for klarna."]}}),
    ({"payment_method": "card_token"}, {"payment_method": ["The emulator supports only klarna."]}),
    ({"payment_method": "bitcoin"}, {"payment_method": ['"bitcoin" is not a valid choice.']}),
    ({"lines": [{"product_id": 1, "quantity": 1}]},
     {"lines": [{"price": ["This field is required: the emulator has no catalog to price the product."]}]}),
    ({"lines": [{"product_id": 1, "quantity": 1, "price": "0.00"}]},
     {"lines": [{"price": ["Ensure this value is greater than 0."]}]}),
    ({"currency": "EURO"}, {"currency": ["Ensure this field has no more than 3 characters."]}),
])
def test_create_order_validation_errors(emulator, overrides, errors):
    response = call(emulator, "POST", "/orders/", order_body(**overrides))
    assert response.status_code == 400
    assert response.json() == errors


def test_missing_lines_and_bad_bodies(emulator):
    body = order_body()
    del body["lines"]
    assert call(emulator, "POST", "/orders/", body).json() == {"lines": ["This field is required."]}
    broken = call(emulator, "POST", "/orders/", "{not json")
    assert broken.status_code == 400 and broken.json()["detail"].startswith("JSON parse error - ")
    assert call(emulator, "POST", "/orders/", [1]).json() == {
        "non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}
    form = call(emulator, "POST", "/orders/", "payment_method=klarna",
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 400 and form.json()["lines"] == ["This field is required."]


# --- control API -------------------------------------------------------------------------------
def test_control_api_config_and_request_log(emulator):
    with pytest.raises(RuntimeError, match="Unknown config key"):
        emulator.control("PATCH", "/_emulator/config", {"next": {"nope": 1}})
    with pytest.raises(RuntimeError, match="must be one of"):
        emulator.control("PATCH", "/_emulator/config", {"next": {"klarna_payment_status": "pending"}})
    assert emulator.control("GET", "/_emulator/config")["next"]["rate_limit"] is False  # from env at start-up
    call(emulator, "POST", "/orders/", order_body())
    [logged] = emulator.control("GET", "/_emulator/requests?provider=next")["requests"]
    assert logged["method"] == "POST" and logged["path"] == f"{ADMIN}/orders/" and logged["status"] == 201
    assert "authorization" not in logged["headers"] and json.loads(logged["body"])["currency"] == "EUR"


def test_runs_without_the_spec_using_hand_written_rules(tmp_path):
    with EmulatorProcess().start(env={"EMULATOR_SPEC_DIR": str(tmp_path), "EMULATOR_RATE_LIMIT": "0",
                                      "EMULATOR_REQUEST_LOG_FILE": ""}) as bare:
        assert bare.control("GET", "/_emulator/health")["specs"]["next"] is False
        bad = call(bare, "POST", "/orders/", order_body(lines=[{"product_id": 1, "quantity": 0, "price": "1"}]))
        assert bad.json() == {"lines": [{"quantity": ["Ensure this value is greater than or equal to 1."]}]}
        assert call(bare, "GET", "/orders/", version="2099-01-01").status_code == 400
        order = place_order(bare)
        assert order["total_incl_tax"] == "49.93"
        assert "spec" in bare.output() and "not found" in bare.output()
