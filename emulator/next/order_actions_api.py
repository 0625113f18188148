"""29 Next order management: `ordersCaptureCreate`, `ordersRefundCreate`, `ordersCancelCreate`.

What the spec says and what the emulator adds (emulator/README.md, "Order management"):
- capture (`POST /orders/{number}/capture/`, no body) captures the whole open authorization: one `capture`
  transaction per open `authorize` transaction (parent_id = the authorization), `payment_status: paid`,
  nothing outstanding; answers the `Order`. Only an `authorized` (or `expiring`) order can be captured, which
  happens when the store authorizes only (`next.klarna_payment_status: authorized`).
- refund (`RefundOrder`) refunds the amounts named per transaction (`transactions[{id, amount}]`): a `debit`
  or `capture` of this order, at most what is left of it. Each becomes a `refund` transaction (parent_id = the
  refunded one); the `Refund` (with our `note`) is added to the order's `refunds`, `payment_status` becomes
  `partially_refunded` or `refunded`; answers the `Refund`.
- cancel (`CancelOrder`) voids every open authorization (`void` transactions), refunds what was taken when
  `full_refund` is true, and sets `status: canceled` (`payment_status: voided` when nothing was taken).
Every action sends `order.updated` and one `transaction.created` per new transaction (there is no refund
event). No idempotency key exists: each action runs under the state lock, so two concurrent calls act one
after the other, and the second meets the first's result (nothing left to capture, already canceled).
"""
from __future__ import annotations

import copy
from decimal import Decimal

from ..routes import register_routes
from ..server import HTTPError, Request, Response, json_response
from .events import queue_events
from .orders import ZERO, build_transaction, money, transaction_resource
from .provider import NextProvider
from .rules import validate_refund
from .wire import BASE, endpoint

CAPTURABLE = ("authorized", "expiring")
TAKEN = ("debit", "capture")  # transactions that took the shopper's money (refundable)


def register(provider: NextProvider) -> None:
    register_routes(provider, BASE, [
        ("POST", "/orders/<number>/capture/", orders_capture, "ordersCaptureCreate"),
        ("POST", "/orders/<number>/refund/", orders_refund, "ordersRefundCreate"),
        ("POST", "/orders/<number>/cancel/", orders_cancel, "ordersCancelCreate"),
    ], wrap=endpoint)


def orders_capture(provider: NextProvider, request: Request) -> Response:
    state = provider.state
    with state.lock:
        order = _order(provider, request)
        if order["payment_status"] not in CAPTURABLE or order["status"] == "canceled":
            raise HTTPError(400, {"detail": f"Only an authorized order can be captured; this order's payment "
                                            f"status is {order['payment_status']}."})
        added = [_child(provider, order, auth, "capture", auth["amount"]) for auth in open_authorizations(order)]
        order["payment_status"], order["total_outstanding"] = "paid", ZERO
        answer, events = _changed(provider, order, added)
    queue_events(provider, events)
    return json_response(answer)


def orders_refund(provider: NextProvider, request: Request) -> Response:
    validator = provider.validator(coerce=request.is_form)
    data, errors = validate_refund(validator, provider.schema("RefundOrder"), request.data())
    if errors:
        raise HTTPError(400, errors)
    state = provider.state
    with state.lock:
        order = _order(provider, request)
        by_id = {t["id"]: t for t in order["transactions"]}
        wanted: dict[int, Decimal] = {}
        problems = []
        for item in data["transactions"]:
            wanted[item["id"]] = wanted.get(item["id"], Decimal(0)) + Decimal(item["amount"])
            problems.append(_refund_problem(order, by_id.get(item["id"]), wanted[item["id"]]))
        if any(problems):
            raise HTTPError(400, {"transactions": problems})
        added = [_child(provider, order, by_id[item["id"]], "refund", money(item["amount"]))
                 for item in data["transactions"]]
        refund = _refund(provider, order, data, added)
        order["refunds"].append(refund)
        order["payment_status"] = "refunded" if refundable(order) == 0 else "partially_refunded"
        _, events = _changed(provider, order, added)
        answer = copy.deepcopy(refund)
    queue_events(provider, events)
    return json_response(answer)


