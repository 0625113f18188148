"""Fixtures for the Klarna emulator contract tests (Payments v1, Customer Token v1, Order Management v1, the
JS SDK stand-in): one `python -m emulator` process for the package, reset before every test, and one local
receiver for the authorization callbacks and fraud notifications, delivered synchronously so they are there
when the call that caused them answers.

No Django and no database: these tests pin the wire behaviour the shop's `klarna_payments` adapter meets.
"""
from __future__ import annotations

import pytest

from tests.integration.emulator_fixtures import package_emulator_fixtures

emulator, receiver_server = package_emulator_fixtures({"EMULATOR_CLOCK_TICK_SECONDS": "0.2"})


@pytest.fixture(autouse=True)
def receiver(emulator, receiver_server):
    emulator.reset()
    receiver_server.clear()
    emulator.control("PATCH", "/_emulator/config", {"klarna": {"webhooks_sync": True}})
    return receiver_server
