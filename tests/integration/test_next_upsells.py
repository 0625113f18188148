"""One-click post-purchase upsells on the 29 Next route, exactly once."""
import time

import pytest

from payments.models import Upsell
from payments.services.upsells import upsell_charge
from payments.states import Status
from shop.links import order_url
from shop.models import Order, UpsellOffer
from tests.factories import make_product
from tests.integration.next_flow import pay, provider_requests
from tests.integration.upsell_flow import accept, accept_url, shown_terms

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def offer():
    extra = make_product(name="Second mug", price=1850, next_product_id=777)
    return UpsellOffer.objects.create(name="Add a second mug", product=extra, price=1290)


def test_confirmation_offers_the_upsell_and_one_click_adds_it(emulator, client, offer):
    order, attempt, number = pay(emulator, client)
    assert attempt.provider_supports_upsell
    page = client.get(order_url(order, "shop:order_confirmation"))
    assert f"accept-offer-{offer.pk}".encode() in page.content
    total_before = order.total
    response = accept(client, order, offer)
    assert response.status_code == 303
    upsell = Upsell.objects.get()
    assert upsell.state == "added"
    order.refresh_from_db()
    assert order.total == total_before + 1290
    assert order.status == Order.Status.PAID
    assert order.lines.filter(is_upsell=True, unit_price=1290).count() == 1
    provider_order = emulator.control("GET", "/_emulator/next/orders")["orders"][0]
    upsell_lines = [line for line in provider_order["lines"] if line["is_upsell"]]
    assert [line["metadata"]["shop_upsell"] for line in upsell_lines] == [upsell.reference]
    status = client.get(order_url(order, "shop:order_confirmation").replace("thanks/", "upsells.json")).json()
    assert status["upsells"][0]["state"] == "added"
    assert status["upsells"][0]["order_total"] == order.total
    # The checkout payment still matches the provider's order after the upsell was added.
    from payments.services.reconcile import payments_reconcile

    assert payments_reconcile(older_than=0).rejected == 0


def test_a_refunded_order_is_offered_no_upsell_and_an_old_form_charges_nothing(emulator, client, offer):
    """Probe D F9: after the merchant refunded the order, its confirmation page offers nothing, and the
    offer's form kept from before the refund reaches no provider."""
    from payments.services.order_management import payment_refund

    order, attempt, number = pay(emulator, client)
    terms = shown_terms(client, order, offer)
    payment_refund(attempt_id=attempt.pk, amount=attempt.amount)
    page = client.get(order_url(order, "shop:order_confirmation"))
    assert f"accept-offer-{offer.pk}".encode() not in page.content
    accept(client, order, offer, terms=terms)
    assert not Upsell.objects.exists() and not provider_requests(emulator, "POST", "add-line-items")


def test_double_click_charges_once(emulator, client, offer):
    order, _, number = pay(emulator, client)
    terms = shown_terms(client, order, offer)
    accept(client, order, offer, terms=terms)
    accept(client, order, offer, terms=terms)
    assert Upsell.objects.count() == 1
    assert len(provider_requests(emulator, "POST", "add-line-items")) == 1


def test_declined_upsell_leaves_the_paid_order_untouched(emulator, client, offer):
    order, _, number = pay(emulator, client)
    emulator.control("POST", f"/_emulator/next/orders/{number}/scenario", json={"upsell": "decline", "times": 1})
    total_before = order.total
    accept(client, order, offer)
    upsell = Upsell.objects.get()
    assert upsell.state == "declined"
    order.refresh_from_db()
    assert order.total == total_before and order.status == Order.Status.PAID
    assert not order.lines.filter(is_upsell=True).exists()
    page = client.get(order_url(order, "shop:order_confirmation"))
    assert b"declined for this extra" in page.content


@pytest.mark.parametrize("fault", [
    {"kind": "error", "status": 500, "when": "after"},
    {"kind": "timeout", "seconds": 4, "when": "after"},
])
def test_unknown_outcome_is_read_back_not_charged_again(emulator, client, offer, fault):
    order, _, number = pay(emulator, client)
    emulator.control("POST", "/_emulator/faults", json={"method": "POST", "path": "/next/api/admin/orders/",
                                                        "times": 1, **fault})
    accept(client, order, offer)  # the eager task meets the fault and schedules a retry
    upsell = Upsell.objects.get()
    assert upsell.attempt.status == Status.PENDING
    outcome = upsell_charge(upsell_id=upsell.pk)  # the retry
    assert outcome.state == "added"
    time.sleep(fault.get("seconds", 0))  # let the held request finish at the emulator
    assert len(provider_requests(emulator, "POST", "add-line-items", at_least=1)) == 1
    order.refresh_from_db()
    assert order.lines.filter(is_upsell=True).count() == 1
    assert upsell_charge(upsell_id=upsell.pk).state == "added"  # and again: still once


