"""Provider-run subscriptions read back by the page (issue 14, goal 3): calls per page, not per subscription,
and history only for what really changed."""
from datetime import timedelta

import pytest
from django.utils import timezone

from payments.models import Subscription, SubscriptionEvent
from payments.services.subscription_actions import subscriptions_due, subscriptions_reconcile
from payments.services.subscription_sweep import subscriptions_apply_page, subscriptions_sweep
from payments.tasks import check_due_subscriptions
from tests.integration.next_flow import pay, provider_requests, subscription_order

pytestmark = pytest.mark.django_db(transaction=True)
CLONES = 119  # with the real one: 120 subscriptions, three pages of 50


@pytest.fixture
def mirrored(emulator, live_server, client):
    """One subscription bought through checkout, cloned at the provider and mirrored as due."""
    emulator.control("PATCH", "/_emulator/config", json={"next": {"webhook_target": live_server.url
                                                                  + "/payments/webhooks/next/", "webhooks_sync": True}})
    order, _, _ = pay(emulator, client, subscription_order())
    first = Subscription.objects.get(order=order)
    ids = emulator.control("POST", "/_emulator/next/subscriptions/seed",
                           json={"from_subscription": int(first.provider_id), "count": CLONES})["ids"]
    long_ago = timezone.now() - timedelta(days=1)
    Subscription.objects.bulk_create([
        Subscription(route="next", provider_id=str(pid), order=order, email=first.email, interval=first.interval,
                     interval_count=first.interval_count, amount=first.amount, currency=first.currency,
                     next_renewal_at=first.next_renewal_at, provider_synced_at=long_ago) for pid in ids])
    Subscription.objects.update(next_renewal_at=long_ago, provider_synced_at=long_ago)
    _mark(emulator)
    return Subscription.objects.order_by("pk")


MARK = {}


def _mark(emulator):
    """Count only the provider calls made from here on (the emulator keeps its whole request log)."""
    MARK["id"] = max((r["id"] for r in emulator.control("GET", "/_emulator/requests")["requests"]), default=0)


def _reads(emulator):
    return [r for r in provider_requests(emulator, "GET", "/subscriptions/") if r["id"] > MARK["id"]]


def _list_calls(emulator):
    return [r for r in _reads(emulator) if r["path"].endswith("/subscriptions/")]


def _single_reads(emulator):
    return [r for r in _reads(emulator) if not r["path"].endswith("/subscriptions/")]


def test_due_subscriptions_are_read_by_the_page_and_only_changes_are_recorded(emulator, mirrored):
    events_before = SubscriptionEvent.objects.count()
    assert subscriptions_due() == {"next": 120}
    assert check_due_subscriptions() == 120
    # 120 mirrors, 50 per page: three list calls, no read per subscription
    assert len(_list_calls(emulator)) == 3 and not _single_reads(emulator)
    assert _list_calls(emulator)[0]["query"] == {"status": ["active", "past_due", "retrying", "paused"]}
    # every mirror's renewal date was wrong (a day ago): each changed, once
    assert SubscriptionEvent.objects.count() == events_before + 120
    assert set(SubscriptionEvent.objects.order_by("-pk")[:120].values_list("kind", "source", "message")) == {
        ("sync", "renewal-check", "updated next_renewal_at, provider_synced_at")}
    assert not Subscription.objects.filter(next_renewal_at__lt=timezone.now()).exists()
    assert subscriptions_due() == {}

    # nothing changed at the provider: a second read-back writes no history at all
    Subscription.objects.update(provider_synced_at=timezone.now() - timedelta(hours=2))
    assert subscriptions_reconcile() == 120
    assert SubscriptionEvent.objects.count() == events_before + 120
    assert not Subscription.objects.filter(provider_synced_at__lt=timezone.now() - timedelta(minutes=1)).exists()


def test_a_sweep_stops_when_its_targets_are_read_and_reads_the_rest_one_by_one(emulator, mirrored):
    newest = mirrored.last()
    canceled = mirrored.first()  # the real one: oldest, on the last page
    emulator.control("PATCH", "/_emulator/config", json={"next": {"webhooks_sync": False, "webhook_target": ""}})
    from tests.integration.emulator_next_recurring.helpers import call

    assert call(emulator, "POST", f"/subscriptions/{canceled.provider_id}/cancel/",
                {"cancel_reason": "other"}).status_code == 200
    # only two targets: the newest (first page) and one canceled at the provider (never on a live page)
    Subscription.objects.exclude(pk__in=[newest.pk, canceled.pk]).update(
        next_renewal_at=timezone.now() + timedelta(days=3))
    _mark(emulator)
    progress = subscriptions_sweep(route="next", scope="due", cutoff=timezone.now())
    # two targets cost less one by one than three pages
    assert progress.calls == 2 and len(_single_reads(emulator)) == 2 and not _list_calls(emulator)
    canceled.refresh_from_db()
    assert canceled.status == "canceled"


def test_a_page_with_nothing_changed_costs_three_queries(emulator, mirrored, django_assert_max_num_queries):
    from payments.providers.registry import get_adapter

    check_due_subscriptions()
    page = get_adapter("next").list_subscriptions(statuses=("active",))
    assert len(page.infos) == 50 and page.next_cursor
    with django_assert_max_num_queries(3):
        assert subscriptions_apply_page(route="next", infos=page.infos, source="test") == (50, 0)
    following = get_adapter("next").list_subscriptions(cursor=page.next_cursor, statuses=("active",))
    assert {i.provider_id for i in following.infos}.isdisjoint({i.provider_id for i in page.infos})


def test_a_sweep_in_chunks_goes_on_from_its_cursor(emulator, mirrored):
    cutoff = timezone.now()
    first = subscriptions_sweep(route="next", scope="due", cutoff=cutoff, seconds=0)
    assert first.cursor and first.read == 50 and first.calls == 1
    rest = subscriptions_sweep(route="next", scope="due", cutoff=cutoff, cursor=first.cursor)
    assert rest.cursor is None and rest.read == 70 and rest.calls == 2
    assert subscriptions_due() == {}
