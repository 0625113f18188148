"""MultiSafepay emulator contract: creating Klarna orders (redirect, direct), reading them, the API key,
and every validation rule with MultiSafepay's error envelope and code."""
from __future__ import annotations

import json

import pytest

from tests.integration.emulator_multisafepay.helpers import (
    BASE,
    ITEMS,
    SESSION,
    SPEC_DIR,
    call,
    create,
    error,
    get_order,
    order_body,
)


def test_redirect_order_answers_the_payment_page_and_reads_back_initialized(emulator):
    data = create(emulator)
    assert set(data) == {"order_id", "payment_url", "session_id"} and data["order_id"] == "SO-1001-1"
    assert data["payment_url"] == f"{emulator.url}/multisafepay/connect/{data['session_id']}/?lang=nl_NL"
    order = get_order(emulator, "SO-1001-1")
    assert (order["status"], order["financial_status"]) == ("initialized", "initialized")
    assert order["amount"] == 4195 and order["amount_refunded"] == 0 and order["currency"] == "EUR"
    assert order["transaction_id"] > 2 ** 53  # 17-digit PSP ids: clients must not go through floats
    assert order["payment_details"]["type"] == "KLARNA" and order["order_total"] == "41.95"
    assert order["shopping_cart"]["items"][0]["unit_price"] == "15.2892561983"  # a string, as MSP answers
    assert order["checkout_options"]["alternate"][0]["name"] == "0.21"  # flattened, no tax_tables wrapper
    assert order["related_transactions"] is None and order["customer"]["phone1"] == "0612345678"
    # The spec's path parameter is the PSP id; SDKs use our order_id: both read the same order.
    assert get_order(emulator, str(order["transaction_id"]))["order_id"] == "SO-1001-1"


def test_direct_order_answers_the_whole_order_and_klarnas_page(emulator):
    data = create(emulator, type="direct")
    assert data["status"] == "initialized" and data["order_id"] == "SO-1001-1"
    assert "/multisafepay/klarna/" in data["payment_url"]


@pytest.mark.parametrize("name", ["klarna-redirect.json", "klarna-direct.json"])
def test_the_official_klarna_examples_are_accepted(emulator, name):
    example = json.loads((SPEC_DIR / "multisafepay/openapi/components/examples/requests/post-orders" / name).read_text())
    response = call(emulator, "POST", "/orders", example)
    assert response.status_code == 200 and response.json()["success"] is True, response.text


def test_the_key_may_come_as_header_query_or_bearer_and_a_bad_one_is_1032(emulator):
    assert error(call(emulator, "GET", "/orders/none", key=None)) == (401, 1032, "Invalid API key")
    assert error(call(emulator, "GET", "/orders/none", key="wrong"))[1] == 1032
    create(emulator)
    assert call(emulator, "GET", "/orders/SO-1001-1", key=None, params={"api_key": "msp-emulator-api-key"}).ok
    assert call(emulator, "GET", "/orders/SO-1001-1", key=None,
                headers={"Authorization": "Bearer msp-emulator-api-key"}).ok


def test_order_ids_are_unique_and_unknown_ones_are_1006(emulator):
    create(emulator)
    assert error(call(emulator, "POST", "/orders", order_body())) == (400, 1006, "Invalid transaction ID")
    assert error(call(emulator, "GET", "/orders/nope")) == (404, 1006, "Invalid transaction ID")
    assert error(call(emulator, "PATCH", "/orders/nope", {"status": "shipped"})) == (410, 1000, "Not found")
    assert error(call(emulator, "POST", "/orders/nope/refunds", {"checkout_data": {"items": []}}))[1] == 1006


def _without(path: str) -> dict:
    body = order_body()
    *parents, last = path.split(".")
    target = body
    for key in parents:
        target = target[key]
    del target[last]
    return body


