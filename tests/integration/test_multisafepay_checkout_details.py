"""Shopper details MultiSafepay's schema is strict about, through the shop's checkout against the emulator
(probe G F6, F7): street lines with a floor or door after the number, names outside 2-25 characters.
Either the order reaches MultiSafepay's page with what its schema takes, or the checkout form says which
field to change and no order is placed."""
import json

import pytest

from payments.models import PaymentAttempt
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
