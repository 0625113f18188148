"""29 Next upsells on a store whose Klarna payments are only authorized: each upsell is authorized on its own
line, and goes with the order's capture, cancel or refund; two at the same price are never confused."""

import pytest

from payments.models import Upsell
from payments.services.upsells import upsell_charge
from payments.states import Status
from shop.links import order_url
from shop.models import Order, UpsellOffer
from tests.factories import make_product
from tests.integration.next_flow import pay, provider_requests
from tests.integration.next_upsells.flow import provider_transactions
from tests.integration.upsell_flow import accept

pytestmark = pytest.mark.django_db(transaction=True)


# --- an authorize-only store: the upsell is only authorized, and goes with the order's cancel or capture ---
def test_upsell_on_an_authorize_only_store_is_authorized_and_cancelled_with_the_order(
        emulator, client, offer, authorize_only):
    from payments.services.order_management import payment_cancel

    order, checkout, number = pay(emulator, client)
    assert checkout.status == Status.AUTHORIZED
    accept(client, order, offer)
    upsell = Upsell.objects.get()
    assert upsell.attempt.status == Status.AUTHORIZED  # 29 Next took nothing yet
    assert upsell.state == "added"
    assert provider_transactions(emulator, number)[-1] == ("authorize", "12.90")
    payment_cancel(attempt_id=checkout.pk)
    checkout.refresh_from_db()
    upsell.attempt.refresh_from_db()
    order.refresh_from_db()
    assert checkout.status == Status.CANCELLED
    assert upsell.attempt.status == Status.CANCELLED
    assert order.status != Order.Status.PAID
    # What the shopper's page polls says what happened to the extra: cancelled, not declined.
    assert upsell.state == "cancelled"
    status = client.get(order_url(order, "shop:order_confirmation").replace("thanks/", "upsells.json")).json()
    assert status["upsells"][0]["state"] == "cancelled"


def test_upsell_on_an_authorize_only_store_is_captured_with_the_order(emulator, client, offer, authorize_only):
    from payments.services.order_management import payment_capture

    order, checkout, number = pay(emulator, client)
    accept(client, order, offer)
    payment_capture(attempt_id=checkout.pk)
    upsell = Upsell.objects.get()
    checkout.refresh_from_db()
    order.refresh_from_db()
    assert (checkout.status, upsell.attempt.status) == (Status.CAPTURED, Status.CAPTURED)
    assert checkout.captured_amount == checkout.amount + 1290
    assert order.status == Order.Status.PAID


def test_an_authorized_upsell_read_back_after_an_unknown_outcome_stays_authorized(
        emulator, client, offer, authorize_only):
    order, _, number = pay(emulator, client)
    emulator.control("POST", "/_emulator/faults", json={"method": "POST", "path": "/next/api/admin/orders/",
                                                        "times": 1, "kind": "error", "status": 500, "when": "after"})
    accept(client, order, offer)
    upsell = Upsell.objects.get()
    assert upsell.attempt.status == Status.PENDING
    assert upsell_charge(upsell_id=upsell.pk).state == "added"
    upsell.attempt.refresh_from_db()
    assert upsell.attempt.status == Status.AUTHORIZED
    assert len(provider_requests(emulator, "POST", "add-line-items", at_least=1)) == 1


def test_a_whole_order_refund_refunds_its_upsell_too(emulator, client, offer, authorize_only):
    """Probe E F4, probe F F11: after the whole 29 Next order was refunded, the upsell still read
    'Paid (captured)' (and counted among the successful payments)."""
    from payments.services.order_management import payment_capture, payment_refund

    order, checkout, number = pay(emulator, client)
    accept(client, order, offer)
    payment_capture(attempt_id=checkout.pk)
    checkout.refresh_from_db()
    payment_refund(attempt_id=checkout.pk, amount=checkout.captured_amount)
    checkout.refresh_from_db()
    upsell = Upsell.objects.get()
    assert (checkout.status, upsell.attempt.status) == (Status.REFUNDED, Status.REFUNDED)


