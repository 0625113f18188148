"""Scheduled work under `make run`: production's beat schedule, run by shop.scheduler without a broker."""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from config.celery import app
from payments.models import Subscription
from shop.scheduler import Scheduler
from tests.factories import make_order, make_product
from tests.integration.klarna_flow import pay_with_klarna

pytestmark = pytest.mark.django_db(transaction=True)
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def test_the_schedule_is_productions_beat_schedule():
    scheduler = Scheduler(app, start=timezone.now())
    assert {e.name: (e.task, e.every) for e in scheduler.entries} == {
        name: (spec["task"], spec["schedule"]) for name, spec in app.conf.beat_schedule.items()}
    assert {"charge-due-subscriptions", "dunning", "reconcile-stuck-payments", "check-due-subscriptions",
            "send-pending-emails"} <= {e.name for e in scheduler.entries}
    assert all(e.task in app.tasks for e in scheduler.entries)  # every task is registered in this process


def test_one_hour_runs_each_job_as_often_as_beat_would():
    start = datetime(2026, 3, 2, 9, 59, 30, tzinfo=AMSTERDAM)
    scheduler = Scheduler(app, start=start)
    runs = {}
    for minute in range(1, 61):
        for name in scheduler.tick(start + timedelta(minutes=minute)):
            runs[name] = runs.get(name, 0) + 1
    assert runs == {"reconcile-stuck-payments": 12, "reconcile-upsells": 12, "send-pending-emails": 12,
                    "issue-customer-tokens": 12, "charge-due-subscriptions": 6, "check-due-subscriptions": 4, "dunning": 1,
                    "reconcile-subscriptions": 1, "align-subscription-prices": 4, "book-dashboard-operations": 1}


def test_a_late_tick_catches_up_each_job_once():
    start = datetime(2026, 3, 2, 10, 0, 30, tzinfo=AMSTERDAM)
    scheduler = Scheduler(app, start=start)
    ran = scheduler.tick(start + timedelta(minutes=20))  # 10:01 .. 10:20 in one go (a slow task)
    assert sorted(ran) == ["align-subscription-prices", "charge-due-subscriptions", "check-due-subscriptions", "dunning",
                           "issue-customer-tokens", "reconcile-stuck-payments", "reconcile-subscriptions", "reconcile-upsells",
                           "send-pending-emails"]
    assert scheduler.tick(start + timedelta(minutes=21)) == []  # 10:21 matches nothing


def test_due_klarna_renewal_and_dunning_run_without_a_broker(emulator, client):
    beans = make_product(kind="subscription", interval="month", interval_count=1, price=1650, vat_rate_bp=900)
    pay_with_klarna(emulator, client, make_order(items=[(beans, 1)], shipping_fee=0))
    sub = Subscription.objects.get()
    Subscription.objects.filter(pk=sub.pk).update(next_renewal_at=timezone.now() - timedelta(minutes=1))
    now = timezone.now()
    scheduler = Scheduler(app, start=now)
    # The next minute at which charge-due-subscriptions fires (every 10 minutes).
    target = now.astimezone(AMSTERDAM).replace(second=0, microsecond=0)
    while target.minute % 10 or target <= now:
        target += timedelta(minutes=1)
    assert "charge-due-subscriptions" in scheduler.tick(target)
    assert sub.charges.get(billing_cycle=1).outcome == "paid"
    # Declined now, then the dunning job cancels it once its days have passed.
    emulator.control("POST", f"/_emulator/klarna/tokens/{sub.customer_token}/scenario", json={"charge": "decline", "times": 5})
    Subscription.objects.filter(pk=sub.pk).update(next_renewal_at=timezone.now() - timedelta(minutes=1))
    call_command("run_schedule", "--once")
    sub.refresh_from_db()
    assert sub.status == "past_due"
    Subscription.objects.filter(pk=sub.pk).update(past_due_since=timezone.now() - timedelta(days=8), dunning_step=2)
    call_command("run_schedule", "--once")
    sub.refresh_from_db()
    assert sub.status == "canceled" and sub.cancel_reason == "recurring_payment_declined"


def test_make_run_starts_the_scheduler():
    from pathlib import Path

    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    run = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "manage.py run_schedule &" in run and "manage.py runserver" in run
