"""29 Next order figures and refund allocation, read from an order's transactions (no network)."""
import pytest

from payments.exceptions import ProviderRequestError
from payments.providers.next import wire
from payments.providers.next.order_actions import _allocate, _captured_id


def txn(id, type, amount, parent=None, status="succeeded"):
    return {"id": id, "type": type, "amount": amount, "parent_id": parent, "status": status}


def order(*transactions, total="46.85", status="open"):
    return {"number": "100001", "total_incl_tax": total, "status": status, "transactions": list(transactions)}


def test_an_authorization_with_an_upsell_is_all_left_to_capture():
    held = order(txn(1, "authorize", "33.95"), txn(2, "authorize", "12.90"), txn(3, "debit", "5.00", status="failed"))
    assert wire.figures(held) == {"order_total": 4685, "captured": 0, "refunded": 0, "remaining": 4685}
    assert _captured_id(held) == ""


def test_captured_then_partly_refunded():
    taken = order(txn(1, "authorize", "33.95"), txn(2, "authorize", "12.90"), txn(3, "capture", "33.95", 1),
                  txn(4, "capture", "12.90", 2), txn(5, "refund", "10.00", 3))
    assert wire.figures(taken) == {"order_total": 4685, "captured": 4685, "refunded": 1000, "remaining": 0}
    assert _captured_id(taken) == "3,4"
    # Oldest first, each at most what is left of it.
    assert _allocate(taken, 3000) == [{"id": 3, "amount": "23.95"}, {"id": 4, "amount": "6.05"}]
    with pytest.raises(ProviderRequestError):
        _allocate(taken, 3686)


def test_a_voided_or_cancelled_order_has_nothing_left():
    voided = order(txn(1, "authorize", "46.85"), txn(2, "void", "46.85", 1))
    assert wire.figures(voided)["remaining"] == 0
    assert wire.figures(order(txn(1, "authorize", "46.85"), status="canceled"))["remaining"] == 0
