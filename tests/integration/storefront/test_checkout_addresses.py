"""Checkout refuses junk addresses and stores real ones in the national form (issue 8, item 5).

A valid form places the order; the provider is pointed at a closed port (`provider_down`), so no
payment is taken and nothing leaves the shop, but the order shows exactly what would have been sent.
"""
import pytest
from django.conf import settings
from django.urls import reverse

from shop.models import Order
from tests.integration.storefront.helpers import add, checkout_data

pytestmark = pytest.mark.django_db

# One real address per country the shop sells to, typed loosely; then what the order must store.
REAL = {
    "NL": (dict(shipping_line1="Keizersgracht 1", shipping_city="Amsterdam", shipping_postcode="1015cj"), "1015 CJ"),
    "DE": (dict(shipping_line1="Unter den Linden 77", shipping_city="Berlin", shipping_postcode="D-10117"), "10117"),
    "AT": (dict(shipping_line1="Stephansplatz 1", shipping_city="Wien", shipping_postcode="1010"), "1010"),
    "BE": (dict(shipping_line1="Grote Markt 1", shipping_city="Brussel", shipping_postcode="1000"), "1000"),
    "FI": (dict(shipping_line1="Mannerheimintie 1", shipping_city="Helsinki", shipping_postcode="00100"), "00100"),
    "SE": (dict(shipping_line1="Drottninggatan 1", shipping_city="Stockholm", shipping_postcode="11151"), "111 51"),
    "DK": (dict(shipping_line1="Strøget 1", shipping_city="København", shipping_postcode="1050"), "1050"),
    "NO": (dict(shipping_line1="Karl Johans gate 1", shipping_city="Oslo", shipping_postcode="0154"), "0154"),
    "ES": (dict(shipping_line1="Calle Mayor 1", shipping_city="Madrid", shipping_postcode="28013"), "28013"),
    "IT": (dict(shipping_line1="Via del Corso 1", shipping_city="Roma", shipping_postcode="00186"), "00186"),
    "FR": (dict(shipping_line1="12 rue de la Paix", shipping_city="Paris", shipping_postcode="75002"), "75002"),
}


def test_every_country_the_shop_sells_to_has_a_real_address_here():
    assert set(settings.SHOP_COUNTRIES) <= set(REAL)


@pytest.mark.parametrize("country", sorted(REAL))
def test_real_address_is_placed_with_the_national_postcode(client, mug, provider_down, country):
    fields, stored = REAL[country]
    add(client, mug)
    response = client.post(reverse("shop:checkout"), checkout_data(shipping_country=country, **fields))
    assert response.status_code == 303, response.context["form"].errors
    order = Order.objects.get()
    assert (order.shipping_country, order.shipping_postcode) == (country, stored)


@pytest.mark.parametrize("overrides, field, message", [
    ({"shipping_postcode": "!!"}, "shipping_postcode", "Enter a Dutch postcode: four digits and two letters, e.g. 1015 CJ."),
    ({"shipping_postcode": "10115"}, "shipping_postcode", "Enter a Dutch postcode"),  # German code, Dutch address
    ({"shipping_country": "DE", "shipping_postcode": "1015 CJ"}, "shipping_postcode", "Enter a German postcode"),
    ({"shipping_country": "SE", "shipping_postcode": "1234"}, "shipping_postcode", "Enter a Swedish postcode"),
    ({"shipping_country": "ES", "shipping_postcode": "99999"}, "shipping_postcode", "Enter a Spanish postcode"),
    ({"shipping_line1": "x"}, "shipping_line1", "Enter the street name and house number"),
    ({"shipping_line1": "!!"}, "shipping_line1", "Enter the street name and house number"),
    ({"shipping_line1": "Keizersgracht"}, "shipping_line1", "Add the house number"),
    ({"shipping_city": "y"}, "shipping_city", "Enter the name of your city or town"),
    ({"shipping_city": "!!"}, "shipping_city", "Enter the name of your city or town"),
    ({"first_name": "!!"}, "first_name", "Enter your name"),
    ({"shipping_postcode": "1015\x00CJ"}, "shipping_postcode", "Null characters are not allowed."),
])
def test_junk_shipping_address_gets_a_clear_message_and_no_order(client, mug, overrides, field, message):
    add(client, mug)
    response = client.post(reverse("shop:checkout"), checkout_data(**overrides))
    assert response.status_code == 200
    assert any(message in error for error in response.context["form"].errors[field]), response.context["form"].errors
    assert not Order.objects.exists()


def test_junk_billing_address_is_refused_too(client, mug):
    add(client, mug)
    response = client.post(reverse("shop:checkout"), checkout_data(
        billing_same_as_shipping=None, billing_first_name="Piet", billing_last_name="Jansen",
        billing_line1="x", billing_city="y", billing_postcode="!!", billing_country="SE"))
    errors = response.context["form"].errors
    assert set(errors) == {"billing_line1", "billing_city", "billing_postcode"}
    assert "Enter a Swedish postcode" in errors["billing_postcode"][0]
    assert not Order.objects.exists()


def test_billing_postcode_is_checked_against_the_billing_country(client, mug, provider_down):
    add(client, mug)
    response = client.post(reverse("shop:checkout"), checkout_data(
        billing_same_as_shipping=None, billing_first_name="Sven", billing_last_name="Berg",
        billing_line1="Drottninggatan 1", billing_city="Stockholm", billing_postcode="s-11151", billing_country="SE"))
    assert response.status_code == 303
    order = Order.objects.get()
    assert (order.shipping_postcode, order.billing_postcode) == ("1015 CJ", "111 51")
