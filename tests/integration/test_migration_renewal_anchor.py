"""Migration payments 0013 backfills Subscription.renewal_anchor from rows that exist: run on a database holding
subscriptions made before it (one of them on a date the old arithmetic left early), as a shop upgrading in
place has."""
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from payments.services.renewal_dates import renewal_next
from tests.integration.test_migration_advertised_amount import make_order, migrate

BEFORE = [("payments", "0012_renewal_voids_index"), ("shop", "0007_lean_indexes")]
AFTER = [("payments", "0013_subscription_renewal_anchor")]
AMS = ZoneInfo("Europe/Amsterdam")


@pytest.mark.django_db(transaction=True)
def test_backfill_takes_the_last_date_a_merchant_moved_to_else_the_start(settings):
    settings.TIME_ZONE = "Europe/Amsterdam"
    old = migrate(BEFORE)
    Subscription = old.get_model("payments", "Subscription")
    SubscriptionEvent = old.get_model("payments", "SubscriptionEvent")
    order = make_order(old, "A-1", [(1, 1650, "month", 1, False)])

    def subscription(provider_id, started, next_renewal):
        sub = Subscription.objects.create(route="klarna_payments", provider_id=provider_id, order=order,
                                          email="a@example.com", interval="month", interval_count=1, amount=1650,
                                          currency="EUR", next_renewal_at=next_renewal)
        Subscription.objects.filter(pk=sub.pk).update(created_at=started)  # auto_now_add set it to now
        return sub

    # Bought 1 Nov 00:30 local; the old arithmetic set its third renewal to 31 Dec instead of 1 Jan.
    bought = subscription("s1", datetime(2026, 11, 1, 0, 30, tzinfo=AMS), datetime(2026, 12, 31, 0, 30, tzinfo=AMS))
    # Moved to the 15th, then (later) to the 20th; a later failed move and unrelated history do not count.
    moved = subscription("s2", datetime(2026, 9, 3, 10, 0, tzinfo=AMS), datetime(2026, 12, 20, 8, 0, tzinfo=AMS))
    for kind, message in [("sync", "Next renewal moved to 2026-10-15T08:00:00+02:00"),
                          ("sync", "Next renewal moved to 2026-11-20T08:00:00+01:00; later renewals follow from "
                                   "that date"),
                          ("reschedule_failed", "Next renewal moved to 2026-12-24T08:00:00+01:00: 503"),
                          ("sync", "Cycle 2 paid: order SO-AAAA")]:
        SubscriptionEvent.objects.create(subscription=moved, kind=kind, source="admin", message=message)
    # A move whose date cannot be read back (not what the shop writes): the start stands.
    garbled = subscription("s3", datetime(2026, 6, 30, 18, 45, tzinfo=AMS), datetime(2026, 12, 30, 18, 45, tzinfo=AMS))
    SubscriptionEvent.objects.create(subscription=garbled, kind="sync", source="admin",
                                     message="Next renewal moved to tomorrow")
    try:
        new = migrate(AFTER)
        Migrated = new.get_model("payments", "Subscription")
        anchors = {sub.provider_id: Migrated.objects.get(pk=sub.pk).renewal_anchor for sub in (bought, moved, garbled)}
        assert anchors == {"s1": datetime(2026, 11, 1, 0, 30, tzinfo=AMS),
                           "s2": datetime(2026, 11, 20, 8, 0, tzinfo=AMS),
                           "s3": datetime(2026, 6, 30, 18, 45, tzinfo=AMS)}
        # The early 31 December date is paid as it stands; the renewal after it is back on the 1st.
        due = Migrated.objects.get(pk=bought.pk).next_renewal_at
        assert renewal_next(anchors["s1"], "month", 1, due=due, now=due) == datetime(2027, 2, 1, 0, 30, tzinfo=AMS)
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
