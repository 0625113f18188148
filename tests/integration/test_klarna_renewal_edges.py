"""Klarna subscriptions at their edges: a cancel racing the renewal charge, a renewal date moved far back, a
first order the merchant withdrew, a declined "Renew now" (probes E and F of stop 27)."""
# ruff: noqa: F811 - `klarna` is a fixture, imported from the main renewal tests and named by each test
from datetime import timedelta

import pytest
from django.utils import timezone

from payments.models import PaymentAttempt, Subscription
from payments.services.renewals import subscription_charge, subscriptions_charge_due
from payments.services.subscription_actions import subscription_cancel
from payments.states import Status
from tests.integration.renewal_flow import after_the_charge
from tests.integration.test_klarna_renewals import klarna, make_due, subscribe, token_orders  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_renewal_klarna_took_while_the_subscriber_cancelled_is_undone(klarna, client, monkeypatch):
    """The subscriber cancelled ("you will not be charged again") while their renewal was at Klarna: the
    status was read before the charge and the cancel committed before it was recorded. The cancel wins:
    the renewal's authorization is cancelled at once, and no receipt goes out."""
    from shop.models import EmailNotification

    sub = subscribe(klarna, client)
    make_due(sub)
    after_the_charge(monkeypatch, sub, lambda: subscription_cancel(subscription_id=sub.pk, reason="cancel_recurring",
                                                                   source="shopper"))
    assert subscription_charge(subscription_id=sub.pk) == "voided"
    charge = sub.charges.select_related("attempt").get(billing_cycle=1)
    assert charge.attempt.status == Status.CANCELLED and charge.provider_order
    [order] = [o for o in klarna.control("GET", "/_emulator/klarna/orders")["orders"]
               if o["order_id"] == charge.provider_order]
    assert order["status"] == "CANCELLED"
    assert charge.attempt.events.filter(dedupe_key="renewal:void-after-cancel").exists()
    sub.refresh_from_db()
    assert sub.status == "canceled" and sub.next_renewal_at is None
    assert sub.events.filter(message__contains="charged while the subscription was being cancelled").exists()
    assert not EmailNotification.objects.filter(kind="renewal_paid").exists()


def test_an_undo_klarna_could_not_make_is_made_by_reconcile(klarna, client, monkeypatch):
    from payments.services.reconcile import payments_reconcile

    sub = subscribe(klarna, client)
    make_due(sub)

    def cancelled_and_klarna_down():
        Subscription.objects.filter(pk=sub.pk).update(status="canceled", next_renewal_at=None)
        # ... and Klarna's order management is down when the shop undoes it.
        klarna.control("POST", "/_emulator/faults", json={"method": "POST", "path": "/klarna/ordermanagement/",
                                                          "kind": "error", "status": 503, "times": 50})

    after_the_charge(monkeypatch, sub, cancelled_and_klarna_down)
    assert subscription_charge(subscription_id=sub.pk) == "voided"
    attempt = sub.charges.get(billing_cycle=1).attempt
    assert attempt.status == Status.AUTHORIZED  # charged, marked to be undone
    klarna.control("DELETE", "/_emulator/faults")
    assert payments_reconcile(older_than=0).voided == 1
    attempt.refresh_from_db()
    assert attempt.status == Status.CANCELLED
    assert payments_reconcile(older_than=0).voided == 0


def test_a_renewal_date_moved_far_into_the_past_charges_once_not_every_missed_cycle(klarna, client):
    """Probe E F9: a date moved back three months was renewed one interval at a time, a charge per beat run
    until the date passed today. One charge now; the next date is the schedule's first one still ahead."""
    from payments.services.subscription_actions import subscription_reschedule

    sub = subscribe(klarna, client)
    subscription_reschedule(subscription_id=sub.pk, when=timezone.now() - timedelta(days=95))
    assert subscription_charge(subscription_id=sub.pk) == "paid"
    for _ in range(3):  # the beat's next runs
        assert subscriptions_charge_due() == []
    sub.refresh_from_db()
    assert timezone.now() < sub.next_renewal_at <= timezone.now() + timedelta(days=31)
    assert len(token_orders(klarna)) == 1


