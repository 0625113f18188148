"""Fixtures of the 29 Next upsell tests: an offer, and a store whose Klarna payments are only authorized."""
import pytest

from shop.models import UpsellOffer
from tests.factories import make_product


@pytest.fixture
def offer():
    extra = make_product(name="Second mug", price=1850, next_product_id=777)
    return UpsellOffer.objects.create(name="Add a second mug", product=extra, price=1290)


@pytest.fixture
def authorize_only(emulator):
    emulator.control("PATCH", "/_emulator/config", json={"next": {"klarna_payment_status": "authorized"}})
