"""The post-purchase offer on the Klarna Payments route: the order's authorization is raised."""

import pytest

from payments.models import Upsell
from shop.links import order_url
from shop.models import UpsellOffer
from tests.factories import make_order, make_product
from tests.integration.klarna_flow import pay_with_klarna
from tests.integration.upsell_flow import accept

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def paid(emulator, client):
    order = make_order()
    attempt = pay_with_klarna(emulator, client, order)
    session = client.session
    session["last_order"] = order.number
    session.save()
    offer = UpsellOffer.objects.create(name="Second mug", product=make_product(price=1850), price=1290)
    return order, attempt, offer


def test_upsell_raises_the_authorization(paid, client, emulator):
    order, attempt, offer = paid
    assert accept(client, order, offer).status_code == 303
    upsell = Upsell.objects.get()
    assert upsell.state == "added"
    klarna_order = next(o for o in emulator.control("GET", "/_emulator/klarna/orders")["orders"]
                        if o["order_id"] == attempt.provider_reference)
    assert klarna_order["order_amount"] == order.total + 1290
    assert any(line["reference"] == upsell.reference for line in klarna_order["order_lines"])
    order.refresh_from_db()
    assert order.lines.filter(is_upsell=True).count() == 1


def test_refused_raise_is_declined_gracefully(paid, client, emulator):
    order, attempt, offer = paid
    emulator.control("POST", f"/_emulator/klarna/orders/{attempt.provider_reference}/scenario",
                     json={"authorization_update": "reject"})
    accept(client, order, offer)
    assert Upsell.objects.get().state == "declined"
    order.refresh_from_db()
    assert not order.lines.filter(is_upsell=True).exists()
    page = client.get(order_url(order, "shop:order_confirmation"))
    assert b"declined for this extra" in page.content


def test_a_price_edited_after_the_page_showed_it_raises_nothing(paid, client, emulator):
    from tests.integration.upsell_flow import shown_terms

    order, attempt, offer = paid
    seen = shown_terms(client, order, offer)
    offer.price = 9900
    offer.save()
    assert accept(client, order, offer, terms=seen).status_code == 302
    assert not Upsell.objects.exists()
    klarna_order = next(o for o in emulator.control("GET", "/_emulator/klarna/orders")["orders"]
                        if o["order_id"] == attempt.provider_reference)
    assert klarna_order["order_amount"] == order.total  # the authorization was not raised
    # Accepting the offer the page now shows raises it by exactly that.
    assert accept(client, order, offer).status_code == 303
    klarna_order = next(o for o in emulator.control("GET", "/_emulator/klarna/orders")["orders"]
                        if o["order_id"] == attempt.provider_reference)
    assert klarna_order["order_amount"] == order.total + 9900


def test_after_a_partial_refund_no_upsell_is_offered_or_charged(paid, client, emulator):
    """Probe F F7: a Klarna payment with money left to capture stays authorized however much was refunded,
    so a partly refunded order was still offered the upsell, and a click raised its authorization."""
    from payments.selectors import upsell_offers_for
    from payments.services.order_management import payment_capture, payment_refund

    order, attempt, offer = paid
    assert upsell_offers_for(order)
    payment_capture(attempt_id=attempt.pk, amount=1000)
    payment_refund(attempt_id=attempt.pk, amount=1000)
    attempt.refresh_from_db()
    assert attempt.status == "authorized" and attempt.refunded_amount == 1000
    assert upsell_offers_for(order) == []
    accept(client, order, offer)
    assert not Upsell.objects.exists()
    klarna_order = next(o for o in emulator.control("GET", "/_emulator/klarna/orders")["orders"]
                        if o["order_id"] == attempt.provider_reference)
    assert klarna_order["order_amount"] == order.total
