"""Every request the shop's clients sent to the emulator during this pytest session satisfies the official
spec (overlay applied), checked with openapi-core from the emulator's request log files.

The integration tests (run before this package) fill the log through the shared session emulator; this
test also walks one checkout per route itself, so it checks real traffic even when run alone.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.klarna_flow import pay_with_klarna
from tests.integration.next_flow import pay
from tests.spec.shop_requests import logged_requests, violations


@pytest.mark.django_db
def test_the_shops_requests_satisfy_the_specs(emulator, client):
    pay(emulator, client)
    pay_with_klarna(emulator, client)
    entries = list(logged_requests(Path(os.environ["EMULATOR_REQUEST_LOG_DIR"])))
    problems, checked = violations(entries)
    print(f"{checked} shop requests checked against the specs")
    assert checked >= 4, "the shop's flows above must have been logged"
    assert problems == [], "\n".join(problems)
