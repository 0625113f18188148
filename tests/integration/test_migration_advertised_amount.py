"""Migration payments 0011 backfills Subscription.advertised_amount from rows that exist: run on a database
holding subscriptions made before it, as a shop upgrading in place has."""
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("payments", "0010_payload_without_nul"), ("shop", "0007_lean_indexes")]
AFTER = [("payments", "0011_subscription_advertised_amount")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def make_order(apps, number, lines):
    Order = apps.get_model("shop", "Order")
    OrderLine = apps.get_model("shop", "OrderLine")
    total = sum(quantity * price for quantity, price, *_ in lines)
    order = Order.objects.create(
        number=number, route="next", email="old@example.com", phone="+31612345678", first_name="Old",
        last_name="Shopper", shipping_line1="Damrak 1", shipping_city="Amsterdam", shipping_postcode="1012 LG",
        shipping_country="NL", currency="EUR", subtotal=total, tax_total=0, total=total)
    for quantity, price, interval, count, upsell in lines:
        OrderLine.objects.create(order=order, sku=f"SKU-{price}", name="Item", quantity=quantity, unit_price=price,
                                 vat_rate_bp=0, total=quantity * price, tax=0, interval=interval,
                                 interval_count=count, is_upsell=upsell)
    return order


@pytest.mark.django_db(transaction=True)
def test_backfill_sets_each_subscriptions_own_schedule_price():
    old = migrate(BEFORE)
    Subscription = old.get_model("payments", "Subscription")
    # Order 1: a monthly line (2 × 1500), a monthly upsell (excluded) and a one-off line (no schedule).
    monthly = make_order(old, "M-1", [(2, 1500, "month", 1, False), (1, 900, "month", 1, True),
                                      (1, 2450, "", None, False)])
    # Order 2: two schedules in one cart (every month, every 3 months): each subscription its own lines.
    mixed = make_order(old, "M-2", [(1, 1000, "month", 1, False), (1, 2700, "month", 3, False)])
    # Order 3: the subscription's schedule has no line left (lines edited by hand): nothing to backfill.
    orphan = make_order(old, "M-3", [(1, 500, "week", 1, False)])
    rows = {
        "monthly": Subscription.objects.create(route="next", provider_id="s1", order=monthly, email="a@example.com",
                                               interval="month", interval_count=1, amount=3000, currency="EUR"),
        "mixed_1": Subscription.objects.create(route="next", provider_id="s2", order=mixed, email="b@example.com",
                                               interval="month", interval_count=1, amount=1000, currency="EUR"),
        "mixed_3": Subscription.objects.create(route="next", provider_id="s3", order=mixed, email="b@example.com",
                                               interval="month", interval_count=3, amount=2700, currency="EUR"),
        "orphan": Subscription.objects.create(route="next", provider_id="s4", order=orphan, email="c@example.com",
                                              interval="month", interval_count=1, amount=500, currency="EUR"),
    }
    try:
        new = migrate(AFTER)
        Migrated = new.get_model("payments", "Subscription")
        advertised = {name: Migrated.objects.get(pk=row.pk).advertised_amount for name, row in rows.items()}
        assert advertised == {"monthly": 3000, "mixed_1": 1000, "mixed_3": 2700, "orphan": None}
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
