"""One paid checkout per order: two tabs, the back button and a resubmitted cart never leave two payments."""
from urllib.parse import urlparse

import pytest

from payments.models import PaymentAttempt
from payments.services.payment_start import payment_start, return_url
from payments.states import SUCCESSFUL, Status
from shop.models import Order
from tests.factories import make_order
from tests.integration.klarna_flow import authorization, authorize, post_token

pytestmark = pytest.mark.django_db(transaction=True)


def klarna_order(emulator, order_id):
    return next(o for o in emulator.control("GET", "/_emulator/klarna/orders")["orders"] if o["order_id"] == order_id)


def test_klarna_two_tabs_the_old_widget_places_no_second_order(emulator, client):
    order = make_order()
    first = payment_start(order=order, route="klarna_payments")
    token_1 = authorize(emulator, first)           # tab 2 keeps this widget open
    client.post(urlparse(return_url(first)).path, {"declined": "1"})  # tab 1 says no, then "try again"
    first.refresh_from_db()
    assert first.status == Status.FAILED
    second = payment_start(order=order, route="klarna_payments")
    assert second.pk != first.pk
    assert post_token(client, first, token_1).status_code == 303   # tab 2 approves the old widget
    first.refresh_from_db()
    assert first.status == Status.FAILED  # a newer attempt stands: the old approval is released, not placed
    assert authorization(emulator, token_1)["cancelled"] and not emulator.control(
        "GET", "/_emulator/klarna/orders")["orders"]
    token_2 = authorize(emulator, second)
    assert post_token(client, second, token_2).status_code == 303  # tab 1 approves too
    second.refresh_from_db()
    assert second.status == Status.AUTHORIZED and second.duplicate_of is None
    assert klarna_order(emulator, second.provider_reference)["status"] == "AUTHORIZED"
    assert len(emulator.control("GET", "/_emulator/klarna/orders")["orders"]) == 1
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID
    assert not second.operations.exists()  # nothing to undo


def test_resubmitted_checkout_supersedes_the_open_payment(emulator, client):
    order = make_order()
    first = payment_start(order=order, route="next")
    second = payment_start(order=order, route="next")
    first.refresh_from_db()
    assert first.status == Status.EXPIRED and first.failure_reason == "Replaced by a newer checkout"
    assert second.status == Status.PENDING


def test_back_button_second_29_next_payment_is_refunded_at_29_next(emulator, client):
    order = make_order()
    first = payment_start(order=order, route="next")
    second = payment_start(order=order, route="next")
    for attempt in (second, first):  # the shopper pays the new page, then the old one in another tab
        done = emulator.complete_checkout(attempt.redirect_url, "approve")
        client.post(urlparse(done["return_url"]).path, {"response": done["response"]})
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.status in SUCCESSFUL and second.duplicate_of is None
    assert first.duplicate_of_id == second.pk
    assert PaymentAttempt.objects.filter(duplicate_of__isnull=False).count() == 1
    # The emulator's store captures at once: the duplicate is refunded in full at 29 Next.
    assert first.status == Status.REFUNDED and first.refunded_amount == first.amount
    assert next_order(emulator, first.provider_reference)["payment_status"] == "refunded"
    assert next_order(emulator, second.provider_reference)["payment_status"] == "paid"
    assert first.operations.get(kind="refund").result == "done"
    assert first.events.filter(source="duplicate").exists() and second.events.filter(source="duplicate").exists()
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID


def test_an_authorized_29_next_duplicate_is_cancelled(emulator, client):
    emulator.control("PATCH", "/_emulator/config", {"next": {"klarna_payment_status": "authorized"}})
    order = make_order()
    first = payment_start(order=order, route="next")
    second = payment_start(order=order, route="next")
    for attempt in (second, first):
        done = emulator.complete_checkout(attempt.redirect_url, "approve")
        client.post(urlparse(done["return_url"]).path, {"response": done["response"]})
    first.refresh_from_db()
    assert first.status == Status.CANCELLED and first.duplicate_of_id == second.pk
    assert next_order(emulator, first.provider_reference)["status"] == "canceled"
    assert first.operations.get(kind="cancel").result == "done"
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID


def next_order(emulator, number):
    return next(o for o in emulator.control("GET", "/_emulator/next/orders")["orders"] if o["number"] == number)


def test_a_replaced_29_next_payment_whose_webhook_never_came_is_refunded_by_reconcile(emulator, client):
    from payments.services.reconcile import payments_reconcile

    order = make_order()
    first = payment_start(order=order, route="next")
    second = payment_start(order=order, route="next")
    done = emulator.complete_checkout(second.redirect_url, "approve")
    client.post(urlparse(done["return_url"]).path, {"response": done["response"]})
    emulator.complete_checkout(first.redirect_url, "approve")  # the old tab pays too, and is closed
    first.refresh_from_db()
    assert first.status == Status.EXPIRED
    payments_reconcile(older_than=0)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.duplicate_of_id == second.pk and first.status == Status.REFUNDED
    assert next_order(emulator, first.provider_reference)["payment_status"] == "refunded"
    assert next_order(emulator, second.provider_reference)["payment_status"] == "paid"
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID


