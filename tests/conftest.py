"""Shared fixtures: the emulator process, provider settings pointing at it, service requirements.

Tests that need PostgreSQL, Redis or a browser skip with a reason when those are absent, and fail
instead when REQUIRE_SERVICES=1 (CI sets it): see `require_service`.
"""
import os
import threading
import time

import pytest
from django.db import connection

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"

# Celery reads these two from the process environment ahead of any setting, so the caller's values would
# send this process's tasks to their broker despite config/settings.py choosing eager mode under pytest.
# Processes the tests start get them explicitly (the worker tier) or not at all (the production tier).
for _celery_variable in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
    os.environ.pop(_celery_variable, None)


def require_service(available: bool, reason: str):
    """Skip (laptop) or fail (CI) a test whose service is missing."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


def client_connections(cursor, database: str) -> list[int]:
    """The pids of the client connections to PostgreSQL database `database`, the cursor's own left out."""
    cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
                   "AND backend_type = 'client backend'", [database])
    return [pid for (pid,) in cursor.fetchall()]


def drop_connections(cursor, database: str) -> list[int]:
    """Close the client connections to `database` from the server side, as a restart or a failover does
    (the cursor's own is kept). Returns the pids of those it closed."""
    cursor.execute("SELECT pid FROM unnest(%s::int[]) AS pid WHERE pg_terminate_backend(pid)",
                   [client_connections(cursor, database)])
    return [pid for (pid,) in cursor.fetchall()]


@pytest.fixture
def postgres(db):
    require_service(connection.vendor == "postgresql",
                    "needs PostgreSQL (set DATABASE_URL=postgres://...)")


@pytest.fixture(scope="session")
def emulator_process():
    from tests.emulator_process import EmulatorProcess

    process = EmulatorProcess()
    process.start(env={"EMULATOR_RATE_LIMIT": "0"})
    yield process
    process.stop()


@pytest.fixture(scope="session")
def live_server(live_server, emulator_process):
    """pytest-django's live server, which outlives the emulator's connections to it: the emulator delivers
    webhooks over kept-alive connections, and a request thread still holding one when the server stops
    would close the in-memory SQLite connection after pytest-django stopped sharing it across threads (an
    unhandled exception in that thread, reported against whichever test ran last)."""
    yield live_server
    emulator_process.stop()  # its sockets close: each request thread reads the end and finishes
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(
            "process_request_thread" in thread.name for thread in threading.enumerate()):
        time.sleep(0.02)


@pytest.fixture
def emulator(emulator_process, settings):
    """A freshly reset emulator with the shop's provider settings (29 Next, Klarna, MultiSafepay) pointing at it."""
    from payments.providers.registry import reset_cache

    emulator_process.reset()
    emulator_process.control("PATCH", "/_emulator/config", json={
        "next": {"rate_limit": False, "webhooks_sync": True, "webhook_target": "",
                 "webhook_secret": settings.NEXT_WEBHOOK_SECRET},
    })
    settings.NEXT_API_BASE_URL = emulator_process.url + "/next/api/admin/"
    settings.KLARNA_API_BASE_URL = emulator_process.url + "/klarna/"
    settings.KLARNA_SDK_URL = emulator_process.url + "/klarna/js/klarna-payments.js"
    settings.KLARNA_AUTHORIZE_API_BASE_URL = emulator_process.url + "/klarna-global/"
    settings.MULTISAFEPAY_API_BASE_URL = emulator_process.url + "/multisafepay/v1/json/"
    settings.MULTISAFEPAY_API_KEY = "msp-emulator-api-key"
    settings.PAYMENT_ROUTES = ["next", "klarna_payments", "multisafepay"]
    settings.NEXT_API_TOKEN = "emulator-token"
    settings.PROVIDER_READ_TIMEOUT = 2.0
    settings.PROVIDER_MAX_BACKOFF = 0.2
    reset_cache()
    yield emulator_process
    emulator_process.control("DELETE", "/_emulator/faults")
    reset_cache()


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    """Rate-limit windows are per client address, and every test client is 127.0.0.1: each test starts
    with empty windows instead of inheriting the previous tests' traffic."""
    from django.core.cache import cache

    cache.clear()
    yield
