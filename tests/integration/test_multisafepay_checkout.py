"""Checkout on the multisafepay route through the shop's own pages, against the emulator (issue 11): what
checkout asks for, the shopper's GET back, redirect and direct orders, and the faults a shopper can meet."""
import json
from datetime import date

import pytest
from django.urls import reverse

from payments.models import PaymentAttempt
from payments.providers.multisafepay.cart import CartRoundingError, build_cart
from payments.providers.types import CheckoutLine
from payments.services.payment_start import return_url
from payments.states import Status
from shop.cart import Cart
from shop.links import order_url
from shop.models import Order
from tests.factories import make_product
from tests.integration.multisafepay_flow import (
    API,
    come_back,
    creates_sent,
    latest_attempt,
    msp_orders,
    place_order,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def msp(emulator, settings):
    settings.PAYMENT_ROUTES = ["next", "multisafepay"]
    return emulator


def sent_body(emulator):
    return json.loads(creates_sent(emulator)[-1]["body"])


def test_approval_by_redirect_pays_the_order_and_sends_what_msp_needs(msp, client):
    response = place_order(client)
    attempt = latest_attempt()
    assert response.status_code == 303 and response["Location"] == attempt.redirect_url
    assert "/multisafepay/connect/" in attempt.redirect_url and attempt.status == Status.PENDING
    body = sent_body(msp)
    assert body["type"] == "redirect" and body["order_id"] == attempt.reference and body["amount"] == 4195
    assert body["gateway_info"]["birthday"] == "1985-04-23" and body["gateway_info"]["gender"] == "F"
    assert body["customer"]["ip_address"] == "127.0.0.1" and body["customer"]["locale"] == "en_US"
    assert body["delivery"]["address1"] == "Keizersgracht" and body["delivery"]["house_number"] == "1"
    assert body["payment_options"]["notification_url"].endswith("/") and "/payments/notify/" in \
        body["payment_options"]["notification_url"]

    back = come_back(client, msp, attempt)
    assert back.status_code == 303 and "/thanks/" in back["Location"]
    attempt.refresh_from_db()
    assert attempt.status == Status.AUTHORIZED and attempt.order.status == Order.Status.PAID
    assert attempt.authorization_expires_at is not None  # the 28-day shipping deadline
    order = Order.objects.get(pk=attempt.order_id)
    assert order.birthday == date(1985, 4, 23) and order.gender == "female" and order.ip_address == "127.0.0.1"


def test_direct_orders_send_the_shopper_straight_to_klarna(msp, client, settings):
    settings.MULTISAFEPAY_KLARNA_TYPE = "direct"
    place_order(client)
    attempt = latest_attempt()
    assert "/multisafepay/klarna/" in attempt.redirect_url and sent_body(msp)["type"] == "direct"
    back = come_back(client, msp, attempt)
    assert "/thanks/" in back["Location"]
    attempt.refresh_from_db()
    assert attempt.status == Status.AUTHORIZED


@pytest.mark.parametrize("action, status", [("decline", Status.FAILED), ("cancel", Status.CANCELLED)])
def test_decline_or_cancel_brings_the_shopper_to_try_again(msp, client, action, status):
    place_order(client)
    attempt = latest_attempt()
    back = come_back(client, msp, attempt, action)
    assert back.status_code == 303 and "/payment-failed/" in back["Location"]
    attempt.refresh_from_db()
    assert attempt.status == status
    page = client.get(back["Location"]).content.decode()
    assert "Try again" in page and 'value="multisafepay"' in page


def test_coming_back_before_deciding_shows_the_order_status(msp, client):
    place_order(client)
    attempt = latest_attempt()
    back = client.get(return_url(attempt) + f"?transactionid={attempt.reference}")
    assert back.status_code == 302 and back["Location"] == order_url(attempt.order)
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING
    forged = client.get(return_url(attempt) + "?transactionid=pa_someone_else")
    assert forged.status_code == 400


def test_an_order_still_to_be_paid_at_msp_is_not_said_to_be_in_klarnas_review(msp, client):
    """Probe A: a shopper back from MultiSafepay's page before paying there (or who left it) read "Awaiting
    Klarna's review" on the order's page and, on its confirmation page, "Klarna is reviewing your payment ...
    there is no need to pay again": the order number MultiSafepay holds was taken for a payment under review.
    Only MultiSafepay's word that it holds the payment (`uncleared`) is a review."""
    import re

    place_order(client)
    attempt = latest_attempt()
    client.get(return_url(attempt) + f"?transactionid={attempt.reference}")
    html = client.get(order_url(attempt.order)).content.decode()
    assert re.search(r'id="order-status">Awaiting payment<', html)
    assert "review" not in html and "Waiting for you at Klarna" in html
    thanks = client.get(order_url(attempt.order, "shop:order_confirmation")).content.decode()
    assert "Klarna is reviewing" not in thanks

    msp.control("POST", "/_emulator/multisafepay/scenario", json={"outcome": "pending"})
    back = come_back(client, msp, attempt)  # paid at MultiSafepay, which holds it for review (uncleared)
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING, back
    html = client.get(order_url(attempt.order)).content.decode()
    assert re.search(r'id="order-status">Awaiting Klarna&#x27;s review<', html)
    thanks = client.get(order_url(attempt.order, "shop:order_confirmation")).content.decode()
    assert "Klarna is reviewing your payment" in thanks


def test_coming_back_again_after_paying_confirms_the_payment(msp, client):
    """Probe C finding 2: the shopper came back once before deciding (the order still undecided at
    MultiSafepay), then paid; with the notification late, the second return must read the order again and
    confirm it, not be taken for the first one."""
    msp.control("POST", "/_emulator/webhooks/mode", json={"mode": "drop"})
    place_order(client)
    attempt = latest_attempt()
    early = client.get(return_url(attempt) + f"?transactionid={attempt.reference}")
    assert early.status_code == 302
    back = come_back(client, msp, attempt)
    assert back.status_code == 303 and "/thanks/" in back["Location"]
    attempt.refresh_from_db()
    assert attempt.status in (Status.AUTHORIZED, Status.CAPTURED)
    assert Order.objects.get(pk=attempt.order_id).status == Order.Status.PAID
    assert attempt.events.filter(kind="note", message__contains="as pending").count() == 1


def test_checkout_asks_for_birthday_and_title_only_for_this_route(msp, client):
    product = make_product(price=1850)
    client.post(reverse("shop:cart_add"), {"product_id": product.pk, "quantity": 1})
    page = client.get(reverse("shop:checkout")).content.decode()
    assert 'data-asks="birthday gender"' in page and 'name="birthday"' in page

    missing = place_order(client, product, birthday="", gender="")
    assert missing.status_code == 200 and not Order.objects.exists()
    text = missing.content.decode()
    assert text.count("needs this. Fill it in or choose another payment method.") == 2

    minor = place_order(client, product, birthday=date.today().replace(year=date.today().year - 10).isoformat())
    assert minor.status_code == 200 and "18 or older" in minor.content.decode()
    future = place_order(client, product, birthday="2999-01-01")
    assert future.status_code == 200 and "date of birth" in future.content.decode()

    other = place_order(client, product, route="next", birthday="1985-04-23", gender="male")
    assert other.status_code == 303
    order = Order.objects.get()
    assert order.birthday is None and order.gender == ""  # not kept for a route that does not need them


def test_a_subscription_cart_is_not_offered_this_route_and_says_why(msp, client):
    beans = make_product(name="Coffee Beans", price=1650, vat_rate_bp=900, kind="subscription",
                         interval="month", interval_count=1)
    client.post(reverse("shop:cart_add"), {"product_id": beans.pk, "quantity": 1})
    page = client.get(reverse("shop:checkout")).content.decode()
    assert 'value="multisafepay"' not in page and 'value="next"' in page
    assert "Klarna (via MultiSafepay) cannot pay for subscriptions" in page
    response = place_order(client, beans, quantity=0)  # the form refuses the route it did not offer
    assert response.status_code == 200 and not Order.objects.exists() and not creates_sent(msp)


def test_a_cart_msp_cannot_round_is_never_sent_and_the_shopper_is_told(msp, client, settings):
    # 20 % VAT, one line of 10.05 (6n + 3 cents), no shipping: no MSP cart totals 1005.
    voucher = make_product(name="Gift card", price=1005, vat_rate_bp=2000, kind="physical")
    with pytest.raises(CartRoundingError):
        build_cart([CheckoutLine(sku="X", name="X", quantity=1, unit_price=1005, total=1005, tax=168,
                                 vat_rate_bp=2000)])
    settings.SHOP_SHIPPING_FEE = 0
    response = place_order(client, voucher, quantity=1)
    assert response.status_code == 303 and "/payment-failed/" in response["Location"]
    assert not creates_sent(msp) and not PaymentAttempt.objects.exists()
    page = client.get(response["Location"]).content.decode()
    assert "rounding rules do not allow it" in page
    assert Cart(client.session).lines(), "the cart is kept"


@pytest.mark.parametrize("fault, at_msp", [
    ({"kind": "error", "status": 503}, None),
    ({"kind": "timeout", "seconds": 3}, None),
    ({"kind": "timeout", "seconds": 3, "when": "after"}, "cancelled"),  # created at MSP, the answer lost
], ids=["5xx", "timeout", "answer-lost"])
def test_provider_trouble_on_create_shows_try_again_and_keeps_order_and_cart(msp, client, settings, fault, at_msp):
    settings.PROVIDER_READ_TIMEOUT = 1.0
    msp.control("POST", "/_emulator/faults", {"method": "POST", "path": API + "orders", "times": 1, **fault})
    response = place_order(client)
    assert response.status_code == 303 and "/payment-failed/" in response["Location"]
    attempt = latest_attempt()
    assert attempt.status == Status.FAILED and attempt.order.lines.count() == 1
    page = client.get(response["Location"]).content.decode()
    assert "try again" in page.lower() and "Nothing was charged" in page
    assert Cart(client.session).lines()
    # A create whose answer was lost is read back; its order, which nobody can reach, is cancelled at once.
    assert (msp_orders(msp).get(attempt.reference) or {}).get("status") == at_msp
    retry = client.post(response["Location"].replace("/payment-failed/", "/retry/"), {"route": "multisafepay"})
    assert retry.status_code == 303 and "/multisafepay/connect/" in retry["Location"]


def test_reconcile_records_a_replaced_attempt_paid_in_an_old_tab(msp, client):
    from payments.services.payment_start import payment_start
    from payments.services.reconcile import payments_reconcile
    from tests.integration.multisafepay_flow import decide

    place_order(client)
    first = latest_attempt()
    second = payment_start(order=first.order, route="multisafepay")  # "try again" replaces the first
    decide(msp, first)                    # the old tab pays; its return and notification never arrive
    first.refresh_from_db()
    assert first.status == Status.EXPIRED
    payments_reconcile(older_than=0)
    first.refresh_from_db()
    assert first.status == Status.AUTHORIZED and first.duplicate_of is None
    assert Order.objects.get(pk=first.order_id).status == Order.Status.PAID
    assert PaymentAttempt.objects.get(pk=second.pk).status == Status.PENDING
