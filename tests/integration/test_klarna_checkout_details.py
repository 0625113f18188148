"""Shopper details longer than Klarna Payments takes (payments v1 `address`: names, street lines, city and
e-mail 99 characters, postcode 10), through the shop's checkout against the emulator (probe I I5). The shop's
form allows a 120-character street; Klarna would refuse it only when the order is placed, after the shopper
approved in the widget. So the checkout form says so on the field, before any order or session exists."""
import pytest
from django.urls import reverse

from payments.exceptions import RouteNotAvailable
from payments.models import PaymentAttempt
from payments.services.payment_start import payment_start
from shop.models import Order
from tests.factories import ADDRESS, make_order, make_product

pytestmark = pytest.mark.django_db(transaction=True)

# 104 characters, as in the probe: a real Dutch street line with a landmark typed after it.
LONG_STREET = ("Burgemeester van Roijensingel Noordzijde tegenover de Oude Kerk en naast het Stadhuis van "
               "Amsterdam 1234")
LONG_EMAIL = "anna.maria.jansen-van-der-berg." + "x" * 40 + "@a-rather-long-mail-domain.example.com"


@pytest.fixture
def klarna(emulator, settings):
    settings.PAYMENT_ROUTES = ["next", "klarna_payments"]
    return emulator


def sessions_created(emulator):
    return [r for r in emulator.control("GET", "/_emulator/requests?provider=klarna")["requests"]
            if r["method"] == "POST" and r["path"].rstrip("/").endswith("/sessions")]


def place_order(client, quantity=2, **form):
    if quantity:
        product = make_product(name="Fjord Enamel Mug", price=1850)
        client.post(reverse("shop:cart_add"), {"product_id": product.pk, "quantity": quantity})
    data = {key: value for key, value in ADDRESS.items() if key != "billing_same_as_shipping"}
    data.update(phone="+31 6 1234 5678", billing_same_as_shipping="on", route="klarna_payments")
    data.update(form)
    return client.post(reverse("shop:checkout"), {k: v for k, v in data.items() if v is not None})


def form_error(response, field) -> str:
    assert response.status_code == 200 and not Order.objects.exists()
    return " ".join(response.context["form"].errors.get(field, []))


@pytest.mark.parametrize("field, value", [
    ("shipping_line1", LONG_STREET),
    ("shipping_line2", "Achterhuis, tweede verdieping, de deur links naast de fietsenstalling, bel twee keer "
                       "aan alstublieft"),
    ("email", LONG_EMAIL),
], ids=["street", "second-line", "email"])
def test_what_klarna_cannot_take_is_refused_on_its_field_and_another_route_takes_it(klarna, client, field, value):
    assert 99 < len(value) <= 120 or field == "email" and len(value) > 99
    response = place_order(client, **{field: value})
    assert "Klarna takes at most 99 characters here" in form_error(response, field)
    assert not sessions_created(klarna), "nothing was sent to Klarna"
    other = place_order(client, quantity=0, route="next", **{field: value})
    assert other.status_code == 303, "another route takes it as it is"


def test_a_long_billing_street_is_refused_on_the_billing_field(klarna, client):
    response = place_order(client, billing_same_as_shipping="", billing_first_name="Anna",
                           billing_last_name="Jansen", billing_line1=LONG_STREET, billing_city="Amsterdam",
                           billing_postcode="1015 CJ", billing_country="NL")
    assert "at most 99 characters" in form_error(response, "billing_line1")


def test_a_street_of_99_characters_reaches_klarna(klarna, client):
    street = LONG_STREET[:94] + " 1234"
    assert len(street) == 99
    response = place_order(client, shipping_line1=street)
    assert response.status_code == 303 and len(sessions_created(klarna)) == 1


def test_a_long_street_placed_on_another_route_is_refused_before_any_call(klarna):
    """An order placed on another route, then tried with Klarna: the failure page names the change."""
    order = make_order(items=[(make_product(price=1850), 2)], shipping_line1=LONG_STREET)
    with pytest.raises(RouteNotAvailable) as refused:
        payment_start(order=order, route="klarna_payments")
    assert "at most 99 characters" in refused.value.shopper_message
    assert "Change details" in refused.value.shopper_message
    assert not PaymentAttempt.objects.filter(order=order).exists() and not sessions_created(klarna)


def klarna_refuses_the_order(klarna, token, times=2):
    """Klarna answers 400 to placing the order of authorization `token` (as for a detail it cannot take, sent
    by a shop before it checked them). Injected: a request that breaks the spec would fail tests/spec's check
    of everything the shop sends."""
    klarna.control("POST", "/_emulator/faults", json={
        "method": "POST", "path": f"/klarna/payments/v1/authorizations/{token}/order", "kind": "error",
        "status": 400, "times": times})


def test_an_order_klarna_refuses_after_the_approval_fails_the_attempt_and_offers_a_retry(klarna, client):
    """An order whose street was stored before the form knew Klarna's limits (or changed since): the shopper
    approves in the widget, Klarna refuses to place the order (400 BAD_VALUE street_address), every time.
    The attempt fails at once with a page that says what to do, instead of 'still confirming' for 48 hours."""
    from payments.services.reconcile import payments_reconcile
    from payments.states import Status
    from tests.integration.klarna_flow import authorization, authorize, post_token

    order = make_order(items=[(make_product(price=1850), 2)], route="klarna_payments")
    attempt = payment_start(order=order, route="klarna_payments")
    token = authorize(klarna, attempt)
    klarna_refuses_the_order(klarna, token)
    response = post_token(client, attempt, token)
    assert response.status_code == 303 and "/payment-failed/" in response["Location"], response.get("Location")
    attempt.refresh_from_db()
    assert attempt.status == Status.FAILED
    assert "status=400" in attempt.events.order_by("-pk").first().message
    assert authorization(klarna, token)["cancelled"], "the approval is given back"
    page = client.get(response["Location"]).content.decode()
    assert "still confirming" not in page and "Try again" in page and "Change details" in page
    assert "Klarna did not accept the order with these details, so nothing was charged" in page
    assert payments_reconcile(older_than=0).checked == 0, "settled: not asked about again"


def test_klarnas_callback_refused_first_then_the_browser_gets_the_retry_page(klarna, client):
    """Klarna's authorization callback may deliver the token before the browser: the refusal fails the
    attempt once, and the browser's POST of the same token is answered from it, with the same page."""
    import json
    from urllib.parse import urlparse

    from payments.services.payment_start import return_url
    from payments.states import Status
    from tests.integration.klarna_flow import authorize, post_token

    order = make_order(items=[(make_product(price=1850), 2)], route="klarna_payments")
    attempt = payment_start(order=order, route="klarna_payments")
    token = authorize(klarna, attempt)
    klarna_refuses_the_order(klarna, token, times=4)
    body = json.dumps({"authorization_token": token, "session_id": attempt.provider_session})
    answer = client.post(urlparse(return_url(attempt)).path, body, content_type="application/json")
    assert answer.status_code == 200 and answer.json() == {"status": "failed"}
    response = post_token(client, attempt, token)
    assert response.status_code == 303 and "/payment-failed/" in response["Location"]
    assert "did not accept the order with these details" in client.get(response["Location"]).content.decode()
    attempt.refresh_from_db()
    assert attempt.status == Status.FAILED and attempt.events.filter(to_status=Status.FAILED).count() == 1
