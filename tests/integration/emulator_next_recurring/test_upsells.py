"""29 Next emulator, upsell side: `add-line-items` charges, declines, faults and validation."""
from __future__ import annotations

import pytest
import requests

from tests.integration.emulator_next_recurring.helpers import ADMIN, MONTHLY, call, ok, place_order

# --- upsells -------------------------------------------------------------------------------
UPSELL = {"lines": [{"product_id": 77, "quantity": 2, "price": "6.50", "is_upsell": True,
                     "metadata": {"title": "Travel mug", "offer": "post-purchase"}}],
          "payment_details": {"statement_descriptor": "SHOP UPSELL"}}


def test_add_line_items_charges_and_updates_the_order(emulator, receiver, spec):
    order = place_order(emulator, lines=[{"product_id": 1, "quantity": 1, "price": "20.00"}])
    updated = ok(call(emulator, "POST", f"/orders/{order['number']}/add-line-items/", UPSELL))
    assert ok(call(emulator, "GET", f"/orders/{order['number']}/")) == updated
    added = updated["lines"][-1]
    assert (added["product_id"], added["quantity"], added["price_incl_tax"], added["is_upsell"]) == \
        (77, 2, "13.00", True)
    assert (added["product_title"], added["metadata"]) == ("Travel mug", {"title": "Travel mug",
                                                                          "offer": "post-purchase"})
    assert updated["lines"][:-1] == order["lines"]
    assert (updated["total_incl_tax"], updated["total_excl_tax"], updated["report_values"]["total_incl_tax"]) == \
        ("37.95", "37.95", "37.95")
    assert updated["payment_status"] == "paid" and updated["total_outstanding"] == "0.00"
    first, charge = updated["transactions"]
    assert first == order["transactions"][0]
    assert (charge["type"], charge["status"], charge["amount"], charge["statement_descriptor"]) == \
        ("debit", "succeeded", "13.00", "SHOP UPSELL")
    events = receiver.events()[2:]
    assert [e["event_type"] for e in events] == ["order.updated", "transaction.created"]
    assert events[0]["data"] == updated and events[1]["data"]["id"] == charge["id"]
    assert events[1]["data"]["order"] == order["number"] and events[1]["data"]["amount"] == "13.00"
    _, errors = spec.validator(direction="response").validate(spec.schema("Order"), updated)
    assert errors == {"attribution": {"agent": ["This field may not be null."]}}


@pytest.mark.parametrize("how", ["scenario", "config", "persona"])
def test_declined_upsell_leaves_the_order_untouched(emulator, receiver, how):
    email = "ada+upsell-declined@example.com" if how == "persona" else "ada@example.com"
    order = place_order(emulator, email=email, lines=[{"product_id": 1, "quantity": 1, "price": "20.00"}])
    if how == "scenario":
        emulator.script_upsells(order["number"], "decline")
    elif how == "config":
        emulator.control("PATCH", "/_emulator/config", {"next": {"upsell_outcome": "decline"}})
    declined = call(emulator, "POST", f"/orders/{order['number']}/add-line-items/", UPSELL)
    assert declined.status_code == 400
    assert declined.json() == {"non_field_errors": ["The payment was declined."], "code": "payment_declined"}
    assert ok(call(emulator, "GET", f"/orders/{order['number']}/")) == order
    [failed] = receiver.events()[2:]
    assert failed["event_type"] == "transaction.created"
    assert (failed["data"]["status"], failed["data"]["order"], failed["data"]["amount"]) == \
        ("failed", order["number"], "13.00")
    if how == "scenario":  # the scripted decline was used up: the next attempt goes through
        ok(call(emulator, "POST", f"/orders/{order['number']}/add-line-items/", UPSELL))


def test_add_line_items_fault_after_processing_loses_only_the_answer(emulator):
    order = place_order(emulator, lines=[{"product_id": 1, "quantity": 1, "price": "20.00"}])
    path = f"{ADMIN}/orders/{order['number']}/add-line-items/"
    emulator.control("POST", "/_emulator/faults", {"method": "POST", "path": path, "kind": "error", "status": 500,
                                                   "when": "after"})
    lost = call(emulator, "POST", f"/orders/{order['number']}/add-line-items/", UPSELL)
    assert lost.status_code == 500 and lost.json() == {"detail": "A server error occurred."}
    current = ok(call(emulator, "GET", f"/orders/{order['number']}/"))
    assert [l["product_id"] for l in current["lines"]] == [1, 77] and len(current["transactions"]) == 2
    emulator.control("POST", "/_emulator/faults", {"method": "POST", "path": path, "kind": "timeout", "seconds": 2,
                                                   "when": "after"})
    with pytest.raises(requests.Timeout):
        call(emulator, "POST", f"/orders/{order['number']}/add-line-items/", UPSELL, timeout=0.5)
    assert len(ok(call(emulator, "GET", f"/orders/{order['number']}/"))["transactions"]) == 3


@pytest.mark.parametrize("body,errors", [
    ({}, {"lines": ["This field is required."]}),
    ({"lines": []}, {"lines": ["This list may not be empty."]}),
    ({"lines": [{"product_id": 1, "quantity": 1}]},
     {"lines": [{"price": ["This field is required: the emulator has no catalog to price the product."]}]}),
    ({"lines": [{"product_id": 1, "quantity": 0, "price": "1.00"}]},
     {"lines": [{"quantity": ["Ensure this value is greater than or equal to 1."]}]}),
    ({"lines": [{"product_id": 1, "quantity": 1, "price": "1.00", "subscription": MONTHLY}]},
     {"lines": [{"subscription": ["The emulator cannot start a subscription from added line items."]}]}),
    ({"lines": [{"product_id": 1, "quantity": 1, "price": "1.00"}], "payment_details": {"payment_gateway": 5}},
     {"payment_details": {"payment_gateway": ['Invalid pk "5" - object does not exist.']}}),
])
def test_add_line_items_validation(emulator, body, errors):
    order = place_order(emulator, lines=[{"product_id": 1, "quantity": 1, "price": "20.00"}])
    response = call(emulator, "POST", f"/orders/{order['number']}/add-line-items/", body)
    assert response.status_code == 400 and response.json() == errors
    assert call(emulator, "POST", "/orders/999999/add-line-items/", UPSELL).json() == {"detail": "Not found."}
