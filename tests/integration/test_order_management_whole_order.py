"""Order management acts on the provider's order as a whole: a Klarna upsell raises the same order's
authorization, so capture, refund, cancel and release are offered on the checkout payment, with limits
read back from Klarna, and afterwards every payment on that order shows what Klarna says."""
import pytest

from payments.models import PaymentAttempt, Upsell
from payments.providers.types import Operation
from payments.services.order_management import (
    OperationRefused,
    operations_allowed,
    payment_cancel,
    payment_capture,
    payment_refund,
    payment_release_remaining,
    provider_order,
)
from payments.states import Status
from shop.models import Order, UpsellOffer
from tests.factories import make_order, make_product
from tests.integration.klarna_flow import pay_with_klarna
from tests.integration.upsell_flow import accept

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def with_upsell(emulator, client):
    order = make_order()
    checkout = pay_with_klarna(emulator, client, order)
    session = client.session
    session["last_order"] = order.number
    session.save()
    offer = UpsellOffer.objects.create(name="Second mug", product=make_product(price=1850), price=1290)
    accept(client, order, offer)
    upsell = Upsell.objects.get()
    assert upsell.state == "added"
    return order, checkout, upsell.attempt


def klarna_order(emulator, order_id):
    return next(o for o in emulator.control("GET", "/_emulator/klarna/orders")["orders"] if o["order_id"] == order_id)


def test_the_upsell_payment_offers_nothing_and_refuses_everything(with_upsell):
    order, checkout, upsell = with_upsell
    assert operations_allowed(upsell) == []
    for action in (payment_cancel, payment_release_remaining):
        with pytest.raises(OperationRefused):
            action(attempt_id=upsell.pk)
    assert provider_order(upsell).head.pk == checkout.pk


def test_capture_limit_includes_the_upsell(with_upsell, emulator):
    order, checkout, upsell = with_upsell
    whole = checkout.amount + upsell.amount
    assert provider_order(checkout).remaining == whole
    payment_capture(attempt_id=checkout.pk)  # everything left, upsell included
    assert klarna_order(emulator, checkout.provider_reference)["status"] == "CAPTURED"
    for attempt in (checkout, upsell):
        attempt.refresh_from_db()
        assert attempt.status == Status.CAPTURED
    checkout.refresh_from_db()
    assert checkout.captured_amount == whole


def test_capture_refund_then_release_follow_klarnas_order(with_upsell, emulator):
    order, checkout, upsell = with_upsell
    payment_capture(attempt_id=checkout.pk, amount=3000)
    payment_refund(attempt_id=checkout.pk, amount=1000)
    assert Operation.RELEASE in operations_allowed(checkout)
    payment_release_remaining(attempt_id=checkout.pk)
    provider = klarna_order(emulator, checkout.provider_reference)
    assert provider["status"] == "CAPTURED" and provider["remaining_authorized_amount"] == 0
    checkout.refresh_from_db()
    upsell.refresh_from_db()
    assert checkout.captured_amount == 3000 and checkout.refunded_amount == 1000
    assert checkout.status == Status.PARTIALLY_REFUNDED and upsell.status == Status.CAPTURED
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID


def test_cancel_cancels_every_payment_on_the_order(with_upsell, emulator):
    order, checkout, upsell = with_upsell
    payment_cancel(attempt_id=checkout.pk)
    assert klarna_order(emulator, checkout.provider_reference)["status"] == "CANCELLED"
    statuses = set(PaymentAttempt.objects.filter(order=order).values_list("status", flat=True))
    assert statuses == {Status.CANCELLED}
    assert Order.objects.get(pk=order.pk).status == Order.Status.CANCELLED


def test_admin_offers_only_what_the_route_and_state_allow(with_upsell, admin_client, emulator, client):
    from django.urls import reverse

    from tests.integration.next_flow import pay

    order, checkout, upsell = with_upsell
    page = admin_client.get(reverse("admin:payments_paymentattempt_change", args=[checkout.pk])).content.decode()
    assert "Capture" in page and "Cancel authorization" in page and "Release remaining" not in page
    upsell_page = admin_client.get(reverse("admin:payments_paymentattempt_change", args=[upsell.pk])).content.decode()
    assert "manage it there" in upsell_page
    _, next_attempt, _ = pay(emulator, client)  # captured at once (the emulator's default store)
    next_page = admin_client.get(reverse("admin:payments_paymentattempt_change", args=[next_attempt.pk]))
    assert "/operation/refund/" in next_page.content.decode()  # 29 Next refunds from the shop
    assert "/operation/release/" not in next_page.content.decode()  # and offers no release at all
    forced = admin_client.post(reverse("admin:payments_paymentattempt_operation", args=[next_attempt.pk, "release"]),
                               {"confirmed": "1"})
    assert forced.status_code == 302 and not next_attempt.operations.exists()
