"""Klarna subscriptions renew on the local day they were bought (or moved to), through the shop's own beat
(payments.tasks.charge_due_subscriptions): probe H F2, where renewal dates were chained on the UTC calendar."""
# ruff: noqa: F811 - `klarna` is a fixture, imported from the main renewal tests and named by each test
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from payments import tasks
from payments.models import Subscription
from payments.services.subscription_actions import subscription_reschedule
from tests.integration.test_klarna_renewals import klarna, subscribe, token_orders  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)
AMS = ZoneInfo("Europe/Amsterdam")


@pytest.fixture
def clock(monkeypatch, settings):
    """The shop's clock (django.utils.timezone.now), set by the test; the shop's time zone is Amsterdam's."""
    settings.TIME_ZONE = "Europe/Amsterdam"
    real = timezone.now
    now = {"at": None}
    monkeypatch.setattr(timezone, "now", lambda: now["at"] or real())

    def set_to(when):
        now["at"] = when

    return set_to


def renewals(klarna, sub, clock, count):
    """Let the beat run a few minutes after each of the next `count` renewal dates; returns those dates as the
    subscriber sees them. Each is charged once (one Klarna token order more each time)."""
    seen = []
    for n in range(count):
        sub.refresh_from_db()
        due = sub.next_renewal_at
        seen.append(f"{due.astimezone(AMS):%Y-%m-%d %H:%M}")
        clock(due + timedelta(minutes=5))
        tasks.charge_due_subscriptions()
        assert len(token_orders(klarna)) == n + 1
        assert sub.charges.get(billing_cycle=n + 1).outcome == "paid"
    return seen


def test_bought_1_november_0030_local_renews_on_the_first_of_each_month(klarna, client, clock):
    """1 Nov 00:30 in Amsterdam is 31 Oct 23:30 UTC: it renewed 1 Dec, 31 Dec, 31 Jan, 1 Mar (two charges in
    December, none in February)."""
    clock(datetime(2030, 11, 1, 0, 30, tzinfo=AMS))
    sub = subscribe(klarna, client)
    assert renewals(klarna, sub, clock, 3) == ["2030-12-01 00:30", "2031-01-01 00:30", "2031-02-01 00:30"]
    sub.refresh_from_db()
    assert f"{sub.next_renewal_at.astimezone(AMS):%Y-%m-%d %H:%M}" == "2031-03-01 00:30"


def test_a_merchants_new_date_is_the_day_it_renews_on_from_then_on(klarna, client, clock):
    """The subscriber asked to renew on the 31st: the merchant moves the next renewal there, and it renews at
    each month's end after that (30 April, not 28 April after February's 28th), at the same local time."""
    clock(datetime(2031, 1, 5, 14, 0, tzinfo=AMS))
    sub = subscribe(klarna, client)
    subscription_reschedule(subscription_id=sub.pk, when=datetime(2031, 1, 31, 9, 15, tzinfo=AMS))
    sub.refresh_from_db()
    assert sub.renewal_anchor == datetime(2031, 1, 31, 9, 15, tzinfo=AMS)
    assert "later renewals follow from that date" in sub.events.order_by("-pk").first().message
    assert renewals(klarna, sub, clock, 4) == ["2031-01-31 09:15", "2031-02-28 09:15", "2031-03-31 09:15",
                                               "2031-04-30 09:15"]
    assert Subscription.objects.get(pk=sub.pk).next_renewal_at == datetime(2031, 5, 31, 9, 15, tzinfo=AMS)
