"""Fixtures for the 29 Next emulator contract tests: one emulator process and one webhook receiver for the
whole package, reset before every test.

No Django and no database: these tests check the emulator's wire behaviour (what the shop's adapter will
meet), so they talk HTTP to `python -m emulator` and receive its webhooks with a tiny local server.
"""
from __future__ import annotations

import pytest

from tests.emulator_process import WebhookReceiver
from tests.integration.emulator_fixtures import package_emulator_fixtures
from tests.integration.emulator_next.helpers import TOKEN


class DeliveryReceiver(WebhookReceiver):
    """The shared receiver, except that `wait_for` answers the raw (headers, body) deliveries: the signature
    tests need the exact bytes and headers."""

    def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[dict, bytes]]:  # type: ignore[override]
        super().wait_for(count, timeout)
        with self.lock:
            return list(self.deliveries)


emulator, receiver_server = package_emulator_fixtures({"EMULATOR_NEXT_TOKENS": f"{TOKEN},second-token"},
                                                      receiver_class=DeliveryReceiver)


@pytest.fixture(autouse=True)
def clean(emulator):
    emulator.reset()
    yield


@pytest.fixture
def receiver(receiver_server, emulator):
    receiver_server.clear()
    emulator.control("PATCH", "/_emulator/config",
                     {"next": {"webhook_target": receiver_server.url, "webhooks_sync": True}})
    return receiver_server
