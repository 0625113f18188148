"""Shopper details MultiSafepay's schema is strict about, through the shop's checkout against the emulator
(probe G F6, F7): street lines with a floor or door after the number, names outside 2-25 characters.
Either the order reaches MultiSafepay's page with what its schema takes, or the checkout form says which
field to change and no order is placed."""
import json

import pytest

from payments.exceptions import RouteNotAvailable
from payments.models import PaymentAttempt
from payments.services.payment_start import payment_start
from shop.models import Order
from tests.factories import make_order, make_product
from tests.integration.multisafepay_flow import creates_sent, latest_attempt, place_order

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def msp(emulator, settings):
    settings.PAYMENT_ROUTES = ["next", "multisafepay"]
    return emulator


def sent(emulator) -> dict:
    return json.loads(creates_sent(emulator)[-1]["body"])


def reaches_msp_page(response) -> PaymentAttempt:
    attempt = latest_attempt()
    assert response.status_code == 303 and response["Location"] == attempt.redirect_url
    assert "/multisafepay/connect/" in attempt.redirect_url
    return attempt


def form_error(response, field) -> str:
    assert response.status_code == 200 and not Order.objects.exists()
    return " ".join(response.context["form"].errors.get(field, []))


# --- F6: a house number followed by a floor, door or suffix ---------------------------------------------
@pytest.mark.parametrize("address, street, number, extra", [
    (dict(shipping_country="ES", shipping_line1="Calle Mayor 5, 2º B", shipping_city="Madrid",
          shipping_postcode="28013"), "Calle Mayor", "5", "2º B"),
    (dict(shipping_line1="Keizersgracht 1-3 hs"), "Keizersgracht", "1-3 hs", ""),
], ids=["ES-floor-door", "NL-range-suffix"])
def test_a_house_number_with_a_floor_or_suffix_reaches_msps_page(msp, client, address, street, number, extra):
    reaches_msp_page(place_order(client, **address))
    for part in ("customer", "delivery"):
        body = sent(msp)[part]
        assert (body["address1"], body["house_number"], body["address2"]) == (street, number, extra)


def test_a_floor_typed_on_the_street_line_goes_before_the_second_line(msp, client):
    reaches_msp_page(place_order(client, shipping_line1="Keizersgracht 12, 2 hoog", shipping_line2="achterhuis"))
    assert sent(msp)["delivery"]["address2"] == "2 hoog, achterhuis"


@pytest.mark.parametrize("field, value, said", [
    # The shop's own check sees a digit; MultiSafepay's route sees only a flat number.
    ("shipping_line1", "Apartment 4, Keizersgracht", "needs the house number in this line"),
    ("last_name", "J", "needs at least 2 letters in the last name"),  # F7: the spec's 2-25 characters
])
def test_what_msp_cannot_take_is_refused_on_its_field_and_another_route_takes_it(msp, client, field, value, said):
    response = place_order(client, **{field: value})
    assert said in form_error(response, field)
    assert not creates_sent(msp)
    other = place_order(client, quantity=0, route="next", **{field: value})
    assert other.status_code == 303, "another route takes it as it is"


def test_a_billing_line_without_a_house_number_is_refused_on_its_field(msp, client):
    response = place_order(client, billing_same_as_shipping="", billing_first_name="Anna",
                           billing_last_name="Jansen", billing_line1="Postbus 123", billing_city="Amsterdam",
                           billing_postcode="1015 CJ", billing_country="NL")
    assert "needs the house number" in form_error(response, "billing_line1")


# --- F7: names within MultiSafepay's 2-25 characters -----------------------------------------------------
def test_a_first_name_over_25_characters_is_cut_at_a_word_and_reaches_msps_page(msp, client):
    name = "Maria Fernanda Guadalupe Z"
    assert len(name) == 26
    attempt = reaches_msp_page(place_order(client, first_name=name))
    for part in ("customer", "delivery"):
        assert sent(msp)[part]["first_name"] == "Maria Fernanda Guadalupe"
    assert Order.objects.get(pk=attempt.order_id).first_name == name, "the shop keeps the whole name"


def test_long_city_and_second_line_are_cut_to_the_spec(msp, client):
    reaches_msp_page(place_order(client, last_name="Wolfeschlegelsteinhausenbergerdorff",
                                 shipping_line2="Achterhuis " * 10, shipping_city="Amsterdam " * 6))
    body = sent(msp)["customer"]
    assert body["last_name"] == "Wolfeschlegelsteinhausenb"  # one word: cut at 25
    assert len(body["address2"]) <= 64 and len(body["city"]) <= 50



def test_a_one_letter_first_name_placed_on_another_route_is_refused_before_any_call(msp):
    """An order placed on another route, then tried with MultiSafepay: the failure page names the field."""
    order = make_order(items=[(make_product(price=1850), 2)], first_name="J")
    with pytest.raises(RouteNotAvailable) as refused:
        payment_start(order=order, route="multisafepay")
    assert "needs at least 2 letters in the first name" in refused.value.shopper_message
    assert "Change details" in refused.value.shopper_message
    assert not PaymentAttempt.objects.filter(order=order).exists() and not creates_sent(msp)


# --- probe I I5: an e-mail over the spec's 64 characters (Customer.yaml, GatewayInfoBNPL.yaml) ---------------
def test_an_email_over_64_characters_is_refused_on_its_field_and_another_route_takes_it(msp, client):
    email = "anna.maria.jansen-van-der-berg@a-rather-long-mail-domain.example.com"
    assert len(email) == 68
    response = place_order(client, email=email)
    assert "takes an e-mail address of at most 64 characters" in form_error(response, "email")
    assert not creates_sent(msp)
    assert place_order(client, quantity=0, route="next", email=email).status_code == 303


def test_an_email_of_64_characters_reaches_msps_page(msp, client):
    email = "anna.maria.jansen-van-der-berg@a-rather-long-mail-domain.example"
    assert len(email) == 64
    reaches_msp_page(place_order(client, email=email))
    assert sent(msp)["customer"]["email"] == email
