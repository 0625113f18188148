"""The merchant's admin: pages render, the timeline shows payloads safely, re-apply works."""
import json

import pytest
from django.urls import reverse

from payments.models import PaymentAttempt, WebhookDelivery
from payments.states import Status, transition
from tests.factories import make_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def merchant(admin_client):
    return admin_client


def test_admin_lists_and_pages_render(merchant):
    order = make_order()
    attempt = PaymentAttempt.objects.create(order=order, route="next", amount=order.total, currency="EUR")
    transition(attempt.pk, Status.PENDING, source="test", payload={"note": "<script>alert(1)</script>"})
    for url in [
        reverse("admin:shop_product_changelist"),
        reverse("admin:shop_order_changelist") + "?q=" + order.number,
        reverse("admin:shop_order_change", args=[order.pk]),
        reverse("admin:payments_paymentattempt_changelist") + "?status=pending",
        reverse("admin:payments_paymentattempt_change", args=[attempt.pk]),
        reverse("admin:payments_webhookdelivery_changelist"),
    ]:
        response = merchant.get(url)
        assert response.status_code == 200, url
    page = merchant.get(reverse("admin:payments_paymentattempt_change", args=[attempt.pk])).content
    assert b"<script>alert(1)</script>" not in page
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_payment_attempts_cannot_be_edited_in_admin(merchant):
    order = make_order()
    attempt = PaymentAttempt.objects.create(order=order, route="next", amount=order.total, currency="EUR")
    url = reverse("admin:payments_paymentattempt_change", args=[attempt.pk])
    merchant.post(url, {"status": "captured"})
    attempt.refresh_from_db()
    assert attempt.status == Status.CREATED


def test_reapply_action_applies_a_failed_delivery(merchant, settings):
    order = make_order()
    attempt = PaymentAttempt.objects.create(order=order, route="next", amount=order.total, currency="EUR")
    transition(attempt.pk, Status.PENDING, source="test")
    line = order.lines.get()
    body = json.dumps({"event_id": "evt-9", "event_type": "order.created", "object": "order", "data": {
        "number": "100777", "payment_status": "paid", "currency": "EUR",
        "total_incl_tax": f"{order.total // 100}.{order.total % 100:02d}",
        "metadata": {"shop_reference": attempt.reference},
        "lines": [{"product_id": line.next_product_id, "quantity": line.quantity}]}})
    delivery = WebhookDelivery.objects.create(provider="next", event_id="evt-9", event_type="order.created",
                                              signature_valid=True, state="failed", body=body)
    response = merchant.post(reverse("admin:payments_webhookdelivery_changelist"),
                             {"action": "reapply", "_selected_action": [delivery.pk]}, follow=True)
    assert response.status_code == 200
    delivery.refresh_from_db()
    assert delivery.state == "applied"
    attempt.refresh_from_db()
    assert attempt.status == Status.CAPTURED


def test_admin_states_billing_frequency_in_words(merchant):
    """Product list, order lines and subscription list all use the shared formatter (issue 8, item 2)."""
    from payments.models import Subscription
    from tests.factories import make_product

    tea = make_product(name="Tea box", kind="subscription", interval="month", interval_count=3)
    order = make_order(items=[(tea, 1)])
    Subscription.objects.create(route="klarna_payments", provider_id="sub-1", order=order, email=order.email,
                                interval="week", interval_count=2, amount=2500, currency="EUR")
    products = merchant.get(reverse("admin:shop_product_changelist")).content.decode()
    assert "every 3 months" in products
    lines = merchant.get(reverse("admin:shop_order_change", args=[order.pk])).content.decode()
    assert "every 3 months" in lines
    subscriptions = merchant.get(reverse("admin:payments_subscription_changelist")).content.decode()
    assert "every 2 weeks" in subscriptions


# --- Money in currency, not minor units (issue 8, items 7 and 9) ---------------------------------------

