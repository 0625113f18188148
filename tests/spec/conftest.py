"""The spec tier: schemathesis against a dedicated emulator, and openapi-core over the shop's requests.

Collecting this package turns on the emulator request log files (`EMULATOR_REQUEST_LOG_DIR`, read by
`tests/emulator_process.py`) for the whole pytest session, so every emulator the shop's tests start records
what the shop sent; `test_shop_requests.py` checks those files at the end (tests/spec runs after
tests/integration). Emulators that are sent invalid requests on purpose (the emulator contract packages,
the fuzzing emulator here) turn their log file off.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

from tests.emulator_process import EmulatorProcess

if "EMULATOR_REQUEST_LOG_DIR" not in os.environ:
    os.environ["EMULATOR_REQUEST_LOG_DIR"] = tempfile.mkdtemp(prefix="emulator-requests-")
    atexit.register(shutil.rmtree, os.environ["EMULATOR_REQUEST_LOG_DIR"], ignore_errors=True)


@pytest.fixture(scope="package")
def fuzz_emulator():
    """An emulator of its own for fuzzing: no rate limit, no webhook target, no request log file."""
    process = EmulatorProcess().start(env={"EMULATOR_RATE_LIMIT": "0", "EMULATOR_NEXT_WEBHOOK_TARGET": "",
                                           "EMULATOR_REQUEST_LOG_FILE": ""})
    yield process
    process.stop()
