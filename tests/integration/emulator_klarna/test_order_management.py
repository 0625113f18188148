"""Klarna emulator contract: Order Management (captures, refunds, cancel, release, extend, authorization
updates for upsells) and the authorization lifetime on the emulator clock."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from tests.integration.emulator_klarna.helpers import LINE, call, error, om_order, place_order

OM = "/ordermanagement/v1/orders"


def om(emulator, method, order_id, suffix="", body=None, key=None):
    headers = {"Klarna-Idempotency-Key": key} if key else None
    return call(emulator, method, f"{OM}/{order_id}{suffix}", body, headers=headers)


def when(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def test_read_an_order(emulator):
    order_id = place_order(emulator, merchant_reference1="A-1")["order_id"]
    order = om_order(emulator, order_id)
    assert order["status"] == "AUTHORIZED" and order["fraud_status"] == "ACCEPTED"
    assert (order["order_amount"], order["original_order_amount"], order["captured_amount"],
            order["refunded_amount"], order["remaining_authorized_amount"]) == (9500, 9500, 0, 0, 9500)
    assert order["order_lines"][0]["reference"] == "TOTE-1" and order["merchant_reference1"] == "A-1"
    assert timedelta(days=27, hours=23) < when(order["expires_at"]) - when(order["created_at"]) <= timedelta(days=28)
    assert order["captures"] == [] and order["refunds"] == [] and len(order["klarna_reference"]) == 7
    assert error(om(emulator, "GET", uuid.uuid4()))[:2] == (404, "NO_SUCH_ORDER")


def test_partial_then_full_capture_with_tracking(emulator):
    order_id = place_order(emulator)["order_id"]
    shipping = [{"shipping_company": "PostNord", "tracking_number": "PN123", "shipping_method": "Home"}]
    first = om(emulator, "POST", order_id, "/captures", {"captured_amount": 4000, "shipping_info": shipping})
    assert first.status_code == 201 and first.content == b""
    capture_id = first.headers["Capture-Id"]
    assert first.headers["Location"].endswith(f"{OM}/{order_id}/captures/{capture_id}")
    read = om(emulator, "GET", order_id, f"/captures/{capture_id}").json()
    assert read["captured_amount"] == 4000 and read["shipping_info"] == shipping
    order = om_order(emulator, order_id)
    assert (order["status"], order["captured_amount"], order["remaining_authorized_amount"]) == \
        ("PART_CAPTURED", 4000, 5500)
    assert om(emulator, "POST", order_id, "/captures", {"captured_amount": 5500}).status_code == 201
    order = om_order(emulator, order_id)
    assert (order["status"], order["remaining_authorized_amount"], len(order["captures"])) == ("CAPTURED", 0, 2)
    assert error(om(emulator, "GET", order_id, f"/captures/{uuid.uuid4()}"))[:2] == (404, "NO_SUCH_CAPTURE")


def test_over_capture_is_refused(emulator):
    order_id = place_order(emulator)["order_id"]
    assert error(om(emulator, "POST", order_id, "/captures", {"captured_amount": 9501}))[:2] == \
        (403, "CAPTURE_NOT_ALLOWED")
    assert om_order(emulator, order_id)["captured_amount"] == 0


def test_capture_is_idempotent_under_its_key(emulator):
    order_id = place_order(emulator)["order_id"]
    first = om(emulator, "POST", order_id, "/captures", {"captured_amount": 9500}, key="cap-1")
    again = om(emulator, "POST", order_id, "/captures", {"captured_amount": 9500}, key="cap-1")
    assert first.status_code == again.status_code == 201
    assert first.headers["Capture-Id"] == again.headers["Capture-Id"]
    assert len(om_order(emulator, order_id)["captures"]) == 1


def test_refunds_up_to_what_was_captured(emulator):
    order_id = place_order(emulator)["order_id"]
    assert error(om(emulator, "POST", order_id, "/refunds", {"refunded_amount": 100}))[:2] == \
        (403, "REFUND_NOT_ALLOWED")  # nothing captured yet
    om(emulator, "POST", order_id, "/captures", {"captured_amount": 6000})
    refund = om(emulator, "POST", order_id, "/refunds", {"refunded_amount": 2500, "description": "Returned"})
    assert refund.status_code == 201 and refund.headers["Location"].endswith(f"/refunds/{refund.headers['Refund-Id']}")
    assert om(emulator, "GET", order_id, f"/refunds/{refund.headers['Refund-Id']}").json()["refunded_amount"] == 2500
    assert error(om(emulator, "POST", order_id, "/refunds", {"refunded_amount": 3501}))[:2] == \
        (403, "REFUND_NOT_ALLOWED")  # 6000 captured - 2500 refunded
    assert om(emulator, "POST", order_id, "/refunds", {"refunded_amount": 3500}).status_code == 201
    order = om_order(emulator, order_id)
    assert order["refunded_amount"] == 6000 and order["captures"][0]["refunded_amount"] == 6000
    assert error(om(emulator, "GET", order_id, f"/refunds/{uuid.uuid4()}"))[:2] == (404, "NOT_FOUND")


def test_cancel_only_before_any_capture(emulator):
    order_id = place_order(emulator)["order_id"]
    cancelled = om(emulator, "POST", order_id, "/cancel")
    assert cancelled.status_code == 204
    order = om_order(emulator, order_id)
    assert (order["status"], order["remaining_authorized_amount"]) == ("CANCELLED", 0)
    refused = om(emulator, "POST", order_id, "/captures", {"captured_amount": 1})
    assert error(refused)[:2] == (403, "CAPTURE_NOT_ALLOWED")
    captured = place_order(emulator)["order_id"]
    om(emulator, "POST", captured, "/captures", {"captured_amount": 100})
    assert error(om(emulator, "POST", captured, "/cancel"))[:2] == (403, "CANCEL_NOT_ALLOWED")


def test_release_remaining_authorization_after_a_partial_capture(emulator):
    order_id = place_order(emulator)["order_id"]
    assert error(om(emulator, "POST", order_id, "/release-remaining-authorization"))[:2] == (403, "NOT_ALLOWED")
    om(emulator, "POST", order_id, "/captures", {"captured_amount": 3000})
    assert om(emulator, "POST", order_id, "/release-remaining-authorization").status_code == 204
    order = om_order(emulator, order_id)
    assert (order["status"], order["remaining_authorized_amount"]) == ("CAPTURED", 0)


def test_extend_authorization_time_and_expiry(emulator):
    order_id = place_order(emulator)["order_id"]
    before = when(om_order(emulator, order_id)["expires_at"])
    emulator.advance_clock(days=10)
    assert om(emulator, "POST", order_id, "/extend-authorization-time").status_code == 204
    extended = when(om_order(emulator, order_id)["expires_at"])
    assert timedelta(days=9) < extended - before <= timedelta(days=10, seconds=1)
    assert om(emulator, "POST", order_id, "/extend-authorization-time").status_code == 204
    assert when(om_order(emulator, order_id)["expires_at"]) == extended  # same day, same date
    emulator.advance_clock(days=29)
    order = om_order(emulator, order_id)
    assert (order["status"], order["remaining_authorized_amount"]) == ("EXPIRED", 0)
    assert error(om(emulator, "POST", order_id, "/extend-authorization-time"))[:2] == (403, "NOT_ALLOWED")
    refused = om(emulator, "POST", order_id, "/captures", {"captured_amount": 1})
    assert error(refused)[:2] == (403, "CAPTURE_NOT_ALLOWED")


def upsell_body(extra: int = 2000) -> dict:
    tax = extra - extra * 10000 // 12500
    added = {**LINE, "reference": "MUG-1", "name": "Mug", "unit_price": extra, "total_discount_amount": 0,
             "total_amount": extra, "total_tax_amount": tax}
    return {"order_amount": 9500 + extra, "order_lines": [LINE, added], "description": "Added a mug"}


def test_authorization_update_raises_the_amount(emulator):
    order_id = place_order(emulator)["order_id"]
    updated = om(emulator, "PATCH", order_id, "/authorization", upsell_body(), key="upsell-1")
    assert updated.status_code == 204
    order = om_order(emulator, order_id)
    assert (order["order_amount"], order["original_order_amount"], order["remaining_authorized_amount"]) == \
        (11500, 9500, 11500)
    assert [line["reference"] for line in order["order_lines"]] == ["TOTE-1", "MUG-1"]
    assert om(emulator, "POST", order_id, "/captures", {"captured_amount": 11500}).status_code == 201


def test_authorization_update_rejected_by_scenario_and_bad_lines(emulator):
    order_id = place_order(emulator)["order_id"]
    emulator.script_klarna_authorization_update(order_id, "reject")
    assert error(om(emulator, "PATCH", order_id, "/authorization", upsell_body()))[:2] == (403, "NOT_ALLOWED")
    assert om_order(emulator, order_id)["order_amount"] == 9500
    assert error(om(emulator, "PATCH", order_id, "/authorization", {**upsell_body(), "order_amount": 1}))[2] == \
        ["Bad value: order_amount"]
    assert om(emulator, "PATCH", order_id, "/authorization", upsell_body()).status_code == 204  # once only


@pytest.mark.parametrize("suffix,body,field,expected", [
    ("/merchant-references", {"merchant_reference2": "R2"}, "merchant_reference2", "R2"),
    ("/customer-details", {"shipping_address": {"city": "Malmö"}}, "shipping_address", {"city": "Malmö"}),
])
def test_reference_and_customer_updates(emulator, suffix, body, field, expected):
    order_id = place_order(emulator)["order_id"]
    assert om(emulator, "PATCH", order_id, suffix, body).status_code == 204
    assert om_order(emulator, order_id)[field] == expected
