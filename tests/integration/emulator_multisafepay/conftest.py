"""Fixtures for the MultiSafepay emulator contract tests: one `python -m emulator` process for the package,
reset before every test, and one local receiver for notifications (POST and GET) that answers `OK` as
MultiSafepay expects. Notifications are delivered synchronously, so they are there when the call (or the
shopper's click) that caused them answers.

No Django and no database: these tests pin the wire behaviour the shop's `multisafepay` adapter meets.
"""
from __future__ import annotations

import pytest

from tests.integration.emulator_fixtures import package_emulator_fixtures
from tests.integration.emulator_multisafepay.helpers import NotificationReceiver

emulator, receiver_server = package_emulator_fixtures({"EMULATOR_CLOCK_TICK_SECONDS": "0"},
                                                      receiver_class=NotificationReceiver)


@pytest.fixture(autouse=True)
def receiver(emulator, receiver_server):
    emulator.reset()
    receiver_server.clear()
    emulator.control("PATCH", "/_emulator/config", {"multisafepay": {"notifications_sync": True}})
    return receiver_server
