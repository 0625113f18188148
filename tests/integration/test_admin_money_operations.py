"""Capture and refund typed in currency in admin reach the provider as the exact minor units (issue 8,
items 7 and 9), against the Klarna emulator: '12.90' is read back on a confirmation page, then
captured as 1290, and nothing is sent before the merchant confirms."""
import pytest
from django.urls import reverse

from payments.models import PaymentOperation
from payments.states import Status
from tests.integration.admin_forms import confirm
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

    confirm(admin_client, capture_url, {"amount": "12.90", "tracking_number": "TRK7", "carrier": "DHL"})
    attempt.refresh_from_db()
    assert attempt.captured_amount == 1290 and klarna_order(emulator, attempt)["captured_amount"] == 1290

    refund_url = reverse("admin:payments_paymentattempt_operation", args=[attempt.pk, "refund"])
    confirm(admin_client, refund_url, {"amount": "0,29", "description": ""})  # 0.29: no float
    attempt.refresh_from_db()
    assert attempt.refunded_amount == 29 and klarna_order(emulator, attempt)["refunded_amount"] == 29
    page = admin_client.get(reverse("admin:payments_paymentattempt_change", args=[attempt.pk])).content.decode()
    assert "€\u00a012.90" in page and "€\u00a00.29" in page
