"""MultiSafepay emulator contract: ship (capture), cancel, extend, refund and expiry, faults in MSP's
envelope, and the shop's own client and cart builder against it (typed errors from real answers)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from payments.exceptions import ProviderAuthError, ProviderRequestError, ProviderUnavailable
from payments.providers.multisafepay.cart import build_cart, refund_items, rule_amount
from payments.providers.multisafepay.client import MultiSafepayClient, is_declined
from payments.providers.types import CheckoutLine
from tests.integration.emulator_multisafepay.helpers import (
    API_KEY,
    BASE,
    ITEMS,
    call,
    complete,
    create,
    error,
    get_order,
    order_body,
)

SHIP = {"status": "shipped", "carrier": "PostNL", "tracktrace_code": "3SMSP0123456789", "ship_date": "2026-12-01"}


def paid(emulator, receiver=None, **overrides) -> str:
    order_id = create(emulator, receiver, **overrides)["order_id"]
    assert complete(emulator, order_id)["status"] == "completed"
    return order_id


def refund_body(quantities: dict) -> dict:
    return {"checkout_data": {"items": refund_items(ITEMS, quantities)}}


def test_ship_captures_and_notifies_once(emulator, receiver):
    order_id = paid(emulator, receiver)
    assert call(emulator, "PATCH", f"/orders/{order_id}", SHIP).json() == {"success": True, "data": {}}
    order = get_order(emulator, order_id)
    assert (order["status"], order["financial_status"]) == ("shipped", "uncleared")
    assert call(emulator, "PATCH", f"/orders/{order_id}", SHIP).json()["success"] is True  # a retry is harmless
    assert receiver.statuses() == ["completed", "shipped"]
    listed = emulator.control("GET", "/_emulator/multisafepay/orders")["orders"][0]
    assert listed["shipping"]["tracktrace_code"] == "3SMSP0123456789"
    emulator.control("POST", f"/_emulator/multisafepay/orders/{order_id}/status", {"financial_status": "completed",
                                                                                 "status": "shipped"})
    assert get_order(emulator, order_id)["financial_status"] == "completed"  # collected


def test_ship_and_cancel_refusals(emulator):
    create(emulator)
    assert error(call(emulator, "PATCH", "/orders/SO-1001-1", SHIP)) == \
        (400, 1000, "Order cannot be shipped in status initialized")
    assert error(call(emulator, "PATCH", "/orders/SO-1001-1", {"status": "paid"}))[:2] == (400, 1000)
    assert error(call(emulator, "PATCH", "/orders/SO-1001-1", {"carrier": "x"}))[:2] == (400, 1000)
    order_id = paid(emulator, order_id="SO-2")
    call(emulator, "PATCH", f"/orders/{order_id}", SHIP)
    assert error(call(emulator, "PATCH", f"/orders/{order_id}", {"status": "cancelled"})) == \
        (400, 1000, "Order cannot be cancelled in status shipped")


def test_cancel_before_payment_and_after_authorisation(emulator, receiver):
    create(emulator, receiver)
    assert call(emulator, "PATCH", "/orders/SO-1001-1", {"status": "cancelled"}).ok
    assert get_order(emulator, "SO-1001-1")["status"] == "cancelled"
    order_id = paid(emulator, receiver, order_id="SO-2")
    assert call(emulator, "PATCH", f"/orders/{order_id}", {"status": "cancelled"}).ok
    assert call(emulator, "PATCH", f"/orders/{order_id}", {"status": "cancelled"}).ok  # already void: no-op
    order = get_order(emulator, order_id)
    assert (order["status"], order["financial_status"]) == ("void", "void")
    assert receiver.statuses() == ["cancelled", "completed", "void"]


def test_partial_then_full_refund_from_cart_lines(emulator, receiver):
    order_id = paid(emulator, receiver)
    assert error(call(emulator, "POST", f"/orders/{order_id}/refunds", refund_body({"MUG": 1})))[:2] == (400, 1034)
    call(emulator, "PATCH", f"/orders/{order_id}", SHIP)
    first = call(emulator, "POST", f"/orders/{order_id}/refunds", refund_body({"MUG": 1})).json()
    assert first["success"] is True and set(first["data"]) == {"transaction_id", "refund_id"}
    order = get_order(emulator, order_id)
    assert (order["status"], order["amount_refunded"]) == ("partial_refunded", 1850)
    assert order["related_transactions"][0]["type"] == "refund" and order["related_transactions"][0]["amount"] == 1850
    # The identical refund within 5 minutes is refused; after that, the rest (mug + shipping) is allowed.
    assert error(call(emulator, "POST", f"/orders/{order_id}/refunds", refund_body({"MUG": 1})))[1] == 1034
    assert error(call(emulator, "POST", f"/orders/{order_id}/refunds",
                      refund_body({"MUG": 2, "msp-shipping": 1})))[2].startswith("Cannot refund: the amount exceeds")
    emulator.advance_clock(seconds=301)
    assert call(emulator, "POST", f"/orders/{order_id}/refunds", refund_body({"MUG": 1, "msp-shipping": 1})).ok
    order = get_order(emulator, order_id)
    assert (order["status"], order["amount_refunded"]) == ("refunded", 4195)
    assert receiver.statuses() == ["completed", "shipped", "partial_refunded", "refunded"]


@pytest.mark.parametrize("body", [
    {"currency": "EUR", "amount": 100},  # Klarna refunds need the cart
    {"checkout_data": {"items": ITEMS}},  # no refund line
    {"checkout_data": {"items": ITEMS[:1] + refund_items(ITEMS, {"MUG": 1})[2:]}},  # originals changed
    {"checkout_data": {"items": ITEMS + [{**ITEMS[0], "merchant_item_id": "OTHER", "unit_price": -1}]}},
])
def test_malformed_refunds_are_refused(emulator, body):
    order_id = paid(emulator)
    call(emulator, "PATCH", f"/orders/{order_id}", SHIP)
    assert error(call(emulator, "POST", f"/orders/{order_id}/refunds", body))[:2] == (400, 1000)


def test_unpaid_orders_expire_after_a_day_and_unshipped_ones_after_28(emulator, receiver):
    create(emulator, receiver)
    paid(emulator, receiver, order_id="SO-2")
    assert emulator.advance_clock(days=1, seconds=1)["multisafepay_expiry"] == \
        [{"order_id": "SO-1001-1", "status": "expired"}]
    assert call(emulator, "PATCH", "/orders/SO-2", {"extend_expiration": True, "reason": "Late stock"}).ok
    assert emulator.advance_clock(days=28)["multisafepay_expiry"] == []  # extended by six weeks
    assert emulator.advance_clock(days=42)["multisafepay_expiry"] == [{"order_id": "SO-2", "status": "expired"}]
    assert receiver.statuses() == ["completed", "expired", "expired"]


def test_faults_answer_in_multisafepays_envelope(emulator):
    emulator.control("POST", "/_emulator/faults", {"path": f"{BASE}/orders", "method": "POST", "status": 503})
    assert error(call(emulator, "POST", "/orders", order_body())) == (503, 9999, "Unknown error")
    assert create(emulator)["order_id"] == "SO-1001-1"  # one use only


def _client(emulator, key=API_KEY) -> MultiSafepayClient:
    return MultiSafepayClient(base_url=f"{emulator.url}{BASE}/", api_key=key, connect_timeout=2, read_timeout=5,
                              max_retries=1, max_backoff=0, sleep=lambda seconds: None)


def test_the_shops_client_and_cart_through_a_whole_klarna_order(emulator, receiver):
    lines = [CheckoutLine("MUG", "Mug", 2, 1850, 3700, 642, 2100), CheckoutLine("BEANS", "Beans", 3, 1299, 3500, 289, 900)]
    cart = build_cart(lines, shipping_fee=495, shipping_vat_rate_bp=2100)
    client = _client(emulator)
    body = order_body(receiver, amount=cart.amount, shopping_cart=cart.shopping_cart,
                      checkout_options=cart.checkout_options)
    assert client.create_order(body)["payment_url"].startswith(emulator.url)
    complete(emulator, "SO-1001-1")
    assert client.get_order("SO-1001-1")["status"] == "completed"
    client.ship_order("SO-1001-1", carrier="PostNL", tracktrace_code="3S1")
    refund = refund_items(cart.shopping_cart["items"], {"BEANS": 1})
    client.refund_order("SO-1001-1", {"checkout_data": {"items": refund}})
    rates = {t["name"]: Decimal(str(t["rules"][0]["rate"])) for t in cart.tax_tables["alternate"]}
    predicted = cart.amount - rule_amount(refund, rates)
    assert client.get_order("SO-1001-1")["amount_refunded"] == predicted == 1166  # not 35.00 / 3 rounded
    with pytest.raises(ProviderRequestError) as raised:
        client.cancel_order("SO-1001-1")
    assert raised.value.code == "1000"


def test_the_shops_client_gets_typed_errors_from_real_answers(emulator):
    client = _client(emulator)
    with pytest.raises(ProviderRequestError) as raised:
        client.create_order(order_body(amount=4194))
    assert raised.value.code == "1027" and not is_declined(raised.value)
    with pytest.raises(ProviderAuthError) as raised:
        _client(emulator, key="wrong").get_order("SO-1")
    assert raised.value.code == "1032" and raised.value.http_status == 401
    client.create_order(order_body())
    with pytest.raises(ProviderRequestError, match="Invalid transaction ID"):
        client.create_order(order_body())  # the same order_id twice never makes two orders
    emulator.control("POST", "/_emulator/faults", {"path": f"{BASE}/orders/SO-1001-1", "status": 502, "times": 2})
    with pytest.raises(ProviderUnavailable):
        client.get_order("SO-1001-1")  # retried once, then given up


def test_a_refund_line_with_negative_quantity_is_the_other_documented_reading(emulator):
    order_id = paid(emulator)
    call(emulator, "PATCH", f"/orders/{order_id}", SHIP)
    body = {"checkout_data": {"items": ITEMS + [{**ITEMS[1], "quantity": -1}]}}
    assert call(emulator, "POST", f"/orders/{order_id}/refunds", body).ok
    assert get_order(emulator, order_id)["amount_refunded"] == 495
