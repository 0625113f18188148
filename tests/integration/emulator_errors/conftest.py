"""Fixtures for the emulator's answers to requests no provider takes (unknown paths, bodies that cannot be
parsed): one emulator process for the package, with no request log (these requests are invalid on purpose;
the spec tier checks the shop's own), reset before every test."""
import pytest

from tests.integration.emulator_fixtures import package_emulator_fixtures

emulator = package_emulator_fixtures({"EMULATOR_CLOCK_TICK_SECONDS": "0"})[0]


@pytest.fixture(autouse=True)
def _reset(emulator):
    emulator.reset()