@pytest.mark.parametrize("body,code", [
    (order_body(amount=4194), 1027),  # cart total 41.95 under the rounding rule
    (order_body(amount=0), 1001),
    (order_body(amount="forty"), 1001),
    (order_body(currency="USD"), 1023),  # Klarna through MSP: EUR, GBP, DKK, NOK, SEK
    (order_body(currency="EURO"), 1002),
    (order_body(gateway="IDEAL"), 1023),
    (order_body(gateway="AFTERPAY"), 1023),
    (order_body(type="qr"), 1000),
    (order_body(order_id="x" * 51), 1006),
    (order_body(description="d" * 201), 1008),
    (_without("description"), 1008),
    (_without("customer"), 1000),
    (_without("customer.ip_address"), 1007),
    (_without("delivery.email"), 1000),
    (_without("delivery.house_number"), 1000),
    (_without("shopping_cart"), 5001),
    (order_body(shopping_cart={"items": []}), 5001),
    (order_body(shopping_cart={"items": [{**ITEMS[0], "tax_table_selector": "BTW21"}, ITEMS[1]]}), 1029),
    (order_body(shopping_cart={"items": [{**ITEMS[0], "unit_price": "abc"}, ITEMS[1]]}), 1031),
    # a total beyond Decimal's precision cannot be rounded to cents: refused, not a crash
    (order_body(shopping_cart={"items": [{**ITEMS[0], "unit_price": 1e308}, ITEMS[1]]}), 1027),
    (order_body(shopping_cart={"items": [{**ITEMS[0], "quantity": 10 ** 30}, ITEMS[1]]}), 1027),
    (order_body(checkout_options={"tax_tables": {"alternate": [{"name": "0.21", "rules": [{"rate": 21}]}]}}), 1028),
    (order_body(gateway_info={"birthday": "10-07-1970"}), 1000),
    (order_body(type="direct", gateway_info={"email": "a@b.nl"}), 1000),  # direct: no page to ask on
    (order_body(customer={**order_body()["customer"], "locale": "en_GB"}), 1000),  # the spec's locale enum
])
def test_invalid_orders_are_refused_with_multisafepays_code(emulator, body, code):
    status, got, info = error(call(emulator, "POST", "/orders", body))
    assert (status, got) == (400, code), info
    assert emulator.control("GET", "/_emulator/multisafepay/orders")["orders"] == []


def _with(part: str, **fields) -> dict:
    body = order_body()
    return order_body(**{part: {**body[part], **fields}})


# The spec's address limits (FirstName.yaml, LastName.yaml 2-25; Address1/Address2.yaml 64; City.yaml 50;
# HouseNumber.yaml 10 for the customer, Apartment.yaml 9 for the delivery): probe G F7.
@pytest.mark.parametrize("body, field", [
    (_with("customer", first_name="M" * 26), "customer.first_name"),
    (_with("customer", first_name="J"), "customer.first_name"),
    (_with("delivery", last_name="J"), "delivery.last_name"),
    (_with("delivery", last_name="L" * 26), "delivery.last_name"),
    (_with("customer", address1="a" * 65), "customer.address1"),
    (_with("customer", address2="a" * 65), "customer.address2"),
    (_with("customer", city="c" * 51), "customer.city"),
    (_with("delivery", city="c" * 51), "delivery.city"),
    (_with("customer", house_number="1" * 11), "customer.house_number"),
    (_with("delivery", house_number="1" * 10), "delivery.house_number"),
])
def test_address_fields_outside_the_specs_limits_are_refused(emulator, body, field):
    assert error(call(emulator, "POST", "/orders", body)) == (400, 1000, f"Invalid {field}")


def test_address_fields_at_the_specs_limits_are_taken(emulator):
    body = _with("customer", first_name="M" * 25, last_name="Li", address2="a" * 64, city="c" * 50,
                 house_number="1" * 10)
    body["delivery"].update(first_name="Al", last_name="L" * 25, city="c" * 50, house_number="1" * 9)
    assert create(emulator, customer=body["customer"], delivery=body["delivery"])["order_id"] == "SO-1001-1"


def test_strings_for_numbers_are_accepted_as_in_msps_own_examples(emulator):
    body = order_body(amount="4195")
    body["checkout_options"]["tax_tables"]["default"]["shipping_taxed"] = "false"
    assert create(emulator, **{k: body[k] for k in ("amount", "checkout_options")})["order_id"] == "SO-1001-1"


def test_malformed_json_and_unknown_paths(emulator):
    assert error(call(emulator, "POST", "/orders", "{not json"))[:2] == (400, 1000)
    response = SESSION.get(f"{emulator.url}{BASE}/nothing-here", timeout=5)
    assert response.status_code == 404
