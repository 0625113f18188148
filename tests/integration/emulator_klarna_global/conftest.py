"""Fixtures for the Klarna Payment Authorize v2 emulator contract tests (`/klarna-global/`): one emulator
process for the package, reset before every test, and one local receiver for its signed webhooks,
delivered synchronously so they are there when the call that caused them answers.

No Django and no database: these tests pin the wire behaviour the shop's `klarna_authorize` adapter meets.
"""
from __future__ import annotations

import pytest

from tests.integration.emulator_fixtures import package_emulator_fixtures

emulator, receiver_server = package_emulator_fixtures({"EMULATOR_CLOCK_TICK_SECONDS": "0"})


@pytest.fixture(autouse=True)
def receiver(emulator, receiver_server):
    emulator.reset()
    receiver_server.clear()
    emulator.control("PATCH", "/_emulator/config", {"klarna_global": {
        "webhooks_sync": True, "webhook_target": receiver_server.url}})
    return receiver_server