def test_a_withdrawn_first_order_stops_its_subscription_and_is_never_charged_again(klarna, client):
    """Probe E F1, F2: the merchant cancelled the first order's authorization; the subscription stayed active
    with its token, and "Renew now" (or the beat) charged cycle 0 again on the withdrawn order and made it
    paid. The subscription stops with its order, the token is cancelled, and nothing charges cycle 0 again."""
    from payments.services.order_management import payment_cancel

    sub = subscribe(klarna, client)
    checkout = sub.charges.get(billing_cycle=0).attempt
    payment_cancel(attempt_id=checkout.pk, user="merchant")
    sub.refresh_from_db()
    assert sub.status == "canceled" and sub.next_renewal_at is None
    assert "cancelled by the shop" in sub.events.order_by("-pk").first().message
    tokens = klarna.control("GET", "/_emulator/klarna/tokens")["tokens"]
    assert [t["status"] for t in tokens if t["token_id"] == sub.customer_token] == ["CANCELLED"]
    assert subscription_charge(subscription_id=sub.pk, force=True) == "skipped"
    assert not token_orders(klarna)
    checkout.order.refresh_from_db()
    assert checkout.order.status == "cancelled"


def test_an_unpaid_first_cycle_is_never_renewed(klarna, client):
    """The guard on its own: whatever left cycle 0 unpaid, a renewal never reopens it."""
    sub = subscribe(klarna, client)
    PaymentAttempt.objects.filter(pk=sub.charges.get(billing_cycle=0).attempt_id).update(status=Status.CANCELLED)
    make_due(sub)
    assert subscription_charge(subscription_id=sub.pk) == "skipped"
    assert not token_orders(klarna)


def test_a_declined_renew_now_is_said_as_declined_not_done(klarna, client, admin_client):
    """Probe E F8: a declined "Renew now" was a green "done. The subscription is now Past due."."""
    from django.urls import reverse

    from tests.integration.admin_forms import confirm

    sub = subscribe(klarna, client)
    klarna.control("POST", f"/_emulator/klarna/tokens/{sub.customer_token}/scenario",
                   json={"charge": "decline", "times": 1})
    page = confirm(admin_client, reverse("admin:payments_subscription_action", args=[sub.pk, "renew"]),
                   follow=True).content.decode()
    assert f"Renew now: subscription {sub.provider_id} refused: the charge was not taken (" in page
    assert "PAYMENT_METHOD_FAILED" in page and "The subscription is now Past due." in page
    assert "done. The subscription" not in page


def test_a_renewal_the_merchant_withdrew_stays_withdrawn_and_the_next_cycle_opens_a_new_order(klarna, client):
    """Probe H F3: the merchant cancelled renewal 1's authorization; at the next date the beat charged cycle 1
    again on that withdrawn order, which came back as paid. Cycle 2 opens on an order of its own instead."""
    from payments.services.order_management import payment_cancel
    from payments.tasks import charge_due_subscriptions

    sub = subscribe(klarna, client)
    make_due(sub)
    charge_due_subscriptions()
    first = sub.charges.get(billing_cycle=1).attempt
    assert first.status == Status.AUTHORIZED
    payment_cancel(attempt_id=first.pk, user="merchant")
    first.refresh_from_db()
    assert first.status == Status.CANCELLED and first.order.status == "cancelled"

    make_due(sub)
    charge_due_subscriptions()
    sub.refresh_from_db()
    second = sub.charges.get(billing_cycle=2).attempt
    assert second.status == Status.AUTHORIZED and second.order_id != first.order_id
    first.order.refresh_from_db()
    assert first.order.status == "cancelled"
    assert list(PaymentAttempt.objects.filter(order=first.order).values_list("status", flat=True)) == ["cancelled"]
    assert sub.status == "active" and sub.next_renewal_at > timezone.now()
    assert len(token_orders(klarna)) == 2


