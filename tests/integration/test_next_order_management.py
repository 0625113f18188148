"""29 Next order management from the shop (issue 8, item 8): capture an authorized Klarna payment, refund in
full or in part, cancel, each a PaymentOperation in the timeline; refusals change nothing; an unknown outcome
is read back from the order before anything is sent again, since 29 Next has no idempotency key."""
import time

import pytest
from django.urls import reverse

from payments.models import PaymentAttempt, PaymentOperation
from payments.providers.registry import get_adapter
from payments.providers.types import Operation
from payments.services import order_management as om
from payments.states import Status
from shop.models import Order
from tests.integration.admin_forms import confirmation_key
from tests.integration.next_flow import pay, provider_requests

pytestmark = pytest.mark.django_db(transaction=True)


def provider_order(emulator, number):
    return next(o for o in emulator.control("GET", "/_emulator/next/orders")["orders"] if o["number"] == number)


@pytest.fixture
def authorized(emulator, client):
    emulator.control("PATCH", "/_emulator/config", {"next": {"klarna_payment_status": "authorized"}})
    order, attempt, number = pay(emulator, client)
    assert attempt.status == Status.AUTHORIZED
    return order, attempt, number


@pytest.fixture
def paid(emulator, client):
    emulator.control("PATCH", "/_emulator/config", {"next": {"klarna_payment_status": "paid"}})
    order, attempt, number = pay(emulator, client)
    assert attempt.status == Status.CAPTURED
    return order, attempt, number


def test_fetch_payment_reports_the_orders_figures(authorized, paid):
    _, held, held_number = authorized
    _, taken, taken_number = paid
    adapter = get_adapter("next")
    auth = adapter.fetch_payment(held_number)
    assert (auth.order_total, auth.captured, auth.refunded, auth.remaining) == (held.amount, 0, 0, held.amount)
    debit = adapter.fetch_payment(taken_number)
    assert (debit.order_total, debit.captured, debit.refunded, debit.remaining) == (taken.amount, taken.amount, 0, 0)


def test_capture_takes_the_whole_authorization(authorized, emulator):
    order, attempt, number = authorized
    assert om.operations_allowed(attempt) == [Operation.CAPTURE, Operation.CANCEL]
    op = om.payment_capture(attempt_id=attempt.pk)
    attempt.refresh_from_db()
    assert attempt.status == Status.CAPTURED and attempt.captured_amount == attempt.amount
    op.refresh_from_db()
    assert op.result == PaymentOperation.Result.DONE and op.provider_id
    assert provider_order(emulator, number)["payment_status"] == "paid"
    assert attempt.events.filter(kind="note", message__startswith="Captured").exists()
    assert om.operations_allowed(attempt) == [Operation.REFUND]


def test_part_of_an_authorization_cannot_be_captured(authorized, emulator):
    _, attempt, number = authorized
    with pytest.raises(om.OperationRefused, match="the whole order"):
        om.payment_capture(attempt_id=attempt.pk, amount=1000)
    assert provider_requests(emulator, "POST", "/capture/") == []
    assert not attempt.operations.exists()


def test_partial_then_full_refund(paid, emulator):
    order, attempt, number = paid
    om.payment_refund(attempt_id=attempt.pk, amount=500, description="Scratched mug")
    attempt.refresh_from_db()
    assert attempt.status == Status.PARTIALLY_REFUNDED and attempt.refunded_amount == 500
    assert provider_order(emulator, number)["payment_status"] == "partially_refunded"
    om.payment_refund(attempt_id=attempt.pk, amount=attempt.amount - 500)
    attempt.refresh_from_db()
    assert attempt.status == Status.REFUNDED and attempt.refunded_amount == attempt.amount
    provider = provider_order(emulator, number)
    assert provider["payment_status"] == "refunded" and len(provider["refunds"]) == 2
    assert list(attempt.operations.values_list("kind", "result")) == [("refund", "done"), ("refund", "done")]


def test_cancel_voids_the_authorization(authorized, emulator):
    order, attempt, number = authorized
    om.payment_cancel(attempt_id=attempt.pk)
    attempt.refresh_from_db()
    assert attempt.status == Status.CANCELLED
    provider = provider_order(emulator, number)
    assert (provider["status"], provider["payment_status"]) == ("canceled", "voided")
    assert attempt.operations.get().kind == "cancel"
    assert Order.objects.get(pk=order.pk).status == Order.Status.CANCELLED


