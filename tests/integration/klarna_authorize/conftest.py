"""Fixtures of the Klarna Payment Authorize v2 (route klarna_authorize) tests."""
import pytest

from tests.integration.klarna_authorize_flow import record_webhooks, use_route


@pytest.fixture
def klarna(emulator, settings):
    use_route(settings)
    return emulator


@pytest.fixture
def receiver(klarna):
    target = record_webhooks(klarna)
    yield target
    target.stop()
