"""Fixtures for the storefront tests: a provider that is down, and two products."""
import socket

import pytest

from payments.providers.registry import reset_cache
from tests.factories import make_product


@pytest.fixture
def provider_down(settings):
    """Point the 29 Next route at a port where nothing listens, with no retries to wait for."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.NEXT_API_BASE_URL = f"http://127.0.0.1:{port}/next/api/admin/"
    settings.PROVIDER_MAX_RETRIES = 0
    settings.PROVIDER_MAX_BACKOFF = 0
    settings.PAYMENT_ROUTES = ["next"]
    reset_cache()
    yield
    reset_cache()


@pytest.fixture
def mug():
    return make_product(name="Fjord Enamel Mug", slug="fjord-mug", price=1850, hue=175)


@pytest.fixture
def beans():
    return make_product(name="Coffee Beans", slug="coffee-beans", price=1650, vat_rate_bp=900,
                        kind="subscription", interval="month", interval_count=3)



@pytest.fixture(autouse=True)
def single_route(settings):
    """These pages are described for a shop offering the 29 Next route only (the default offers two)."""
    settings.PAYMENT_ROUTES = ["next"]
