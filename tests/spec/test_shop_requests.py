"""Every request the shop's clients sent to the emulator during this pytest session satisfies the official
spec (overlay applied), checked with openapi-core from the emulator's request log files.

The integration tests (run before this package) fill the log through the shared session emulator; this
test also walks one checkout per route that has a spec itself (MultiSafepay's on to ship and a refund, so
all four of its operations are sent), so it checks real traffic even when run alone. Requests to a route
without a spec (`WITHOUT_SPEC`) are counted and skipped, with the reason printed.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from payments.services import order_management
from payments.services.payment_start import payment_start
from tests.factories import make_order
from tests.integration.klarna_flow import pay_with_klarna
from tests.integration.multisafepay_flow import decide
from tests.integration.next_flow import pay
from tests.spec.shop_requests import logged_requests, violations
from tests.spec.specs import WITHOUT_SPEC


def pay_with_multisafepay(emulator, client) -> None:
    """Checkout (create, the shopper's approval, the status read on return), ship and a partial refund."""
    attempt = payment_start(order=make_order(route="multisafepay"), route="multisafepay")
    path, query = decide(emulator, attempt, "approve")
    assert client.get(f"{path}?{query}").status_code == 303
    order_management.payment_capture(attempt_id=attempt.pk, tracking_number="3SMSP0123456789", carrier="PostNL")
    order_management.payment_refund(attempt_id=attempt.pk, amount=500, description="spec tier")


@pytest.mark.django_db(transaction=True)
def test_the_shops_requests_satisfy_the_specs(emulator, client):
    pay(emulator, client)
    pay_with_klarna(emulator, client)
    pay_with_multisafepay(emulator, client)
    entries = list(logged_requests(Path(os.environ["EMULATOR_REQUEST_LOG_DIR"])))
    found = violations(entries)
    print(f"{found.checked} shop requests checked against the specs {found.per_spec}, "
          f"{len(found.problems)} violations")
    for base, count in found.skipped.items():
        print(f"{count} requests to {base} not checked: {WITHOUT_SPEC[base]}")
    assert found.checked >= 8, "the shop's flows above must have been logged"
    assert found.per_spec.get("multisafepay", 0) >= 4, found.per_spec
    assert found.problems == [], "\n".join(found.problems)