def test_a_date_moved_ahead_after_the_cycle_opened_is_the_next_renewal(klarna, client):
    """Probe H F4: the beat opened the due cycle; before its task ran the merchant moved the renewal a week
    ahead. The cycle is charged as opened (it may already be at Klarna), and the merchant's date is the next
    renewal, not a month after it. The history says so."""
    from payments.services.renewal_open import renewals_open_due
    from payments.services.renewals import renewal_charge
    from payments.services.subscription_actions import subscription_reschedule

    sub = subscribe(klarna, client)
    make_due(sub)
    [charge_id] = renewals_open_due().charges
    chosen = (timezone.now() + timedelta(days=7)).replace(microsecond=0)
    subscription_reschedule(subscription_id=sub.pk, when=chosen)
    assert "being charged" in sub.events.order_by("-pk").first().message
    assert renewal_charge(charge_id=charge_id) == "paid"
    sub.refresh_from_db()
    assert sub.next_renewal_at == chosen


def test_renew_now_still_moves_on_from_a_date_ahead(klarna, client):
    """The rule above is for a cycle that came due; "Renew now" charges the next cycle early and moves the date
    on by one interval, or the subscriber would pay that cycle twice."""
    sub = subscribe(klarna, client)
    before = sub.next_renewal_at
    assert subscription_charge(subscription_id=sub.pk, force=True) == "paid"
    sub.refresh_from_db()
    assert sub.next_renewal_at > before + timedelta(days=27)


def test_a_cycle_closed_without_a_charge_says_not_charged_not_pending(klarna, client):
    """Probe H F7: a renewal undone because the subscriber cancelled meanwhile showed "Pending" for ever on the
    subscriber's page and in admin."""
    from shop.links import subscription_url

    sub = subscribe(klarna, client)
    make_due(sub)
    assert subscription_charge(subscription_id=sub.pk) == "paid"
    charge = sub.charges.get(billing_cycle=1)
    assert charge.outcome == "paid"
    PaymentAttempt.objects.filter(pk=charge.attempt_id).update(status=Status.CANCELLED)
    charge.refresh_from_db()
    assert charge.outcome == "not_charged"
    row = [line for line in client.get(subscription_url(sub)).content.decode().splitlines() if "Not charged" in line]
    assert row and "Pending" not in client.get(subscription_url(sub)).content.decode()
    PaymentAttempt.objects.filter(pk=charge.attempt_id).update(status=Status.REFUNDED)
    assert charge.__class__.objects.get(pk=charge.pk).outcome == "refunded"


def test_an_email_corrected_on_the_order_is_where_the_renewal_receipt_goes(klarna, client, admin_client):
    """Probe H F6: customer service corrected a typo in the order's email in admin; the renewal receipt (name,
    address, signed cancel link) still went to the address typed at checkout."""
    from django.urls import reverse

    from shop.models import EmailNotification
    from tests.integration.admin_forms import order_change_form

    sub = subscribe(klarna, client)
    url = reverse("admin:shop_order_change", args=[sub.order_id])
    assert admin_client.post(url, dict(order_change_form(), email="ada@example.com")).status_code == 302
    sub.refresh_from_db()
    assert sub.email == "ada@example.com"
    assert "corrected on its order" in sub.events.get(kind="contact").message
    make_due(sub)
    assert subscription_charge(subscription_id=sub.pk) == "paid"
    assert list(EmailNotification.objects.filter(kind="renewal_paid").values_list("to", flat=True)) == \
        ["ada@example.com"]


def test_a_renewal_cancelled_by_the_provider_not_the_merchant_is_charged_again(klarna, client):
    """The rule above is for the merchant's withdrawal (a cancel operation done in admin). A renewal Klarna
    itself cancelled leaves its period unpaid: the next run charges that cycle again, it is not skipped."""
    sub = subscribe(klarna, client)
    make_due(sub)
    assert subscription_charge(subscription_id=sub.pk) == "paid"
    first = sub.charges.get(billing_cycle=1)
    PaymentAttempt.objects.filter(pk=first.attempt_id).update(status=Status.CANCELLED)  # Klarna's own cancel
    make_due(sub)
    assert subscription_charge(subscription_id=sub.pk) == "paid"
    assert not sub.charges.filter(billing_cycle=2).exists()
    first.refresh_from_db()
    assert first.attempt.status == Status.AUTHORIZED  # the same cycle, on a new try
