"""Capture and refund typed in currency in admin reach the provider as the exact minor units (issue 8,
items 7 and 9), against the Klarna emulator: '12.90' is read back on a confirmation page, then
captured as 1290, and nothing is sent before the merchant confirms."""
import pytest
from django.urls import reverse

from payments.models import PaymentOperation
from payments.states import Status
from tests.integration.klarna_flow import pay_with_klarna

pytestmark = pytest.mark.django_db(transaction=True)


def klarna_order(emulator, attempt):
    return next(o for o in emulator.control("GET", "/_emulator/klarna/orders")["orders"]
                if o["order_id"] == attempt.provider_reference)


def test_typed_capture_and_refund_reach_klarna_as_exact_minor_units(emulator, client, admin_client):
    attempt = pay_with_klarna(emulator, client)
    assert attempt.status == Status.AUTHORIZED
    capture_url = reverse("admin:payments_paymentattempt_operation", args=[attempt.pk, "capture"])

    review = admin_client.post(capture_url, {"amount": "12.90", "tracking_number": "TRK7", "carrier": "DHL"})
    assert "Capture €\u00a012.90 of provider order" in review.content.decode()
    assert klarna_order(emulator, attempt)["captured_amount"] == 0 and not PaymentOperation.objects.exists()

    admin_client.post(capture_url, {"amount": "12.90", "tracking_number": "TRK7", "carrier": "DHL",
                                    "confirmed": "1"})
    attempt.refresh_from_db()
    assert attempt.captured_amount == 1290 and klarna_order(emulator, attempt)["captured_amount"] == 1290

    refund_url = reverse("admin:payments_paymentattempt_operation", args=[attempt.pk, "refund"])
    admin_client.post(refund_url, {"amount": "0,29", "description": "", "confirmed": "1"})  # 0.29: no float
    attempt.refresh_from_db()
    assert attempt.refunded_amount == 29 and klarna_order(emulator, attempt)["refunded_amount"] == 29
    page = admin_client.get(reverse("admin:payments_paymentattempt_change", args=[attempt.pk])).content.decode()
    assert "€\u00a012.90" in page and "€\u00a00.29" in page


def test_a_refund_whose_answer_is_lost_is_not_called_refused(emulator, client, admin_client):
    """Probe B defect 8: Klarna refunded, then answered 503, and its order cannot be read back right now.
    Admin says the outcome is unknown and will be checked; the operation stays pending, nothing is
    recorded as a rejection."""
    attempt = pay_with_klarna(emulator, client)
    admin_client.post(reverse("admin:payments_paymentattempt_operation", args=[attempt.pk, "capture"]),
                      {"amount": "", "tracking_number": "", "carrier": "", "confirmed": "1"})
    emulator.control("POST", "/_emulator/faults", json={"method": "POST", "path": "/klarna/ordermanagement/v1/orders",
                                                        "kind": "error", "status": 503, "times": 10, "when": "after"})
    emulator.control("POST", "/_emulator/faults", json={"method": "GET", "path": "/klarna/ordermanagement/",
                                                        "kind": "error", "status": 503, "times": 50})
    refund_url = reverse("admin:payments_paymentattempt_operation", args=[attempt.pk, "refund"])
    page = admin_client.post(refund_url, {"amount": "5.00", "description": "", "confirmed": "1"},
                             follow=True).content.decode()
    assert "outcome is unknown" in page and "refused" not in page
    op = PaymentOperation.objects.get(kind="refund")
    assert op.result == PaymentOperation.Result.PENDING
    assert not attempt.events.filter(kind="rejected").exists()
    assert klarna_order(emulator, attempt)["refunded_amount"] == 500


def test_the_summary_says_could_not_be_read_only_when_a_read_failed(emulator, client, admin_client):
    """Probe B defect 10: "the provider could not be read" was shown wherever our books were used, also
    where no read was tried (a payment that is not held)."""
    from payments.services.payment_start import payment_start
    from tests.factories import make_order

    attempt = pay_with_klarna(emulator, client)
    change = reverse("admin:payments_paymentattempt_change", args=[attempt.pk])
    page = admin_client.get(change).content.decode()
    assert "left to capture." in page and "from our books" not in page
    waiting = payment_start(order=make_order(), route="klarna_payments")  # the shopper is still in the widget
    page = admin_client.get(reverse("admin:payments_paymentattempt_change", args=[waiting.pk])).content.decode()
    assert "(from our books)" in page and "could not be read" not in page
    emulator.control("POST", "/_emulator/faults", json={"method": "GET", "path": "/klarna/ordermanagement/",
                                                        "kind": "error", "status": 503, "times": 50})
    assert "the provider could not be read" in admin_client.get(change).content.decode()


def test_a_refund_whose_answer_is_lost_but_shows_on_klarnas_order_is_done(emulator, client, admin_client):
    attempt = pay_with_klarna(emulator, client)
    admin_client.post(reverse("admin:payments_paymentattempt_operation", args=[attempt.pk, "capture"]),
                      {"amount": "", "tracking_number": "", "carrier": "", "confirmed": "1"})
    emulator.control("POST", "/_emulator/faults", json={"method": "POST", "path": "/klarna/ordermanagement/v1/orders",
                                                        "kind": "error", "status": 503, "times": 10, "when": "after"})
    refund_url = reverse("admin:payments_paymentattempt_operation", args=[attempt.pk, "refund"])
    page = admin_client.post(refund_url, {"amount": "5.00", "description": "", "confirmed": "1"},
                             follow=True).content.decode()
    assert "its order read back shows it done" in page and "refused" not in page
    attempt.refresh_from_db()
    assert attempt.refunded_amount == 500 and attempt.status == Status.PARTIALLY_REFUNDED
