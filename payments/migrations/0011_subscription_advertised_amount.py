"""Subscription.advertised_amount: what the shop's pages said a renewal costs, kept so the shop can check, and
correct, what a provider-run subscription will charge (a failed price alignment used to be forgotten)."""
from django.db import migrations, models


def backfill(apps, schema_editor):
    """Each subscription's advertised price, as checkout computes it: its order's subscription lines of its
    schedule (upsells excluded), shipping free."""
    Subscription = apps.get_model("payments", "Subscription")
    OrderLine = apps.get_model("shop", "OrderLine")
    for sub in Subscription.objects.filter(advertised_amount__isnull=True).iterator():
        lines = (OrderLine.objects.filter(order_id=sub.order_id, is_upsell=False, interval=sub.interval)
                 .values_list("interval_count", "total"))
        amount = sum(total for count, total in lines if (count or 1) == sub.interval_count)
        if amount:
            Subscription.objects.filter(pk=sub.pk).update(advertised_amount=amount)


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0010_payload_without_nul'),
        ('shop', '0007_lean_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='subscription',
            name='advertised_amount',
            field=models.PositiveIntegerField(blank=True, help_text="What the shop's pages said one renewal costs (minor units): the provider must charge exactly this", null=True),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