def orders_cancel(provider: NextProvider, request: Request) -> Response:
    validator = provider.validator(coerce=request.is_form)
    schema = provider.schema("CancelOrder")
    cleaned, errors = validator.validate(schema, request.data())
    if errors:
        raise HTTPError(400, errors)
    state = provider.state
    with state.lock:
        order = _order(provider, request)
        if order["status"] == "canceled":
            raise HTTPError(400, {"detail": "This order is already canceled."})
        left = refundable(order)
        if left and not cleaned.get("full_refund"):
            raise HTTPError(400, {"full_refund": [f"This order has {money(left)} {order['currency']} captured: "
                                                  "cancel it with full_refund, or refund it first."]})
        added = [_child(provider, order, auth, "void", auth["amount"]) for auth in open_authorizations(order)]
        for taken in [t for t in order["transactions"] if t["type"] in TAKEN and t["status"] == "succeeded"]:
            if available(order, taken):
                added.append(_child(provider, order, taken, "refund", money(available(order, taken))))
        if any(t["type"] == "refund" for t in added):
            refunds = [t for t in added if t["type"] == "refund"]
            order["refunds"].append(_refund(provider, order, {"note": cleaned["cancel_reason"]}, refunds))
        had_taken = any(t["type"] in TAKEN for t in order["transactions"])
        order["status"], order["total_outstanding"] = "canceled", ZERO
        order["payment_status"] = "refunded" if had_taken else "voided"
        answer, events = _changed(provider, order, added)
    queue_events(provider, events)
    return json_response(answer)


# --- the order's money, read from its transactions ---------------------------------------------------
def _children(order: dict, parent: dict, kind: str) -> list[dict]:
    return [t for t in order["transactions"]
            if t["parent_id"] == parent["id"] and t["type"] == kind and t["status"] == "succeeded"]


def open_authorizations(order: dict) -> list[dict]:
    """Authorizations neither captured nor voided yet."""
    return [t for t in order["transactions"] if t["type"] == "authorize" and t["status"] == "succeeded"
            and not _children(order, t, "capture") and not _children(order, t, "void")]


def available(order: dict, taken: dict) -> Decimal:
    """What is left to refund of one debit or capture."""
    return Decimal(taken["amount"]) - sum((Decimal(r["amount"]) for r in _children(order, taken, "refund")),
                                          Decimal(0))


def refundable(order: dict) -> Decimal:
    return sum((available(order, t) for t in order["transactions"]
                if t["type"] in TAKEN and t["status"] == "succeeded"), Decimal(0))


def _refund_problem(order: dict, transaction: dict | None, amount: Decimal) -> dict:
    if transaction is None:
        return {"id": ["No transaction with this id on this order."]}
    if transaction["type"] not in TAKEN or transaction["status"] != "succeeded":
        return {"id": [f"A {transaction['type'] or 'failed'} transaction cannot be refunded; "
                       "only captured payments can."]}
    if amount <= 0:
        return {"amount": ["Ensure this value is greater than 0."]}
    if amount > available(order, transaction):
        return {"amount": [f"Ensure this value is less than or equal to {money(available(order, transaction))}."]}
    return {}


# --- building -----------------------------------------------------------------------------------------
def _order(provider: NextProvider, request: Request) -> dict:
    """The stored order itself (not a copy): callers hold the state lock."""
    order = provider.state.orders.get(request.params["number"])
    if order is None:
        raise HTTPError(404, {"detail": "Not found."})
    return order


def _child(provider: NextProvider, order: dict, parent: dict, kind: str, amount: str) -> dict:
    transaction = build_transaction(transaction_id=provider.state.next_id("transaction"), amount=amount,
                                    currency=order["currency"], payment_status="paid", now=provider.now_iso(),
                                    statement_descriptor=parent.get("statement_descriptor"))
    transaction.update(type=kind, parent_id=parent["id"])
    order["transactions"].append(transaction)
    return transaction


def _refund(provider: NextProvider, order: dict, data: dict, transactions: list[dict]) -> dict:
    total = money(sum((Decimal(t["amount"]) for t in transactions), Decimal(0)))
    totals = {"total_refund_amount": total, "total_return_excl_tax": ZERO, "total_return_incl_tax": ZERO}
    return {
        "id": provider.state.next_id("refund"), "order_number": order["number"], "note": data.get("note"),
        "adjustments": [], "refund_line_items": [], **totals,
        "report_values": {"currency": order["currency"], **totals},
        "transactions": copy.deepcopy(transactions), "user_id": order["user"]["id"],
        "created_at": provider.now_iso(),
    }


def _changed(provider: NextProvider, order: dict, added: list[dict]) -> tuple[dict, list]:
    """The answer and the webhooks for an order the action just changed."""
    order["updated_at"] = provider.now_iso()
    answer = copy.deepcopy(order)
    events = [("order.updated", "order", answer)]
    events += [("transaction.created", "transaction", transaction_resource(order, t)) for t in added]
    return copy.deepcopy(answer), events
