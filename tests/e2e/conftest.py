"""Headless Chromium (Debian's package) driven by Playwright, against the live shop and the emulator."""
import os
import shutil

import pytest
from django.db import connection

from tests.conftest import require_service

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still plain
# synchronous code, so tell Django not to refuse them.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="session")
def browser():
    require_service(os.path.exists(CHROMIUM), "needs Debian's chromium (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


@pytest.fixture
def shop(live_server, emulator, settings):
    """The live shop wired to the emulator both ways (return URLs and webhooks)."""
    settings.SHOP_BASE_URL = live_server.url
    emulator.control("PATCH", "/_emulator/config", json={"next": {
        "webhook_target": live_server.url + "/payments/webhooks/next/", "webhooks_sync": False}})
    if connection.vendor == "sqlite":
        # The test server's in-memory SQLite fails concurrent writers at once ("table is locked") instead
        # of waiting as file SQLite and PostgreSQL do: webhooks and callbacks racing the browser are
        # exercised on PostgreSQL (CI); here the browser's return alone settles the payment.
        emulator.control("POST", "/_emulator/webhooks/mode", json={"mode": "drop"})
    return live_server


def fill_checkout(page, *, email="anna@example.com", route=None):
    """Fill the checkout form as a shopper in the Netherlands would, choose `route`, place the order."""
    page.fill("#id_email", email)
    page.fill("#id_phone", "+31 6 1234 5678")
    page.fill("#id_first_name", "Anna")
    page.fill("#id_last_name", "Jansen")
    page.fill("#id_shipping_line1", "Keizersgracht 1")
    page.fill("#id_shipping_city", "Amsterdam")
    page.fill("#id_shipping_postcode", "1015 CJ")
    page.select_option("#id_shipping_country", "NL")
    if route:
        page.check(f"input[name=route][value={route}]")
    page.click("#place-order")