# --- two offers at the same price on one order ---------------------------------------------------------
# A 29 Next order's lines and transactions name no upsell of ours but for the tag we put in the line's
# metadata; the transaction that charged a line is the one of its amount. Two extras at one price must
# still each be booked once, on their own line, with their own product, whatever order their answers
# come back in.
@pytest.mark.parametrize("lost", ["after", "before"])
def test_two_upsells_at_the_same_price_are_each_booked_on_their_own_line(emulator, client, authorize_only, lost):
    """The first extra's add-line-items answer is lost (`after`: 29 Next added it; `before`: it never got
    there); the second, at the same price, is added meanwhile; the first's retry reads the order back. Each is
    found by its own line (not by its amount, which the other's line has too), charged once, and booked with
    its own product; the capture then takes both."""
    from payments.services.order_management import payment_capture

    mug = UpsellOffer.objects.create(name="A second mug", price=1290,
                                     product=make_product(name="Mug", price=1850, next_product_id=777))
    towel = UpsellOffer.objects.create(name="A tea towel", price=1290,
                                       product=make_product(name="Tea towel", price=1500, next_product_id=778))
    order, checkout, number = pay(emulator, client)
    total = order.total
    fault = {"kind": "error", "status": 500, "when": "after"} if lost == "after" else \
        {"kind": "error", "status": 503}
    emulator.control("POST", "/_emulator/faults", json={"method": "POST", "path": "/next/api/admin/orders/",
                                                        "times": 1, **fault})
    accept(client, order, mug)
    first = Upsell.objects.get()
    assert first.attempt.status == Status.PENDING
    accept(client, order, towel)
    second = Upsell.objects.exclude(pk=first.pk).get()
    assert second.state == "added"
    assert upsell_charge(upsell_id=first.pk).state == "added"  # the task's retry
    assert upsell_charge(upsell_id=first.pk).state == "added"  # and again: nothing more

    at_29next = next(o for o in emulator.control("GET", "/_emulator/next/orders")["orders"] if o["number"] == number)
    lines = {line["metadata"]["shop_upsell"]: (line["product_id"], line["price_incl_tax"])
             for line in at_29next["lines"] if line["is_upsell"]}
    assert lines == {first.reference: (777, "12.90"), second.reference: (778, "12.90")}
    assert len([line for line in at_29next["lines"] if line["is_upsell"]]) == 2
    assert provider_transactions(emulator, number)[1:] == [("authorize", "12.90"), ("authorize", "12.90")]
    sent = 2 if lost == "after" else 3  # a request that never got through is sent again
    assert len(provider_requests(emulator, "POST", "add-line-items", at_least=sent)) == sent
    for upsell in (first, second):
        upsell.refresh_from_db()
        upsell.attempt.refresh_from_db()
        assert (upsell.state, upsell.attempt.status, upsell.attempt.amount) == ("added", Status.AUTHORIZED, 1290)
    order.refresh_from_db()
    assert order.total == total + 2 * 1290
    assert sorted(order.lines.filter(is_upsell=True).values_list("product__name", "unit_price", "quantity")) == [
        ("Mug", 1290, 1), ("Tea towel", 1290, 1)]

    payment_capture(attempt_id=checkout.pk)
    checkout.refresh_from_db()
    assert checkout.status == Status.CAPTURED and checkout.captured_amount == checkout.amount + 2 * 1290
    assert {u.attempt.status for u in Upsell.objects.select_related("attempt")} == {Status.CAPTURED}


def test_a_same_price_upsell_added_after_the_capture_is_booked_captured_and_the_first_stays_captured(
        emulator, client, authorize_only):
    """The first extra is authorized and then captured with the order; the second, at the same price, is
    charged after the capture (29 Next debits it). Each keeps its own line and its own status."""
    from payments.services.order_management import payment_capture

    mug = UpsellOffer.objects.create(name="A second mug", price=1290,
                                     product=make_product(name="Mug", price=1850, next_product_id=777))
    towel = UpsellOffer.objects.create(name="A tea towel", price=1290,
                                       product=make_product(name="Tea towel", price=1500, next_product_id=778))
    order, checkout, number = pay(emulator, client)
    accept(client, order, mug)
    first = Upsell.objects.get()
    assert first.attempt.status == Status.AUTHORIZED
    payment_capture(attempt_id=checkout.pk)
    first.attempt.refresh_from_db()
    assert first.attempt.status == Status.CAPTURED
    accept(client, order, towel)
    second = Upsell.objects.exclude(pk=first.pk).get()
    assert provider_transactions(emulator, number)[-1] == ("debit", "12.90")
    first.attempt.refresh_from_db()
    second.attempt.refresh_from_db()
    assert (first.attempt.status, second.attempt.status) == (Status.CAPTURED, Status.CAPTURED)
    assert first.attempt.amount == second.attempt.amount == 1290
    order.refresh_from_db()
    assert sorted(order.lines.filter(is_upsell=True).values_list("product__name", flat=True)) == ["Mug", "Tea towel"]
