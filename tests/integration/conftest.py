"""The contract suite's `driver` fixture: one parametrisation per registered route (drivers in
tests/integration/contract_drivers.py), with every route enabled."""
import pytest

from payments.providers.registry import route_keys
from tests.integration.contract_drivers import DRIVERS


@pytest.fixture(params=sorted(DRIVERS))
def driver(request, emulator, settings):
    settings.PAYMENT_ROUTES = route_keys()
    return DRIVERS[request.param](emulator)
