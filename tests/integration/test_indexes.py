"""The indexes of the tables every payment writes: only those a query uses (the models' Meta says which).

Every index is written on each insert and, when it covers the status, on each status change (no HOT
update then), so an index no query needs costs every checkout, return and renewal. PostgreSQL only: the
LIKE pattern indexes Django adds to indexed text fields exist there alone.
"""
import pytest
from django.db import connection

from payments.models import PaymentAttempt
from tests.factories import make_order

pytestmark = pytest.mark.django_db

WRITTEN_BY_PAYMENTS = ("payments_paymentattempt", "payments_paymentevent", "payments_subscription",
                       "payments_subscriptioncharge", "payments_webhookdelivery", "shop_order",
                       "shop_emailnotification")


def _indexes(table) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return dict(cursor.fetchall())


def test_no_prefix_pattern_index_on_a_table_payments_write(postgres):
    found = {name: table for table in WRITTEN_BY_PAYMENTS
             for name, definition in _indexes(table).items() if "pattern_ops" in definition}
    assert found == {}


def test_an_attempt_is_indexed_by_what_is_looked_up_and_not_by_its_route(postgres):
    definitions = _indexes("payments_paymentattempt").values()
    assert not [d for d in definitions if d.endswith("(route)")]
    assert any("UNIQUE" in d and d.endswith("(reference)") for d in definitions)
    assert any(d.endswith("(provider_reference)") for d in definitions)
    assert any(d.endswith("(status, created_at)") for d in definitions)


def test_a_return_finds_its_attempt_by_the_unique_reference(postgres):
    """The lookup of payments.services.inbound.attempt_from_token, on a table without statistics yet (as a
    new shop's is): with an index on the route, the planner scanned all of a route's attempts for it."""
    attempts = [PaymentAttempt.objects.create(order=make_order(), route="next", amount=100, currency="EUR")
                for _ in range(30)]
    plan = (PaymentAttempt.objects.select_related("order")
            .filter(reference=attempts[7].reference, route="next").explain())
    assert "attempt_reference_unique" in plan, plan
