"""MultiSafepay order management from admin against the emulator (issue 11, "Lifecycle from admin"): ship
(the capture of the whole order, with carrier and tracking), refunds as cart lines, cancel before shipping;
each a PaymentOperation in the timeline, refused with the reason, and never above what was paid."""
import json
from datetime import timedelta

import pytest
from django.urls import reverse

from payments.admin.operations import ExpiringFilter
from payments.models import PaymentAttempt, PaymentOperation
from payments.services import order_management as om
from payments.services.payment_start import payment_start
from payments.states import Status
from tests.factories import make_order, make_product
from tests.integration.admin_forms import confirm
from tests.integration.multisafepay_flow import decide, msp_orders

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def paid(emulator, client):
    """An authorised MultiSafepay order of 2 mugs at 25.00 and 4.95 shipping (54.95)."""
    attempt = payment_start(order=make_order(route="multisafepay"), route="multisafepay")
    path, query = decide(emulator, attempt, "approve")
    assert "/thanks/" in client.get(f"{path}?{query}")["Location"]
    attempt.refresh_from_db()
    assert attempt.status == Status.AUTHORIZED and attempt.amount == 5495
    return attempt


def operation(admin_client, attempt, name, **data):
    url = reverse("admin:payments_paymentattempt_operation", args=[attempt.pk, name])
    return confirm(admin_client, url, data, follow=True)


def msp(emulator, attempt):
    return msp_orders(emulator)[attempt.reference]


def test_ship_from_admin_captures_the_whole_order_with_tracking(emulator, paid, admin_client):
    page = admin_client.get(reverse("admin:payments_paymentattempt_change", args=[paid.pk])).content.decode()
    assert "/operation/capture/" in page and "/operation/cancel/" in page
    assert "/operation/release/" not in page and "/operation/extend/" not in page

    partial = operation(admin_client, paid, "capture", amount="10.00", tracking_number="", carrier="")
    assert "captures the whole order at once" in partial.content.decode()
    assert msp(emulator, paid)["status"] == "completed" and not PaymentOperation.objects.exists()

    operation(admin_client, paid, "capture", amount="", tracking_number="3SMSP0123456789", carrier="PostNL")
    paid.refresh_from_db()
    assert paid.status == Status.CAPTURED and paid.captured_amount == 5495
    order = msp(emulator, paid)
    assert order["status"] == "shipped"
    assert order["shipping"]["carrier"] == "PostNL" and order["shipping"]["tracktrace_code"] == "3SMSP0123456789"
    assert paid.operations.get().result == "done"
    assert paid.events.filter(kind="transition", to_status=Status.CAPTURED).exists()


def test_refunds_from_admin_are_sent_as_cart_lines_and_never_above_what_was_paid(emulator, paid, admin_client):
    om.payment_capture(attempt_id=paid.pk)
    operation(admin_client, paid, "refund", amount="12.90", description="one mug chipped")
    paid.refresh_from_db()
    assert paid.refunded_amount == 1290 and paid.status == Status.PARTIALLY_REFUNDED
    assert msp(emulator, paid)["amount_refunded"] == 1290 and msp(emulator, paid)["status"] == "partial_refunded"
    sent = [r for r in emulator.control("GET", "/_emulator/requests?provider=multisafepay")["requests"]
            if r["path"].endswith("/refunds")]
    items = json.loads(sent[-1]["body"])["checkout_data"]["items"]
    assert len(items) == 3 and items[-1]["unit_price"] < 0
    assert items[-1]["merchant_item_id"] == items[0]["merchant_item_id"]

    too_much = operation(admin_client, paid, "refund", amount="42.06", description="")  # 54.95 - 12.90 = 42.05
    assert "more than the" in too_much.content.decode()
    with pytest.raises(om.OperationRefused):
        om.payment_refund(attempt_id=paid.pk, amount=5495)
    assert msp(emulator, paid)["amount_refunded"] == 1290 and paid.operations.filter(kind="refund").count() == 1

    operation(admin_client, paid, "refund", amount="42.05", description="rest")
    paid.refresh_from_db()
    assert paid.status == Status.REFUNDED and paid.refunded_amount == 5495
    assert msp(emulator, paid)["status"] == "refunded"


