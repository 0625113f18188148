"""Fixtures for the 29 Next emulator's recurring and upsell contract tests: subscriptions started by orders,
renewals driven by the emulator clock, dunning (`/retry/`), cancel, PATCH, and `add-line-items`.

Like the `emulator_next` package: no Django, one real `python -m emulator` process for the package, webhooks
received by a tiny local server with synchronous delivery so the events are there when the call that caused
them answers.
"""
from __future__ import annotations

import pytest

from tests.integration.emulator_fixtures import package_emulator_fixtures
from tests.integration.emulator_next_recurring.helpers import SPEC_PATH, TOKEN

emulator, receiver_server = package_emulator_fixtures({"EMULATOR_NEXT_TOKENS": TOKEN,
                                                       "EMULATOR_CLOCK_TICK_SECONDS": "0.2"})


@pytest.fixture(autouse=True)
def receiver(emulator, receiver_server):
    emulator.reset()
    receiver_server.clear()
    emulator.control("PATCH", "/_emulator/config",
                     {"next": {"webhook_target": receiver_server.url, "webhooks_sync": True}})
    return receiver_server


@pytest.fixture(scope="package")
def spec():
    if not SPEC_PATH.is_file():
        pytest.skip(f"29 Next spec not found at {SPEC_PATH}")
    from emulator.spec import Spec

    return Spec.load("next-admin-api/2024-04-01.yaml")