def _authorized(amount=4685, captured=0, refunded=0):
    order = make_order()
    attempt = PaymentAttempt.objects.create(order=order, route="klarna_payments", amount=amount, currency="EUR",
                                            provider_reference="kl-order-1")
    transition(attempt.pk, Status.PENDING, source="test")
    transition(attempt.pk, Status.AUTHORIZED, source="test")
    PaymentAttempt.objects.filter(pk=attempt.pk).update(captured_amount=captured, refunded_amount=refunded)
    attempt.refresh_from_db()
    return attempt


def _operation(attempt, name):
    return reverse("admin:payments_paymentattempt_operation", args=[attempt.pk, name])


def test_product_price_and_vat_are_typed_in_currency_and_percent(merchant):
    from shop.models import Product

    data = {"name": "Mug", "slug": "mug", "sku": "MUG-1", "description": "", "kind": "physical",
            "is_active": "on", "hue": "200", "price": "19.90", "currency": "EUR", "vat_rate_bp": "5.5",
            "interval": "", "interval_count": "", "next_product_id": ""}
    response = merchant.post(reverse("admin:shop_product_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    product = Product.objects.get(sku="MUG-1")
    assert (product.price, product.vat_rate_bp) == (1990, 550)

    page = merchant.get(reverse("admin:shop_product_change", args=[product.pk])).content.decode()
    assert 'value="19.90"' in page and 'value="5.5"' in page
    listing = merchant.get(reverse("admin:shop_product_changelist")).content.decode()
    assert "€\u00a019.90" in listing and "5.5\u00a0%" in listing

    for price, vat, message in [("19.999", "21", "EUR amounts have at most 2 decimals."),
                                ("-5", "21", "negative amounts are not possible"),
                                ("19\x0090", "21", "plain text"), ("abc", "21", "Enter an amount in EUR"),
                                ("19.90", "-21", "A rate cannot be negative.")]:
        response = merchant.post(reverse("admin:shop_product_change", args=[product.pk]),
                                 dict(data, price=price, vat_rate_bp=vat))
        assert response.status_code == 200 and message in response.content.decode(), price
    product.refresh_from_db()
    assert (product.price, product.vat_rate_bp) == (1990, 550)


def test_upsell_offer_price_is_typed_in_currency(merchant):
    from shop.models import UpsellOffer
    from tests.factories import make_product

    mug = make_product(price=2500)
    data = {"name": "Second mug", "product": mug.pk, "price": "19.90", "pitch": "", "is_active": "on"}
    assert merchant.post(reverse("admin:shop_upselloffer_add"), data).status_code == 302
    offer = UpsellOffer.objects.get()
    assert offer.price == 1990
    assert "€\u00a019.90" in merchant.get(reverse("admin:shop_upselloffer_changelist")).content.decode()
    for junk, message in [("0", "Enter at least €\u00a00.01."), ("19.901", "at most 2 decimals"),
                          ("1990 cents", "Enter an amount in EUR")]:
        response = merchant.post(reverse("admin:shop_upselloffer_change", args=[offer.pk]), dict(data, price=junk))
        assert response.status_code == 200 and message in response.content.decode(), junk
    offer.refresh_from_db()
    assert offer.price == 1990


def test_payment_pages_show_captured_and_refunded_in_currency(merchant):
    attempt = _authorized(amount=4685, captured=3000, refunded=1000)
    detail = merchant.get(reverse("admin:payments_paymentattempt_change", args=[attempt.pk])).content.decode()
    listing = merchant.get(reverse("admin:payments_paymentattempt_changelist")).content.decode()
    for html in (detail, listing):
        assert "€\u00a046.85" in html and "€\u00a030.00" in html and "€\u00a010.00" in html
    operation = merchant.get(_operation(attempt, "refund")).content.decode()
    assert "captured €\u00a030.00" in operation and "minor units" not in operation


def test_refund_states_the_typed_amount_in_currency_before_it_runs(merchant):
    from payments.models import PaymentOperation

    attempt = _authorized(amount=4685, captured=3000)
    response = merchant.post(_operation(attempt, "refund"), {"amount": "12.90", "description": "broken mug"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Refund €\u00a012.90 of provider order" in html and "€\u00a030.00 refundable" in html
    assert 'name="confirmed" value="1"' in html and 'type="hidden" name="amount" value="12.90"' in html
    assert not PaymentOperation.objects.exists()  # nothing ran: the merchant has not confirmed yet

    for junk, message in [("12.905", "at most 2 decimals"), ("-1", "negative"), ("0", "Enter at least"),
                          ("1\x002", "plain text"), ("ten", "Enter an amount in EUR")]:
        response = merchant.post(_operation(attempt, "refund"), {"amount": junk, "confirmed": "1"})
        assert response.status_code == 200 and message in response.content.decode(), junk
    assert not PaymentOperation.objects.exists()


@pytest.mark.parametrize("name, statement", [
    ("capture", "Capture €\u00a046.85 of provider order"),
    ("cancel", "Cancel the authorization of €\u00a046.85"),
])
def test_money_moving_operations_state_the_amount_first(merchant, name, statement):
    from payments.models import PaymentOperation

    attempt = _authorized(amount=4685)
    if name == "capture":  # an input form: its confirmation comes after the amount is typed (empty = all)
        html = merchant.post(_operation(attempt, name), {"amount": "", "tracking_number": ""}).content.decode()
    else:  # nothing to type: the first page is the confirmation
        html = merchant.get(_operation(attempt, name)).content.decode()
    assert statement in html
    assert not PaymentOperation.objects.exists()


def test_release_states_the_uncaptured_amount(merchant):
    attempt = _authorized(amount=4685, captured=3000)
    html = merchant.get(_operation(attempt, "release")).content.decode()
    assert "Release the €\u00a016.85 of provider order" in html and "€\u00a030.00 captured stays charged" in html


def test_subscription_renew_now_states_the_charge_first(merchant):
    from payments.models import Subscription

    order = make_order()
    sub = Subscription.objects.create(route="klarna_payments", provider_id="sub-9", order=order, email=order.email,
                                      interval="month", interval_count=3, amount=1650, currency="EUR")
    html = merchant.get(reverse("admin:payments_subscription_action", args=[sub.pk, "renew"])).content.decode()
    assert "Charge €\u00a016.50 for subscription sub-9 now" in html and "every 3 months" in html


def test_an_upsell_offer_is_only_for_a_product_sold_in_the_shops_currency(merchant):
    """Probe I I5: the order an offer is added to is charged in the shop's currency, so the offer's price is
    read in it, and a product priced in another currency (a row from before products were held to it) is
    refused rather than charged as that many cents of EUR."""
    from shop.models import Product, UpsellOffer
    from tests.factories import make_product

    yen = make_product(price=1500)
    Product.objects.filter(pk=yen.pk).update(currency="JPY")  # as stored before the shop refused it
    data = {"name": "Chopsticks", "product": yen.pk, "price": "15.00", "pitch": "", "is_active": "on"}
    response = merchant.post(reverse("admin:shop_upselloffer_add"), data)
    assert response.status_code == 200 and not UpsellOffer.objects.exists()
    assert "priced in JPY" in response.content.decode() and "EUR" in response.content.decode()

    mug = make_product(price=1850)
    assert merchant.post(reverse("admin:shop_upselloffer_add"), dict(data, product=mug.pk)).status_code == 302
    assert UpsellOffer.objects.get().price == 1500
    for junk_product in ("9" * 30, "abc", "-1"):  # a forged product id is a form error, not a 500
        response = merchant.post(reverse("admin:shop_upselloffer_add"), dict(data, product=junk_product))
        assert response.status_code == 200 and "This field is required" in response.content.decode()


def test_an_upsell_offer_is_never_for_a_subscription(merchant):
    """Probe I I6: an upsell adds a one-off line to the paid order; a subscription chosen as the offer's
    product was sold once as a plain line and no subscription started. The form refuses it."""
    from shop.models import UpsellOffer
    from tests.factories import make_product

    club = make_product(name="Club", price=4900, kind="subscription", interval="year", interval_count=1)
    data = {"name": "Join the club", "product": club.pk, "price": "39.00", "pitch": "", "is_active": "on"}
    response = merchant.post(reverse("admin:shop_upselloffer_add"), data)
    assert response.status_code == 200 and not UpsellOffer.objects.exists()
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["product"] and "Club is a subscription" in errors["product"][0], errors
    mug = make_product(name="Mug")
    assert merchant.post(reverse("admin:shop_upselloffer_add"), dict(data, product=mug.pk)).status_code == 302


def test_a_product_is_priced_only_in_the_shops_currency(merchant):
    """Probe I I5: checkout charges every price in SHOP_CURRENCY, so a product typed in with another
    currency would be shown as '$ 10.00' and charged EUR 10.00: the form and the model refuse it."""
    from django.core.exceptions import ValidationError

    from shop.models import Product

    data = {"name": "Mug", "slug": "mug", "sku": "MUG-1", "description": "", "kind": "physical",
            "is_active": "on", "hue": "200", "price": "10.00", "currency": "USD", "vat_rate_bp": "21",
            "interval": "", "interval_count": "", "next_product_id": ""}
    for currency in ("USD", "JPY", "e$"):
        response = merchant.post(reverse("admin:shop_product_add"), dict(data, currency=currency))
        assert response.status_code == 200, currency
        errors = response.context["adminform"].form.errors
        assert list(errors) == ["currency"] and "The shop sells in EUR only" in errors["currency"][0], errors
    assert not Product.objects.exists()

    assert merchant.post(reverse("admin:shop_product_add"), dict(data, currency=" eur ")).status_code == 302
    product = Product.objects.get(sku="MUG-1")
    assert (product.price, product.currency) == (1000, "EUR")

    product.currency = "USD"
    with pytest.raises(ValidationError) as refused:
        product.full_clean()
    assert list(refused.value.message_dict) == ["currency"]


def test_a_product_priced_in_another_currency_before_can_still_be_withdrawn(merchant):
    """A row stored before the check can be taken off sale from the list; editing it asks for the currency."""
    from shop.models import Product
    from tests.factories import make_product

    old = make_product(price=1000)
    Product.objects.filter(pk=old.pk).update(currency="USD")
    listing = {"form-TOTAL_FORMS": "1", "form-INITIAL_FORMS": "1", "form-0-id": str(old.pk), "_save": "Save"}
    assert merchant.post(reverse("admin:shop_product_changelist"), listing).status_code == 302
    old.refresh_from_db()
    assert not old.is_active and old.currency == "USD"


def test_order_address_corrections_are_checked_like_checkout(merchant):
    from tests.integration.admin_forms import order_change_form

    order = make_order()
    data = order_change_form()
    url = reverse("admin:shop_order_change", args=[order.pk])

    junk = merchant.post(url, dict(data, shipping_postcode="!!", shipping_city="y"))
    html = junk.content.decode()
    assert junk.status_code == 200 and "Enter a Dutch postcode" in html and "city or town" in html
    order.refresh_from_db()
    assert order.shipping_postcode == "1015 CJ"

    moved = merchant.post(url, dict(data, shipping_line1="Storgatan 12", shipping_city="Malmö",
                                    shipping_postcode="21122", shipping_country="se"))
    assert moved.status_code == 302
    order.refresh_from_db()
    assert (order.shipping_postcode, order.shipping_country) == ("211 22", "SE")


def test_a_subscription_page_shows_each_charge_in_currency_and_a_price_not_yet_as_advertised(merchant):
    from payments.models import Subscription, SubscriptionCharge

    order = make_order()
    sub = Subscription.objects.create(route="next", provider_id="sub-7", order=order, email=order.email,
                                      interval="month", interval_count=1, amount=5395, advertised_amount=4900,
                                      currency="EUR")
    SubscriptionCharge.objects.create(subscription=sub, billing_cycle=0, amount=1234, currency="EUR")
    html = merchant.get(reverse("admin:payments_subscription_change", args=[sub.pk])).content.decode()
    html = html.replace("\xa0", " ")
    assert "€ 12.34" in html  # the charge's own amount, in the charges below
    assert "€ 53.95 <strong class=\"errornote\">renews at this, not the advertised € 49.00" in html