def test_a_refusal_by_msp_is_shown_with_its_reason_and_changes_nothing(emulator, paid, admin_client):
    om.payment_capture(attempt_id=paid.pk)
    om.payment_refund(attempt_id=paid.pk, amount=500)
    again = operation(admin_client, paid, "refund", amount="5.00", description="")  # identical within 5 minutes
    assert "1034" in again.content.decode()
    paid.refresh_from_db()
    assert paid.refunded_amount == 500 and paid.operations.filter(result="refused").count() == 1
    assert paid.events.filter(kind="rejected").exists()


def test_cancel_before_shipping_voids_the_authorisation(emulator, paid, admin_client):
    operation(admin_client, paid, "cancel")
    paid.refresh_from_db()
    assert paid.status == Status.CANCELLED and msp(emulator, paid)["status"] == "void"
    assert paid.operations.get(kind="cancel").result == "done"
    assert PaymentAttempt.objects.get(pk=paid.pk).order.status == "cancelled"


def test_a_shipped_order_offers_refund_but_no_cancel(emulator, paid, admin_client):
    om.payment_capture(attempt_id=paid.pk)
    paid.refresh_from_db()
    assert om.operations_allowed(paid) == [om.Operation.REFUND]
    with pytest.raises(om.OperationRefused):
        om.payment_cancel(attempt_id=paid.pk)


@pytest.mark.parametrize("first, reason", [("capture", "already captured"), ("cancel", "already cancelled")])
def test_a_late_whole_order_capture_says_what_happened_not_that_the_amount_is_wrong(emulator, paid, first, reason):
    # A double click's twin, or a second tab: its amount was read before the first action landed.
    (om.payment_capture if first == "capture" else om.payment_cancel)(attempt_id=paid.pk)
    with pytest.raises(om.OperationRefused, match=reason) as refused:
        om.payment_capture(attempt_id=paid.pk, amount=paid.amount)
    assert "captures the whole order at once" not in str(refused.value)
    assert paid.operations.count() == 1


def test_authorisations_appear_in_the_expiring_filter_28_days_after_approval(emulator, paid):
    def expiring():
        return list(ExpiringFilter(None, {"expiring": "7"}, PaymentAttempt, None)
                    .queryset(None, PaymentAttempt.objects.all()))

    expires = paid.authorization_expires_at
    assert 27.9 < (expires - paid.created_at).total_seconds() / 86400 <= 28.01
    assert expiring() == []
    # 22 days on, the same deadline is 6 days away: the merchant sees it among those to ship soon.
    PaymentAttempt.objects.filter(pk=paid.pk).update(authorization_expires_at=expires - timedelta(days=22))
    assert expiring() == [PaymentAttempt.objects.get(pk=paid.pk)]


def test_a_refund_msp_rounding_cannot_express_is_refused_before_the_call(emulator, client):
    # One 20 % line of 10.05 cannot even be ordered; a 20 % cart of 12.00 can, but not every refund of it.
    order = make_order(route="multisafepay", items=[(make_product(price=1200, vat_rate_bp=2000), 1)], shipping_fee=0)
    attempt = payment_start(order=order, route="multisafepay")
    path, query = decide(emulator, attempt, "approve")
    client.get(f"{path}?{query}")
    om.payment_capture(attempt_id=attempt.pk)
    refused = []
    for amount in range(1, 40):
        try:
            om.payment_refund(attempt_id=attempt.pk, amount=amount)
        except om.OperationRefused as exc:
            refused.append((amount, str(exc)))
    assert refused, "some 20 % refunds have no cart lines under MSP's rule"
    assert all("cannot refund" in text for _, text in refused)
    attempt.refresh_from_db()
    assert attempt.refunded_amount == sum(range(1, 40)) - sum(a for a, _ in refused)
    assert attempt.refunded_amount == msp(emulator, attempt)["amount_refunded"]