def test_the_order_paid_by_the_newer_tab_is_offered_upsells_on_that_payment(emulator, client):
    """Probe F F9: the upsell went by the oldest successful checkout attempt, which was the older tab's
    refunded duplicate, so the paid order was offered nothing (and an offer would have charged the
    duplicate's provider order)."""
    from payments.selectors import paid_checkout_attempt, upsell_offers_for
    from shop.models import UpsellOffer
    from tests.factories import make_product

    order = make_order()
    UpsellOffer.objects.create(name="Add a second mug", product=make_product(price=1850, next_product_id=777),
                               price=1290)
    first = payment_start(order=order, route="next")
    second = payment_start(order=order, route="next")
    for attempt in (second, first):  # the new page is paid, then the old one in another tab
        done = emulator.complete_checkout(attempt.redirect_url, "approve")
        client.post(urlparse(done["return_url"]).path, {"response": done["response"]})
    first.refresh_from_db()
    assert first.duplicate_of_id == second.pk and first.status == Status.REFUNDED
    assert paid_checkout_attempt(order) == second
    assert [o.name for o in upsell_offers_for(order)] == ["Add a second mug"]


def test_an_order_the_merchant_withdrew_after_a_declined_try_stays_withdrawn(emulator, client, settings):
    """Probe G F8: the first try was declined, the second paid; the merchant cancelled that payment in admin.
    The order became "payment failed", not cancelled, so "Try again" (or an old page) paid it once more. Now it
    is cancelled: a retry is refused, and a payment that still arrives from an old page is undone."""
    from payments.exceptions import OrderCancelledByShop
    from payments.services.order_management import payment_cancel
    from tests.integration.multisafepay_flow import come_back

    settings.PAYMENT_ROUTES = ["next", "multisafepay"]
    order = make_order(route="multisafepay")
    declined = payment_start(order=order, route="multisafepay")
    come_back(client, emulator, declined, "decline")
    old_page = payment_start(order=order, route="multisafepay")          # a tab left open on this one
    payer = payment_start(order=order, route="multisafepay")
    come_back(client, emulator, payer)
    payer.refresh_from_db()
    assert payer.status == Status.AUTHORIZED and Order.objects.get(pk=order.pk).status == Order.Status.PAID

    payment_cancel(attempt_id=payer.pk, user="merchant")
    assert Order.objects.get(pk=order.pk).status == Order.Status.CANCELLED
    with pytest.raises(OrderCancelledByShop):
        payment_start(order=order, route="multisafepay")

    come_back(client, emulator, old_page)  # the old tab pays anyway
    old_page.refresh_from_db()
    assert old_page.duplicate_of_id == payer.pk and old_page.status == Status.CANCELLED  # voided at MultiSafepay
    assert Order.objects.get(pk=order.pk).status == Order.Status.CANCELLED


def a_duplicate_whose_undo_failed(emulator, client):
    """Two 29 Next pages of one order, both paid: the newer pays the order, the older is a duplicate whose
    refund 29 Next refused for now. Returns (the duplicate, the payer)."""
    order = make_order()
    first = payment_start(order=order, route="next")
    second = payment_start(order=order, route="next")
    done = emulator.complete_checkout(second.redirect_url, "approve")
    client.post(urlparse(done["return_url"]).path, {"response": done["response"]})
    first_done = emulator.complete_checkout(first.redirect_url, "approve")
    emulator.control("POST", "/_emulator/faults", json={  # no more orders are created: this is the refund
        "method": "POST", "path": "/next/api/admin/orders/", "kind": "error", "status": 400, "times": 1})
    client.post(urlparse(first_done["return_url"]).path, {"response": first_done["response"]})
    first.refresh_from_db()
    assert first.duplicate_of_id == second.pk and first.status == Status.CAPTURED and first.refunded_amount == 0
    return first, second


def test_a_duplicate_partly_refunded_at_29_next_meanwhile_is_refunded_only_the_rest(emulator, client):
    """The undo of a duplicate failed (29 Next refused the refund for now); meanwhile the merchant refunded
    part of it in 29 Next's dashboard, and no webhook told the shop. The undo tried again refunds what 29
    Next still holds, not the whole payment from our books (which 29 Next would refuse forever)."""
    from payments.providers.registry import get_adapter
    from payments.services.duplicates import checkout_duplicate_settle

    first, second = a_duplicate_whose_undo_failed(emulator, client)

    get_adapter("next").refund(first.provider_reference, amount=1000, key="dashboard-refund")  # at 29 Next
    assert checkout_duplicate_settle(attempt_id=first.pk)  # reconcile's retry
    first.refresh_from_db()
    assert first.status == Status.REFUNDED and first.refunded_amount == first.amount
    assert next_order(emulator, first.provider_reference)["payment_status"] == "refunded"
    assert first.operations.get(kind="refund", result="done").amount == first.amount - 1000


def test_a_duplicate_refunded_in_full_at_29_next_meanwhile_is_booked_not_called_undoable(emulator, client):
    """The same, refunded in full in 29 Next's dashboard: the retry found nothing left to refund and said the
    route "cannot undo the payment from the shop", and reconcile read the order again on every run. The
    books now take 29 Next's word: refunded, nothing more to do."""
    from payments.providers.registry import get_adapter
    from payments.services.duplicates import checkout_duplicate_settle

    first, second = a_duplicate_whose_undo_failed(emulator, client)

    get_adapter("next").refund(first.provider_reference, amount=first.amount, key="dashboard-refund")
    assert checkout_duplicate_settle(attempt_id=first.pk)
    first.refresh_from_db()
    assert first.status == Status.REFUNDED and first.refunded_amount == first.amount
    assert not first.events.filter(message__contains="cannot undo").exists()
    assert not first.operations.filter(kind="refund", result="done").exists()  # 29 Next had given it all back