def test_fault_before_processing_is_charged_on_retry(emulator, client, offer):
    order, _, number = pay(emulator, client)
    emulator.control("POST", "/_emulator/faults", json={"method": "POST", "path": "/next/api/admin/orders/",
                                                        "times": 1, "kind": "error", "status": 503})
    accept(client, order, offer)
    upsell = Upsell.objects.get()
    assert upsell_charge(upsell_id=upsell.pk).state == "added"
    assert len(provider_requests(emulator, "POST", "add-line-items")) == 2  # the first never got through


def test_tampered_link_is_refused(emulator, client, offer):
    order, _, _ = pay(emulator, client)
    response = client.post(accept_url(order, offer).replace("/orders/", "/orders/x"))
    assert response.status_code == 404
    assert not Upsell.objects.exists()


@pytest.mark.parametrize("offer_id", ["9223372036854775808", "99999999999999999999"])
def test_an_offer_id_beyond_any_row_id_is_not_found(emulator, client, offer, offer_id):
    """Probe H F8: an offer id beyond 64 bits was a 500 (OverflowError) on SQLite at the upsell lookup."""
    order, _, _ = pay(emulator, client)
    url = accept_url(order, offer).replace(f"/upsells/{offer.pk}/", f"/upsells/{offer_id}/")
    response = client.post(url, {"terms": shown_terms(client, order, offer)})
    assert response.status_code == 404
    assert not Upsell.objects.exists()


def test_the_largest_row_id_is_an_offer_no_longer_available(emulator, client, offer):
    order, _, _ = pay(emulator, client)
    url = accept_url(order, offer).replace(f"/upsells/{offer.pk}/", "/upsells/9223372036854775807/")
    response = client.post(url, {"terms": shown_terms(client, order, offer)}, follow=True)
    assert b"no longer available" in response.content
    assert not Upsell.objects.exists()


def test_someone_elses_order_is_refused(emulator, client, offer, django_user_model):
    from django.test import Client

    order, _, _ = pay(emulator, client)
    stranger = Client()
    response = stranger.post(accept_url(order, offer), {"terms": shown_terms(client, order, offer)})
    assert response.status_code == 403
    assert not Upsell.objects.exists()


def test_offer_outside_its_window_or_trigger_is_not_offered(emulator, client, offer):
    from datetime import timedelta

    from django.utils import timezone

    other = make_product(name="Unrelated")
    offer.trigger_products.set([other])
    order, _, _ = pay(emulator, client)
    assert accept(client, order, offer).status_code == 302  # back to the page with a message
    assert not Upsell.objects.exists()
    offer.trigger_products.clear()
    offer.ends_at = timezone.now() - timedelta(minutes=1)
    offer.starts_at = timezone.now() - timedelta(days=1)
    offer.save()
    accept(client, order, offer)
    assert not Upsell.objects.exists()


def test_reconcile_command_settles_an_upsell_left_pending(emulator, client, offer):
    from io import StringIO

    from django.core.management import call_command

    order, _, number = pay(emulator, client)
    emulator.control("POST", "/_emulator/faults", json={"method": "POST", "path": "/next/api/admin/orders/",
                                                        "times": 1, "kind": "error", "status": 500, "when": "after"})
    accept(client, order, offer)  # eager mode: the unknown outcome waits for reconcile
    assert Upsell.objects.get().state == "pending"
    out = StringIO()
    call_command("reconcile_payments", "--older-than", "0", stdout=out)
    assert "upsells settled: 1" in out.getvalue()
    assert Upsell.objects.get().state == "added"
    assert len(provider_requests(emulator, "POST", "add-line-items", at_least=1)) == 1


def test_webhooks_about_an_upsell_match_their_payment(emulator, client, offer, live_server):
    """The upsell's order.updated and transaction.created are about our own payment: applied, never
    logged as a mismatch (a false alarm the merchant would have to investigate)."""
    from payments.models import WebhookDelivery

    emulator.control("PATCH", "/_emulator/config", json={"next": {
        "webhook_target": live_server.url + "/payments/webhooks/next/", "webhooks_sync": True}})
    order, attempt, number = pay(emulator, client)
    accept(client, order, offer)
    assert Upsell.objects.get().state == "added"
    deliveries = WebhookDelivery.objects.filter(provider="next", channel="webhook", signature_valid=True)
    assert {d.event_type for d in deliveries} >= {"order.updated", "transaction.created"}
    assert not deliveries.exclude(state__in=["applied", "ignored"]).exists(), \
        [(d.event_type, d.state, d.error) for d in deliveries.exclude(state__in=["applied", "ignored"])]


# --- an authorize-only store: the upsell is only authorized, and goes with the order's cancel or capture ---
@pytest.fixture
def authorize_only(emulator):
    emulator.control("PATCH", "/_emulator/config", json={"next": {"klarna_payment_status": "authorized"}})


def provider_transactions(emulator, number):
    order = next(o for o in emulator.control("GET", "/_emulator/next/orders")["orders"] if o["number"] == number)
    return [(t["type"], t["amount"]) for t in order["transactions"]]


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


