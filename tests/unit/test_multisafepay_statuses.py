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