def test_a_refund_whose_answer_was_lost_is_read_back_before_it_is_sent_again(emulator, paid, monkeypatch):
    """Probe E F6: MultiSafepay has no idempotency key. A refund it made whose answer was lost (and whose
    read-back failed too) was sent again by the merchant's retry: refunded twice, or, within MultiSafepay's
    five minutes, refused as identical and booked as refused although the money had moved."""
    om.payment_capture(attempt_id=paid.pk)
    emulator.control("POST", "/_emulator/faults", json={
        "method": "POST", "path": f"/multisafepay/v1/json/orders/{paid.reference}/refunds", "kind": "error",
        "status": 503, "when": "after", "times": 1})
    with monkeypatch.context() as unreadable:
        # The read-back right after the lost answer fails too (MultiSafepay briefly down).
        unreadable.setattr(om, "operation_settle", lambda *, operation_id, **kw: PaymentOperation.objects.get(
            pk=operation_id))
        op = om.payment_refund(attempt_id=paid.pk, amount=400)
    assert op.result == "pending"  # done at MultiSafepay, unknown here
    assert msp(emulator, paid)["amount_refunded"] == 400
    again = om.payment_refund(attempt_id=paid.pk, amount=400)  # the merchant tries again
    assert again.pk == op.pk and again.result == "done"
    assert msp(emulator, paid)["amount_refunded"] == 400  # read back, not sent twice
    paid.refresh_from_db()
    assert paid.refunded_amount == 400


def test_a_refund_whose_order_cannot_be_read_is_refused_as_not_sent(emulator, paid):
    """Probe E F12: the refund reads the order first (its cart lines); a failed read was reported as "sent,
    but the answer was lost", an unknown outcome later credited with another refund's effect."""
    om.payment_capture(attempt_id=paid.pk)
    emulator.control("POST", "/_emulator/faults", json={
        "method": "GET", "path": f"/multisafepay/v1/json/orders/{paid.reference}", "kind": "error",
        "status": 503, "times": 100})
    with pytest.raises(om.OperationRefused, match="no refund was sent"):
        om.payment_refund(attempt_id=paid.pk, amount=400)
    emulator.control("DELETE", "/_emulator/faults")
    assert paid.operations.get(kind="refund").result == "refused"
    assert msp(emulator, paid)["amount_refunded"] == 0


def test_the_operation_page_shows_the_authorization_expiry_only_while_some_is_left_to_capture(
        emulator, paid, admin_client):
    """A MultiSafepay payment shipped (captured in full) still said "Authorization expires …" on its refund
    page: nothing is left to capture, so that expiry means nothing any more."""
    def page(name):
        url = reverse("admin:payments_paymentattempt_operation", args=[paid.pk, name])
        response = admin_client.get(url)
        assert response.status_code == 200
        return response.content.decode()

    assert paid.authorization_expires_at is not None
    assert "Authorization expires" in page("capture")
    om.payment_capture(attempt_id=paid.pk)
    paid.refresh_from_db()
    assert paid.status == Status.CAPTURED and paid.authorization_expires_at is not None
    assert "Authorization expires" not in page("refund")


def test_the_payment_page_shows_the_authorization_expiry_only_while_the_payment_is_authorized(
        emulator, paid, admin_client):
    """The same on the payment's own page: its "authorization expires" field read the stored date whatever
    the payment's status."""
    from django.utils import timezone
    from django.utils.formats import date_format

    def expiry_row():
        html = admin_client.get(reverse("admin:payments_paymentattempt_change", args=[paid.pk])).content.decode()
        start = html.index("field-authorization_expiry")
        return html[start:html.index("</div>", html.index("readonly", start))]

    shown = date_format(timezone.localtime(paid.authorization_expires_at), "DATETIME_FORMAT")
    assert shown in expiry_row()
    om.payment_capture(attempt_id=paid.pk)
    paid.refresh_from_db()
    assert paid.status == Status.CAPTURED and paid.authorization_expires_at is not None
    assert shown not in expiry_row() and "—" in expiry_row()
