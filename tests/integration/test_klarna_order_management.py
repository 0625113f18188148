"""Capture, refund, cancel, release and extend a Klarna authorization from admin."""

import pytest
from django.urls import reverse

from payments.models import PaymentAttempt, PaymentOperation
from payments.services.order_management import (
    OperationRefused,
    payment_cancel,
    payment_capture,
    payment_extend,
    payment_refund,
    payment_release_remaining,
)
from payments.states import Status
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
