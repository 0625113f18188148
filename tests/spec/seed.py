"""Seed the emulator with the objects the shop's operations act on: one object per operation that changes
or ends it (a cancel must not cancel what the capture test captures), each with a valid example body, so
schemathesis reaches the success answers as well as the errors.

Why through the APIs and the control API (not by poking state): the seeded objects are then exactly what
the shop would have created, and the emulator keeps its own rules for them. Path parameters are pinned per
operation (`Target.parameters`); `Target.example` becomes the request body's `example` that the examples
phase sends first.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

from tests.integration.emulator_klarna import helpers as klarna
from tests.integration.emulator_multisafepay import helpers as msp
from tests.integration.emulator_multisafepay.test_lifecycle import SHIP, refund_body
from tests.integration.emulator_next import helpers as next_api

SUBSCRIPTION_LINE = {"product_id": 11, "quantity": 1, "price": "19.99",
                     "subscription": {"interval": "month", "interval_count": 1}}


@dataclass
class Target:
    parameters: dict[str, str] = field(default_factory=dict)
    example: dict | None = None


def seed(emulator) -> dict[str, dict[str, Target]]:
    """Spec name -> operationId -> what that operation is pointed at."""
    return {"next": _next(emulator), "klarna_payments": _payments(emulator), "klarna_tokens": _tokens(emulator),
            "klarna_orders": _orders(emulator), "multisafepay": _multisafepay(emulator)}


def _next(emulator) -> dict[str, Target]:
    def subscription() -> str:
        order = next_api.place_order(emulator, lines=[SUBSCRIPTION_LINE])
        return str(next(s["id"] for s in emulator.control("GET", "/_emulator/next/subscriptions")["subscriptions"]
                        if s["orders"][0]["order_number"] == order["number"]))

    def authorized_order() -> str:
        """An order of an authorize-only store (what ordersCaptureCreate acts on); the store then pays again."""
        emulator.control("PATCH", "/_emulator/config", {"next": {"klarna_payment_status": "authorized"}})
        try:
            return next_api.place_order(emulator)["number"]
        finally:
            emulator.control("PATCH", "/_emulator/config", {"next": {"klarna_payment_status": "paid"}})

    order = next_api.place_order(emulator)["number"]
    to_capture, to_cancel = authorized_order(), authorized_order()
    to_refund = next_api.place_order(emulator)
    debit = to_refund["transactions"][0]["id"]
    active, canceled, past_due = subscription(), subscription(), subscription()
    emulator.script_renewals(int(past_due), "decline")
    next_api.call(emulator, "POST", f"/subscriptions/{past_due}/renew/")
    return {
        "ordersCreate": Target(example=next_api.order_body()),
        "ordersList": Target(),
        "ordersRetrieve": Target({"number": order}),
        "ordersAddLineItemsCreate": Target({"number": order},
                                           {"lines": [{"product_id": 21, "quantity": 1, "price": "4.50"}]}),
        "ordersCaptureCreate": Target({"number": to_capture}),
        "ordersRefundCreate": Target({"number": to_refund["number"]},
                                     {"transactions": [{"id": debit, "amount": "1.00"}], "note": "spec tier"}),
        "ordersCancelCreate": Target({"number": to_cancel}, {"cancel_reason": "spec tier", "full_refund": False,
                                                             "send_cancel_notification": False}),
        "subscriptionsList": Target(),
        "subscriptionsRetrieve": Target({"id": active}),
        "subscriptionsPartialUpdate": Target({"id": active}, {"shipping_code": "standard"}),
        "subscriptionsRenewCreate": Target({"id": active}),
        "subscriptionsRetryCreate": Target({"id": past_due}, {}),
        "subscriptionsCancelCreate": Target({"id": canceled}, {"cancel_reason": "other"}),
    }


def _payments(emulator) -> dict[str, Target]:
    def session(intent: str) -> tuple[str, str]:
        response = klarna.call(emulator, "POST", "/payments/v1/sessions", klarna.cart(intent=intent))
        assert response.status_code == 200, response.text
        session_id = response.json()["session_id"]
        return session_id, emulator.klarna_authorize(session_id, email="customer@email.se")["authorization_token"]

    open_session, _ = session("buy")
    _, for_order = session("buy")
    _, for_token = session("tokenize")
    _, to_cancel = session("buy")
    return {
        "create_credit_session": Target(example=klarna.cart()),
        "read_credit_session": Target({"session_id": open_session}),
        "update_credit_session": Target({"session_id": open_session}, klarna.cart(merchant_reference1="r-2")),
        "create_order": Target({"authorizationToken": for_order}, klarna.cart()),
        "purchase_token": Target({"authorizationToken": for_token}, klarna.token_request()),
        "cancel_authorization": Target({"authorizationToken": to_cancel}),
    }


def _tokens(emulator) -> dict[str, Target]:
    charge = klarna.subscription_cart(merchant_reference1="renewal-1")
    for key in ("purchase_country", "locale"):
        charge.pop(key)
    return {
        "readCustomerToken": Target({"customerToken": klarna.customer_token(emulator, amount=9500)}),
        "createOrder": Target({"customerToken": klarna.customer_token(emulator, amount=9500)}, charge),
        "patchCustomerToken": Target({"customerToken": klarna.customer_token(emulator, amount=9500)},
                                     {"status": "CANCELLED"}),
    }


def _orders(emulator) -> dict[str, Target]:
    def order(captured: int = 0) -> str:
        order_id = klarna.place_order(emulator)["order_id"]
        if captured:
            answer = klarna.call(emulator, "POST", f"/ordermanagement/v1/orders/{order_id}/captures",
                                 {"captured_amount": captured})
            assert answer.status_code == 201, answer.text
        return order_id

    lines = copy.deepcopy(klarna.CART["order_lines"])
    return {
        "getOrder": Target({"order_id": order()}),
        "updateAuthorization": Target({"order_id": order()}, {"order_amount": klarna.CART["order_amount"],
                                                               "order_lines": lines}),
        "captureOrder": Target({"order_id": order()}, {"captured_amount": 1000}),
        "refundOrder": Target({"order_id": order(captured=9500)}, {"refunded_amount": 500}),
        "cancelOrder": Target({"order_id": order()}),
        "releaseRemainingAuthorization": Target({"order_id": order(captured=1000)}),
        "extendAuthorizationTime": Target({"order_id": order()}),
    }


def _multisafepay(emulator) -> dict[str, Target]:
    def order(name: str, *, paid: bool = False, shipped: bool = False) -> str:
        order_id = msp.create(emulator, order_id=f"spec-{name}")["order_id"]
        if paid or shipped:
            assert msp.complete(emulator, order_id)["status"] == "completed"
        if shipped:
            answer = msp.call(emulator, "PATCH", f"/orders/{order_id}", SHIP)
            assert answer.status_code == 200, answer.text
        return order_id

    return {
        # order_id is unique per site: the examples phase creates this one, later creates of it answer 1006
        "CreateOrder": Target(example=msp.order_body(order_id="spec-create")),
        "getOrder": Target({"order_id": order("read", paid=True)}),
        "updateOrder": Target({"order_id": order("ship", paid=True)}, SHIP),
        "refundOrder": Target({"order_id": order("refund", shipped=True)}, refund_body({"MUG": 1})),
    }
