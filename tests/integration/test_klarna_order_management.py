"""Capture, refund, cancel, release and extend a Klarna authorization from admin."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from payments.models import PaymentAttempt, PaymentOperation
from payments.providers.types import Operation
from payments.services.order_management import (
    OperationRefused,
    operations_allowed,
    payment_cancel,
    payment_capture,
    payment_extend,
    payment_refund,
    payment_release_remaining,
)
from payments.services.reconcile import payments_reconcile
from payments.states import Status
from shop.models import EmailNotification
from tests.integration.admin_forms import confirm
from tests.integration.klarna_flow import pay_with_klarna

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def authorized(emulator, client):
    attempt = pay_with_klarna(emulator, client)
    assert attempt.status == Status.AUTHORIZED and attempt.authorization_expires_at
    return attempt


def klarna_order(emulator, attempt):
    return next(o for o in emulator.control("GET", "/_emulator/klarna/orders")["orders"]
                if o["order_id"] == attempt.provider_reference)


def test_partial_then_full_capture_with_tracking(authorized, emulator):
    payment_capture(attempt_id=authorized.pk, amount=1000, tracking_number="TRK1", carrier="PostNL")
    authorized.refresh_from_db()
    assert authorized.status == Status.AUTHORIZED and authorized.captured_amount == 1000
    payment_capture(attempt_id=authorized.pk)
    authorized.refresh_from_db()
    assert authorized.status == Status.CAPTURED and authorized.captured_amount == authorized.amount
    assert klarna_order(emulator, authorized)["status"] == "CAPTURED"
    assert PaymentOperation.objects.filter(attempt=authorized, kind="capture", result="done").count() == 2


def test_refund_limits_come_from_klarnas_order_not_our_books(authorized, emulator):
    payment_capture(attempt_id=authorized.pk, amount=1000)
    with pytest.raises(OperationRefused):
        payment_refund(attempt_id=authorized.pk, amount=1001)
    # Our books claim more was captured (another system changed them): Klarna's order still decides.
    PaymentAttempt.objects.filter(pk=authorized.pk).update(captured_amount=authorized.amount)
    with pytest.raises(OperationRefused) as refused:
        payment_refund(attempt_id=authorized.pk, amount=authorized.amount)
    assert "€\u00a010.00 captured" in str(refused.value)
    assert not PaymentOperation.objects.filter(kind="refund").exists()
    # When Klarna itself refuses (here: its order cannot be read, so our books are the limit), the
    # provider's reason reaches the merchant and the timeline.
    emulator.control("POST", "/_emulator/faults", json={"method": "GET", "path": "/klarna/ordermanagement/",
                                                        "kind": "error", "status": 503, "times": 50})
    emulator.control("POST", "/_emulator/faults", json={"method": "POST", "path": f"/klarna/ordermanagement/v1/orders/{authorized.provider_reference}/refunds",
                                                        "kind": "error", "status": 403, "times": 1})
    with pytest.raises(OperationRefused):
        payment_refund(attempt_id=authorized.pk, amount=authorized.amount)
    assert authorized.events.filter(kind="rejected").exists()


def test_refund_in_parts(authorized):
    payment_capture(attempt_id=authorized.pk)
    payment_refund(attempt_id=authorized.pk, amount=500, description="damaged")
    authorized.refresh_from_db()
    assert authorized.status == Status.PARTIALLY_REFUNDED
    payment_refund(attempt_id=authorized.pk, amount=authorized.amount - 500)
    authorized.refresh_from_db()
    assert authorized.status == Status.REFUNDED


def test_cancel_only_before_capture(authorized, emulator):
    payment_cancel(attempt_id=authorized.pk)
    authorized.refresh_from_db()
    assert authorized.status == Status.CANCELLED
    assert klarna_order(emulator, authorized)["status"] == "CANCELLED"


def test_release_and_extend(authorized, emulator):
    before = authorized.authorization_expires_at
    payment_extend(attempt_id=authorized.pk)
    authorized.refresh_from_db()
    assert authorized.authorization_expires_at >= before
    payment_capture(attempt_id=authorized.pk, amount=1000)
    payment_release_remaining(attempt_id=authorized.pk)
    authorized.refresh_from_db()
    assert authorized.status == Status.CAPTURED


def test_admin_pages_drive_the_operations(authorized, admin_client):
    url = reverse("admin:payments_paymentattempt_operation", args=[authorized.pk, "capture"])
    assert admin_client.get(url).status_code == 200
    confirm(admin_client, url, {"amount": "", "tracking_number": "TRK9", "carrier": "DHL"})
    authorized.refresh_from_db()
    assert authorized.status == Status.CAPTURED
    page = admin_client.get(reverse("admin:payments_paymentattempt_change", args=[authorized.pk]))
    assert b"TRK9" in page.content
    expiring = admin_client.get(reverse("admin:payments_paymentattempt_changelist") + "?expiring=7")
    assert expiring.status_code == 200


def test_a_refund_while_the_authorization_is_open_keeps_it_authorized(authorized, emulator):
    """Probe B defect 1: capture 10, refund 10, capture 5 made the payment terminal "Refunded" while
    Klarna still held 13.45 to capture. It stays Authorized (the expiry filter and the dashboard count it)
    until nothing is left to capture; then the refunds decide."""
    payment_capture(attempt_id=authorized.pk, amount=1000)
    payment_refund(attempt_id=authorized.pk, amount=1000)
    authorized.refresh_from_db()
    assert authorized.status == Status.AUTHORIZED
    assert (authorized.captured_amount, authorized.refunded_amount) == (1000, 1000)
    assert Operation.CAPTURE in operations_allowed(authorized)
    assert PaymentAttempt.objects.filter(status="authorized", pk=authorized.pk).exists()  # "expiring" filter

    payment_capture(attempt_id=authorized.pk, amount=500)
    authorized.refresh_from_db()
    assert authorized.status == Status.AUTHORIZED and authorized.captured_amount == 1500

    payment_capture(attempt_id=authorized.pk)  # the rest: nothing left to capture, 10.00 of it refunded
    authorized.refresh_from_db()
    assert authorized.status == Status.PARTIALLY_REFUNDED
    assert (authorized.captured_amount, authorized.refunded_amount) == (authorized.amount, 1000)
    assert klarna_order(emulator, authorized)["refunded_amount"] == 1000


def test_a_release_after_everything_captured_was_refunded_is_refunded(authorized):
    payment_capture(attempt_id=authorized.pk, amount=1000)
    payment_refund(attempt_id=authorized.pk, amount=1000)
    payment_release_remaining(attempt_id=authorized.pk)
    authorized.refresh_from_db()
    assert authorized.status == Status.REFUNDED


LOST_ANSWER = {"method": "POST", "path": "/klarna/ordermanagement/v1/orders", "kind": "error", "status": 503,
               "times": 10}


def refund_emails():
    return EmailNotification.objects.filter(kind="refund_issued").count()


def test_a_refund_whose_answer_is_lost_is_read_back_and_settled(authorized, emulator):
    """Probe B defect 8: Klarna refunds, then answers 503. Not a refusal: Klarna's order is read back at
    once, the books follow it, the email goes out once, and a later reconcile changes nothing."""
    payment_capture(attempt_id=authorized.pk)
    emulator.control("POST", "/_emulator/faults", json={**LOST_ANSWER, "when": "after"})
    op = payment_refund(attempt_id=authorized.pk, amount=500)
    assert op.result == PaymentOperation.Result.DONE and op.error
    authorized.refresh_from_db()
    assert authorized.refunded_amount == 500 and authorized.status == Status.PARTIALLY_REFUNDED
    assert klarna_order(emulator, authorized)["refunded_amount"] == 500
    assert not authorized.events.filter(kind="rejected").exists()
    assert refund_emails() == 1
    emulator.control("DELETE", "/_emulator/faults")
    payments_reconcile()
    assert refund_emails() == 1 and PaymentAttempt.objects.get(pk=authorized.pk).refunded_amount == 500


def test_a_lost_answer_klarna_cannot_be_read_for_is_settled_by_the_periodic_reconcile(authorized, emulator):
    payment_capture(attempt_id=authorized.pk)
    emulator.control("POST", "/_emulator/faults", json={**LOST_ANSWER, "when": "after"})
    emulator.control("POST", "/_emulator/faults", json={"method": "GET", "path": "/klarna/ordermanagement/",
                                                        "kind": "error", "status": 503, "times": 50})
    op = payment_refund(attempt_id=authorized.pk, amount=500)
    assert op.result == PaymentOperation.Result.PENDING
    assert PaymentAttempt.objects.get(pk=authorized.pk).refunded_amount == 0 and refund_emails() == 0
    emulator.control("DELETE", "/_emulator/faults")
    assert payments_reconcile().operations == 1  # the beat's reconcile-stuck-payments
    op.refresh_from_db()
    authorized.refresh_from_db()
    assert op.result == PaymentOperation.Result.DONE and authorized.refunded_amount == 500
    assert authorized.status == Status.PARTIALLY_REFUNDED and refund_emails() == 1
    assert payments_reconcile().operations == 0 and refund_emails() == 1


def test_a_refund_whose_request_died_at_klarna_is_settled_by_the_periodic_reconcile(authorized, emulator):
    """The web process died (or was killed) after Klarna refunded and before the shop heard: the operation
    row stays pending with no error recorded. Once no live request can still be at Klarna, reconcile reads
    the order back and settles it, books and email once."""
    from payments.providers.registry import get_adapter
    from payments.services.order_management import in_flight_for

    payment_capture(attempt_id=authorized.pk)
    op = PaymentOperation.objects.create(attempt=authorized, kind="refund", amount=500)
    get_adapter(authorized.route).refund(authorized.provider_reference, amount=500, key=op.idempotency_key,
                                         description="")
    payments_reconcile()  # still young: a live request could be at Klarna, so it is left alone
    assert PaymentOperation.objects.get(pk=op.pk).result == PaymentOperation.Result.PENDING
    later = timezone.now() + in_flight_for() + timedelta(seconds=1)
    assert payments_reconcile(now=later).operations == 1
    op.refresh_from_db()
    authorized.refresh_from_db()
    assert op.result == PaymentOperation.Result.DONE and authorized.refunded_amount == 500
    assert refund_emails() == 1 and payments_reconcile(now=later).operations == 0


def test_a_lost_answer_klarna_never_acted_on_stays_pending_then_is_marked_not_done(authorized, emulator):
    payment_capture(attempt_id=authorized.pk)
    emulator.control("POST", "/_emulator/faults", json={**LOST_ANSWER, "when": "before"})
    op = payment_refund(attempt_id=authorized.pk, amount=500)
    assert op.result == PaymentOperation.Result.PENDING and klarna_order(emulator, authorized)["refunded_amount"] == 0
    emulator.control("DELETE", "/_emulator/faults")
    payments_reconcile()  # too young to conclude: Klarna might still be at it
    assert PaymentOperation.objects.get(pk=op.pk).result == PaymentOperation.Result.PENDING
    payments_reconcile(now=timezone.now() + timedelta(hours=1))
    op.refresh_from_db()
    assert op.result == PaymentOperation.Result.REFUSED and "not done" in op.error
    authorized.refresh_from_db()
    assert authorized.refunded_amount == 0 and authorized.status == Status.CAPTURED and refund_emails() == 0


def test_extending_a_fresh_authorization_says_the_expiry_did_not_move(authorized, admin_client):
    """Probe B defect 11: Klarna extends to today plus its period, so on the day of authorization the
    expiry stays where it is; admin says so instead of "done"."""
    before = authorized.authorization_expires_at
    url = reverse("admin:payments_paymentattempt_operation", args=[authorized.pk, "extend"])
    page = confirm(admin_client, url, follow=True).content.decode()
    assert "did not move" in page and "done." not in page
    authorized.refresh_from_db()
    assert authorized.authorization_expires_at == before
    assert authorized.operations.get(kind="extend").details["moved"] is False
    assert authorized.events.filter(message__startswith="Authorization time not extended").exists()


def test_an_extension_whose_answer_is_lost_is_settled_from_klarnas_later_expiry(authorized, emulator):
    """Klarna extends (a day after authorization, so the expiry moves), then answers 503: the order read back
    shows the later expiry, so the extension is done and the payment shows the new expiry. Were it not
    shown, it would stay pending and later be "not confirmed" (an expiry that did not move proves nothing)."""
    before = authorized.authorization_expires_at
    emulator.control("POST", "/_emulator/clock/advance", json={"seconds": 26 * 3600})
    emulator.control("POST", "/_emulator/faults", json={**LOST_ANSWER, "when": "after"})
    op = payment_extend(attempt_id=authorized.pk)
    assert op.result == PaymentOperation.Result.DONE and op.error and op.details["moved"] is True
    authorized.refresh_from_db()
    assert authorized.authorization_expires_at > before
    assert authorized.events.filter(message__startswith="Authorization extended until").count() == 1
    emulator.control("DELETE", "/_emulator/faults")
    assert payments_reconcile().operations == 0


@pytest.mark.parametrize("action, status", [(payment_capture, Status.CAPTURED), (payment_cancel, Status.CANCELLED)],
                         ids=["capture", "cancel"])
def test_a_capture_or_cancel_whose_answer_is_lost_is_settled_from_klarnas_order(authorized, emulator, action, status):
    emulator.control("POST", "/_emulator/faults", json={**LOST_ANSWER, "when": "after"})
    op = action(attempt_id=authorized.pk)
    assert op.result == PaymentOperation.Result.DONE
    authorized.refresh_from_db()
    assert authorized.status == status
    assert authorized.captured_amount == (authorized.amount if status == Status.CAPTURED else 0)


def test_an_order_the_shop_cancelled_cannot_be_paid_again_by_the_shopper(authorized, client):
    """After admin's "Cancel authorization" (e.g. nothing left to ship) the shopper's links lead to an
    order that says it was cancelled by the shop, with no "try again"; a retry posted anyway starts nothing."""
    from shop.links import order_url
    from shop.models import Order

    payment_cancel(attempt_id=authorized.pk)
    order = Order.objects.get(pk=authorized.order_id)
    assert order.status == Order.Status.CANCELLED
    page = client.get(order_url(order, "shop:order_confirmation"), follow=True).content.decode()
    assert "We cancelled this order, so it can no longer be paid" in page and "retry-payment" not in page
    retried = client.post(order_url(order, "shop:order_retry"), {"route": "klarna_payments"}, follow=True)
    assert "We cancelled this order, so it can no longer be paid" in retried.content.decode()
    assert PaymentAttempt.objects.filter(order_id=order.pk).count() == 1


def test_a_lost_refund_is_not_credited_with_a_later_refunds_effect(emulator, client):
    """Probe E F3: a 2.00 refund that never happened (its call failed before Klarna acted) was settled
    "done", with the shopper's refund email, once a later 3.00 refund raised Klarna's refunded total."""
    from payments.services import order_management as om
    from payments.services.operation_outcomes import operations_reconcile
    from tests.integration.klarna_flow import pay_with_klarna

    attempt = pay_with_klarna(emulator, client)
    om.payment_capture(attempt_id=attempt.pk)
    emulator.control("POST", "/_emulator/faults", json={
        "method": "POST", "path": f"/klarna/ordermanagement/v1/orders/{attempt.provider_reference}/refunds",
        "kind": "error", "status": 503, "times": 10})
    lost = om.payment_refund(attempt_id=attempt.pk, amount=200)
    assert lost.result == "pending"
    emulator.control("DELETE", "/_emulator/faults")
    assert om.payment_refund(attempt_id=attempt.pk, amount=300).result == "done"
    operations_reconcile(older_than=0)
    lost.refresh_from_db()
    attempt.refresh_from_db()
    assert lost.result == "refused" and attempt.refunded_amount == 300


def test_a_capture_and_refund_made_in_klarnas_dashboard_are_booked_when_admin_shows_the_payment(
        authorized, emulator, admin_client):
    """Probe I I8: Klarna sends no notification for a capture or refund made in its merchant portal; admin showed
    "captured € 0.00, refunded € 0.00" on the page whose own confirmation read "€ 1.00 captured, € 0.50 refunded"."""
    import uuid

    from django.urls import reverse

    from payments.providers.registry import get_adapter

    client = get_adapter("klarna_payments").client
    oid = authorized.provider_reference
    client.order_action(oid, "captures", {"captured_amount": 100}, idempotency_key=str(uuid.uuid4()))
    client.order_action(oid, "refunds", {"refunded_amount": 50}, idempotency_key=str(uuid.uuid4()))

    page = admin_client.get(reverse("admin:payments_paymentattempt_change", args=[authorized.pk])).content.decode()
    authorized.refresh_from_db()
    assert authorized.captured_amount == 100 and authorized.refunded_amount == 50
    assert authorized.status == "authorized"  # the rest can still be captured
    assert "€\u00a01.00" in page and "€\u00a00.50" in page
    assert "done at the provider" in authorized.events.last().message
    admin_client.get(reverse("admin:payments_paymentattempt_change", args=[authorized.pk]))
    assert authorized.events.filter(message__contains="done at the provider").count() == 1  # booked once
    assert admin_client.get("/admin/payments/paymentattempt/99999999999999999999999/change/").status_code in (302, 404)
