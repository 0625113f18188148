"""The emulator's answers checked against MultiSafepay's official response schemas (rule 10), in every
state an order passes through, so the shop's adapter is written against the documented shape."""
from __future__ import annotations

import pytest

from emulator.multisafepay.schemas import load_component
from emulator.schema import Validator
from tests.integration.emulator_multisafepay.helpers import (
    SPEC_DIR,
    call,
    complete,
    create,
    get_order,
    order_body,
)
from tests.integration.emulator_multisafepay.test_lifecycle import SHIP, refund_body

RESPONSE = Validator({}, direction="response")
# Documented deviation: the notes (§7) and both SDKs report `partial_refunded`; the spec's Status enum lacks it.
SPEC_STATUS_GAPS = {"partial_refunded"}


# Where the spec's schemas contradict MultiSafepay's own response examples (seeds/003, the docs' fixtures),
# the emulator follows the examples: nulls for empty fields, `costs` a list, `checkout_options` flattened
# (no `tax_tables`), external transaction ids strings (a UUID for Klarna), cart unit prices strings.
EXAMPLE_SHAPES = {("costs",), ("checkout_options",), ("payment_details", "external_transaction_id"),
                  ("payment_methods", "external_transaction_id"), ("related_transactions", "costs"),
                  ("shopping_cart", "items", "unit_price")}


def _as_spec_sees_it(value, path=()):
    if isinstance(value, dict):
        return {k: _as_spec_sees_it(v, path + (k,)) for k, v in value.items()
                if v is not None and path + (k,) not in EXAMPLE_SHAPES}
    if isinstance(value, list):
        return [_as_spec_sees_it(v, path) for v in value]
    return value


def check(relative: str, body: dict) -> None:
    data_level = "data" in body and relative.startswith("responseBody/")
    cleaned = {**body, "data": _as_spec_sees_it(body["data"])} if data_level else _as_spec_sees_it(body)
    _, errors = RESPONSE.validate(load_component(relative, SPEC_DIR), cleaned)
    assert errors is None, errors


def check_order(order: dict) -> None:
    if order["status"] in SPEC_STATUS_GAPS:
        order = {**order, "status": "refunded"}
    check("schemas/OrderDetails.yaml", order)


def test_create_answers_match_the_spec(emulator):
    redirect = call(emulator, "POST", "/orders", {**order_body(), "order_id": "R-1"}).json()
    check("responseBody/postOrdersRedirect.yaml", redirect)
    direct = call(emulator, "POST", "/orders", {**order_body(), "order_id": "D-1", "type": "direct"}).json()
    check("responseBody/postOrdersDirect.yaml", direct)
    check_order({k: v for k, v in direct["data"].items() if k != "payment_url"})


@pytest.mark.parametrize("action", ["approve", "decline", "cancel", "pending"])
def test_every_shopper_outcome_reads_back_in_the_spec_shape(emulator, action):
    create(emulator)
    complete(emulator, "SO-1001-1", action)
    check_order(get_order(emulator, "SO-1001-1"))


def test_ship_and_refund_answers_match_the_spec(emulator):
    create(emulator)
    complete(emulator, "SO-1001-1")
    shipped = call(emulator, "PATCH", "/orders/SO-1001-1", SHIP).json()
    check("responseBody/patchOrdersShip.yaml", shipped)
    refunded = call(emulator, "POST", "/orders/SO-1001-1/refunds", refund_body({"MUG": 1})).json()
    check("responseBody/refundOrder.yaml", refunded)
    check_order(get_order(emulator, "SO-1001-1"))
    error = call(emulator, "GET", "/orders/none").json()
    check("errors/Error1006.yaml", error)
