"""Every MultiSafepay status the issue lists maps to one shop payment status (a table, tested)."""
import pytest

from payments.providers.multisafepay.statuses import payment_status
from payments.states import Status


@pytest.mark.parametrize("status,financial,expected", [
    ("initialized", "initialized", Status.PENDING),
    ("uncleared", "uncleared", Status.PENDING),
    ("completed", "uncleared", Status.AUTHORIZED),  # Klarna authorised, not captured
    ("completed", "completed", Status.CAPTURED),
    ("shipped", "uncleared", Status.CAPTURED),  # shipping is the capture
    ("shipped", "completed", Status.CAPTURED),
    ("declined", "declined", Status.FAILED),
    ("cancelled", "cancelled", Status.CANCELLED),
    ("void", "void", Status.CANCELLED),
    ("expired", "expired", Status.EXPIRED),
    ("refunded", "completed", Status.REFUNDED),
    ("partial_refunded", "completed", Status.PARTIALLY_REFUNDED),
    ("chargedback", "chargedback", Status.REFUNDED),
    ("chargeback", "", Status.REFUNDED),
    ("Completed", "Uncleared", Status.AUTHORIZED),
    ("reserved", "", None),
    ("", "", None),
    ("something-new", "completed", None),
])
def test_status_table(status, financial, expected):
    assert payment_status(status, financial) == expected


@pytest.mark.parametrize("status, refunded", [("chargedback", 0), ("chargeback", 2000)])
def test_a_chargeback_reads_back_as_all_of_it_taken_back_by_the_bank(status, refunded):
    """MultiSafepay leaves `amount_refunded` as it was on a chargeback; the shop reports all of the captured
    amount as given back, and the chargeback as such (probe G F3)."""
    from payments.providers.multisafepay.adapter import MultiSafepayAdapter

    order = {"order_id": "pa_1", "amount": 5395, "amount_refunded": refunded, "currency": "EUR",
             "status": status, "financial_status": "chargedback"}
    payment = MultiSafepayAdapter.to_payment(order, "pa_1")
    assert payment.status == Status.REFUNDED and payment.charged_back
    assert payment.captured == payment.refunded == 5395 and payment.remaining == 0


def test_a_refund_reads_back_as_refunded_not_charged_back():
    from payments.providers.multisafepay.adapter import MultiSafepayAdapter

    order = {"order_id": "pa_1", "amount": 5395, "amount_refunded": 2000, "currency": "EUR",
             "status": "partial_refunded", "financial_status": "completed"}
    payment = MultiSafepayAdapter.to_payment(order, "pa_1")
    assert payment.refunded == 2000 and not payment.charged_back