def test_refund_above_captured_and_cancel_after_capture_are_refused(paid, emulator):
    _, attempt, number = paid
    with pytest.raises(om.OperationRefused, match="more than"):
        om.payment_refund(attempt_id=attempt.pk, amount=attempt.amount + 1)
    with pytest.raises(om.OperationRefused, match="cancelled"):
        om.payment_cancel(attempt_id=attempt.pk)
    assert provider_requests(emulator, "POST", "/refund/") == []
    assert provider_requests(emulator, "POST", "/cancel/") == []
    attempt.refresh_from_db()
    assert attempt.status == Status.CAPTURED and attempt.refunded_amount == 0


@pytest.mark.parametrize("fault,posts", [
    ({"kind": "error", "status": 500, "when": "after"}, 1),  # done, answer lost: read back, not resent
    ({"kind": "error", "status": 503, "when": "before"}, 2),  # answered, not done: read back, sent once more
    ({"kind": "timeout", "seconds": 3, "when": "after"}, 1),  # done late: read back, not resent
], ids=["done-then-500", "503-not-done", "timeout-done"])
def test_an_unknown_refund_outcome_is_read_back_before_any_retry(paid, emulator, fault, posts):
    _, attempt, number = paid
    refund_path = f"/next/api/admin/orders/{number}/refund/"
    emulator.control("POST", "/_emulator/faults", json={"method": "POST", "path": refund_path, "times": 1, **fault})
    om.payment_refund(attempt_id=attempt.pk, amount=700)
    time.sleep(fault.get("seconds", 0))
    assert len(provider_requests(emulator, "POST", "/refund/", at_least=posts)) == posts
    assert len(provider_order(emulator, number)["refunds"]) == 1
    attempt.refresh_from_db()
    assert attempt.refunded_amount == 700 and attempt.operations.get().result == "done"


def test_a_timed_out_refund_stays_pending_and_its_retry_reads_back_first(paid, emulator):
    _, attempt, number = paid
    emulator.control("POST", "/_emulator/faults", json={"method": "POST", "path": f"/next/api/admin/orders/{number}/",
                                                        "times": 1, "kind": "timeout", "seconds": 3})
    # never processed, and nothing resent: the outcome is unknown (not a refusal), and 29 Next's order
    # read back right away shows no refund, so the operation stays pending
    op = om.payment_refund(attempt_id=attempt.pk, amount=700)
    assert op.result == "pending" and op.error and attempt.operations.get() == op
    time.sleep(1.5)  # the held request ends at the emulator without refunding
    om.payment_refund(attempt_id=attempt.pk, amount=700)  # the merchant tries again: the same operation
    assert attempt.operations.count() == 1 and attempt.operations.get().result == "done"
    om.payment_refund(attempt_id=attempt.pk, amount=700)  # a new refund now is a new operation
    assert len(provider_order(emulator, number)["refunds"]) == 2
    assert len(provider_requests(emulator, "POST", "/refund/", at_least=3)) == 3


def test_the_same_refund_key_never_refunds_twice(paid, emulator):
    _, attempt, number = paid
    adapter = get_adapter("next")
    first = adapter.refund(number, amount=300, key="op-same")
    assert adapter.refund(number, amount=300, key="op-same") == first
    assert len(provider_order(emulator, number)["refunds"]) == 1


def test_admin_offers_the_buttons_the_state_allows(authorized, paid, admin_client):
    _, held, _ = authorized
    _, taken, _ = paid

    def change(attempt):
        return admin_client.get(reverse("admin:payments_paymentattempt_change", args=[attempt.pk])).content.decode()

    page = change(held)
    assert "/operation/capture/" in page and "/operation/cancel/" in page and "/operation/refund/" not in page
    assert "/operation/release/" not in page and "/operation/extend/" not in page
    page = change(taken)
    assert "/operation/refund/" in page and "/operation/capture/" not in page and "/operation/cancel/" not in page
    url = reverse("admin:payments_paymentattempt_operation", args=[taken.pk, "refund"])
    review = admin_client.post(url, {"amount": "5.00"})
    assert review.status_code == 200 and "5.00" in review.content.decode()
    done = admin_client.post(url, {"amount": "5.00", "confirmed": "1", "confirmation": confirmation_key(review)})
    assert done.status_code == 302
    assert PaymentAttempt.objects.get(pk=taken.pk).refunded_amount == 500


def test_the_retry_after_a_5xx_runs_once_only(paid, emulator):
    _, attempt, number = paid
    emulator.control("POST", "/_emulator/faults", json={"method": "POST", "path": f"/next/api/admin/orders/{number}/",
                                                        "times": 3, "kind": "error", "status": 503})
    assert om.payment_refund(attempt_id=attempt.pk, amount=700).result == "pending"  # unknown, not refused
    assert len(provider_requests(emulator, "POST", "/refund/")) == 2
    assert attempt.operations.get().result == "pending" and provider_order(emulator, number)["refunds"] == []
