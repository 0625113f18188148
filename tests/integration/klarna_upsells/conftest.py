"""Fixtures of the Klarna Payments upsell tests: an order paid with Klarna and an offer for it, and charges
left queued (as for a busy worker) until a test runs them."""
import pytest

from shop.models import UpsellOffer
from tests.factories import make_order, make_product
from tests.integration.klarna_flow import pay_with_klarna


@pytest.fixture
def paid(emulator, client):
    order = make_order()
    attempt = pay_with_klarna(emulator, client, order)
    session = client.session
    session["last_order"] = order.number
    session.save()
    offer = UpsellOffer.objects.create(name="Second mug", product=make_product(price=1850), price=1290)
    return order, attempt, offer


@pytest.fixture
def queued(monkeypatch):
    """Accepted upsells' charges wait in the queue (as for a busy worker) until the test runs them."""
    from config.celery import app

    # The app reads Django settings under the CELERY_ namespace, so the name is that one.
    monkeypatch.setitem(app.conf, "CELERY_TASK_ALWAYS_EAGER", False)
