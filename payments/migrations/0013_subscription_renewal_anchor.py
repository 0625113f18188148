"""Subscription.renewal_anchor: where a shop-run subscription's renewal dates count from (probe H F2).

Renewal dates used to be chained from the previous one on the UTC calendar, so they drifted; they are now
counted from an anchor (payments.services.renewal_dates), which a merchant's reschedule moves. Rows made
before this migration get theirs from what is stored."""
from datetime import datetime

from django.db import migrations, models

# How ShopRun.reschedule (and ProviderRun's) records a moved date: "Next renewal moved to <ISO datetime>...".
MOVED = "Next renewal moved to "


def backfill(apps, schema_editor):
    """Each subscription's anchor: the date a merchant last moved its renewal to (its history says so), else when
    it started (created_at, the moment its first renewal date was counted from).

    Its pending next_renewal_at is left alone (the subscriber may have been told it): renewal_next takes a date
    the old arithmetic left a few days early for the schedule's date it stood for, so the renewal after it is
    back on the anchor's day."""
    Subscription = apps.get_model("payments", "Subscription")
    SubscriptionEvent = apps.get_model("payments", "SubscriptionEvent")
    for sub in Subscription.objects.filter(renewal_anchor__isnull=True).only("pk", "created_at").iterator():
        # "sync" is ShopRun's record of a reschedule, "reschedule" ProviderRun's; a failed one is "reschedule_failed".
        moved = (SubscriptionEvent.objects.filter(subscription_id=sub.pk, kind__in=("sync", "reschedule"),
                                                  message__startswith=MOVED)
                 .order_by("-created_at", "-pk").values_list("message", flat=True).first())
        Subscription.objects.filter(pk=sub.pk).update(renewal_anchor=_moved_to(moved) or sub.created_at)


def _moved_to(message):
    """The aware datetime a "Next renewal moved to ..." message names, or None."""
    words = (message or "")[len(MOVED):].split()
    try:
        when = datetime.fromisoformat(words[0].rstrip(";,.")) if words else None
    except ValueError:
        return None
    return when if when is not None and when.tzinfo is not None else None


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0012_renewal_voids_index'),
    ]

    operations = [
        migrations.AddField(
            model_name='subscription',
            name='renewal_anchor',
            field=models.DateTimeField(blank=True, help_text="Shop-run renewals fall on this moment's local day and time every period (month ends clamped): the start, or the date a merchant last moved the next renewal to", null=True),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