# --- the click charges what the page showed, or nothing ------------------------------------------------
def upsell_lines_at_provider(emulator, number):
    order = next(o for o in emulator.control("GET", "/_emulator/next/orders")["orders"] if o["number"] == number)
    return [line["price_incl_tax"] for line in order["lines"] if line["is_upsell"]]


@pytest.mark.parametrize("change", ["price", "product", "deactivated"])
def test_an_offer_changed_after_the_page_showed_it_charges_nothing(emulator, client, offer, change):
    order, _, number = pay(emulator, client)
    seen = shown_terms(client, order, offer)
    assert "12.90" in client.get(order_url(order, "shop:order_confirmation")).content.decode()
    if change == "price":
        offer.price = 9900
    elif change == "product":
        offer.product = make_product(name="Big mug", price=1850, next_product_id=778)
    else:
        offer.is_active = False
    offer.save()
    response = accept(client, order, offer, terms=seen)  # the click on the page shown before the edit
    assert response.status_code == 302 and response["Location"].endswith("#upsells")
    assert not Upsell.objects.exists()
    assert provider_requests(emulator, "POST", "add-line-items") == []
    assert upsell_lines_at_provider(emulator, number) == []
    page = client.get(response["Location"]).content.decode()
    assert "Nothing was charged" in page
    if change == "price":
        assert "it was €\u00a012.90, it is now €\u00a099.00" in page
    if change == "deactivated":
        assert f"accept-offer-{offer.pk}" not in page
        return
    # The page shows the offer as it is now, and accepting that charges it.
    assert f"accept-offer-{offer.pk}" in page
    assert accept(client, order, offer).status_code == 303
    upsell = Upsell.objects.get()
    assert (upsell.state, upsell.product_id, upsell.unit_price) == ("added", offer.product_id, offer.price)
    assert upsell_lines_at_provider(emulator, number) == [f"{offer.price / 100:.2f}"]
    status = client.get(order_url(order, "shop:order_confirmation").replace("thanks/", "upsells.json")).json()
    assert status["upsells"][0]["amount"] == offer.price


def test_the_price_is_charged_as_shown_while_the_offer_is_unchanged(emulator, client, offer):
    order, _, number = pay(emulator, client)
    seen = shown_terms(client, order, offer)
    offer.name = "Add another mug"  # wording only: the terms are the same
    offer.save()
    assert accept(client, order, offer, terms=seen).status_code == 303
    assert Upsell.objects.get().unit_price == 1290
    assert upsell_lines_at_provider(emulator, number) == ["12.90"]


def test_terms_that_were_not_signed_for_this_page_charge_nothing(emulator, client, offer):
    import dataclasses

    from django.core import signing

    from payments.services.upsell_terms import OfferTerms

    other, _, _ = pay(emulator, client)
    from_another_order = shown_terms(client, other, offer)
    order, _, number = pay(emulator, client)
    genuine = OfferTerms.unsign(shown_terms(client, order, offer))
    cheaper = {**dataclasses.asdict(genuine), "unit_price": 1}
    forged = [
        "",  # a form without terms
        signing.dumps(cheaper, salt="another-salt"),  # signed with a key it does not have
        shown_terms(client, order, offer).replace(":", "x:", 1),  # altered
        from_another_order,  # genuine, for another order
    ]
    for terms in forged:
        response = accept(client, order, offer, terms=terms)
        assert response.status_code == 302
    assert not Upsell.objects.exists()
    assert provider_requests(emulator, "POST", "add-line-items") == []


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


def test_an_offer_of_a_product_priced_in_another_currency_is_not_offered_or_charged(emulator, client, offer):
    """Probe I I5: the order is charged in the shop's currency; an offer whose product is priced in another
    (a row from before products were held to it) is not for sale, so neither shown nor added."""
    from shop.models import Product

    order, _, _ = pay(emulator, client)
    Product.objects.filter(pk=offer.product_id).update(currency="USD")
    page = client.get(order_url(order, "shop:order_confirmation"))
    assert f"accept-offer-{offer.pk}".encode() not in page.content
    accept(client, order, offer)
    assert not Upsell.objects.exists() and not provider_requests(emulator, "POST", "add-line-items")


def test_an_offer_of_a_subscription_is_not_offered_or_charged(emulator, client, offer):
    """Probe I I6: an upsell adds a one-off line, so an offer whose product is a subscription (saved before
    the offer form refused one) would sell it once as a plain line with no subscription: never shown or added."""
    from shop.models import Product

    order, _, _ = pay(emulator, client)
    Product.objects.filter(pk=offer.product_id).update(kind="subscription", interval="month", interval_count=1)
    page = client.get(order_url(order, "shop:order_confirmation"))
    assert f"accept-offer-{offer.pk}".encode() not in page.content
    accept(client, order, offer)
    assert not Upsell.objects.exists() and not provider_requests(emulator, "POST", "add-line-items")
    assert not order.lines.filter(is_upsell=True).exists()
