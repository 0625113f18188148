"""29 Next subscriptions: linked at checkout, renewed by the platform, mirrored, dunned, cancelled."""
import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from payments.models import Subscription, SubscriptionCharge, WebhookDelivery
from payments.providers.next.signatures import sign
from payments.services.dunning import subscriptions_dunning_run
from shop.links import subscription_url
from shop.models import Order
from tests.integration.admin_forms import confirmation_key
from tests.integration.next_flow import pay, provider_requests, subscription_order

WEBHOOK_PATH = "/payments/webhooks/next/"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hooked(emulator, live_server):
    emulator.control("PATCH", "/_emulator/config",
                     json={"next": {"webhook_target": live_server.url + WEBHOOK_PATH, "webhooks_sync": True}})
    return emulator


def subscribe(emulator, client, **kwargs):
    order, attempt, number = pay(emulator, client, subscription_order(**kwargs))
    return order, Subscription.objects.get(order=order)


def test_checkout_of_a_subscription_links_it(hooked, client):
    order, sub = subscribe(hooked, client)
    assert sub.status == "active" and sub.interval == "month" and sub.interval_count == 1
    assert sub.next_renewal_at > timezone.now() + timedelta(days=27)
    assert sub.amount == 1650
    first = sub.charges.get()
    assert first.billing_cycle == 0 and first.outcome == "paid"
    provider_subs = hooked.control("GET", "/_emulator/next/subscriptions")["subscriptions"]
    assert [str(s["id"]) for s in provider_subs] == [sub.provider_id]


def test_renewal_is_recorded_once_with_its_own_order(hooked, client):
    order, sub = subscribe(hooked, client)
    hooked.control("POST", "/_emulator/clock/advance", json={"days": 32})
    sub.refresh_from_db()
    renewal = sub.charges.get(billing_cycle=1)
    assert renewal.outcome == "paid"
    renewal_order = renewal.attempt.order
    assert renewal_order.renewal_of == order and renewal_order.status == Order.Status.PAID
    assert renewal_order.total == 1650
    assert sub.next_renewal_at > timezone.now() + timedelta(days=50)


def test_renewal_webhook_delivered_three_times_records_one_charge(hooked, client):
    order, sub = subscribe(hooked, client)
    hooked.control("POST", "/_emulator/webhooks/mode", json={"mode": "duplicate"})
    hooked.control("POST", "/_emulator/clock/advance", json={"days": 32})
    created = WebhookDelivery.objects.filter(event_type="order.created").order_by("-received_at").first()
    body = created.body.encode()
    # A third delivery of the same event, and the same renewal under a new event id.
    response = client.post(WEBHOOK_PATH, body, content_type="application/json",
                           headers={"X-29Next-Signature": sign("emulator-webhook-secret", body)})
    assert response.status_code == 200
    envelope = json.loads(body)
    envelope["event_id"] = "replayed-under-new-id"
    again = json.dumps(envelope).encode()
    client.post(WEBHOOK_PATH, again, content_type="application/json",
                headers={"X-29Next-Signature": sign("emulator-webhook-secret", again)})
    assert SubscriptionCharge.objects.filter(subscription=sub, billing_cycle=1).count() == 1
    assert Order.objects.filter(renewal_of=order).count() == 1


def test_declined_renewal_is_dunned_then_recovers(hooked, client):
    order, sub = subscribe(hooked, client)
    hooked.control("POST", f"/_emulator/next/subscriptions/{sub.provider_id}/scenario",
                   json={"renewal": "decline", "times": 1})
    hooked.control("POST", "/_emulator/clock/advance", json={"days": 32})
    sub.refresh_from_db()
    assert sub.status == "past_due" and sub.past_due_since is not None
    assert sub.charges.get(billing_cycle=1).outcome == "failed"
    assert subscriptions_dunning_run(now=timezone.now())["retried"] == 0  # not due yet
    report = subscriptions_dunning_run(now=timezone.now() + timedelta(days=1, minutes=1))
    assert report == {"retried": 1, "cancelled": 0, "recovered": 1}
    sub.refresh_from_db()
    assert sub.status == "active" and sub.dunning_step == 0
    assert sub.charges.get(billing_cycle=1).outcome == "paid"
    assert sub.events.filter(kind="dunning").count() == 1


def test_declined_renewals_are_cancelled_after_the_last_retry(hooked, client):
    order, sub = subscribe(hooked, client)
    hooked.control("POST", f"/_emulator/next/subscriptions/{sub.provider_id}/scenario",
                   json={"renewal": "decline", "times": 10})
    hooked.control("POST", "/_emulator/clock/advance", json={"days": 32})
    start = timezone.now()
    for day in (1, 3, 7):
        subscriptions_dunning_run(now=start + timedelta(days=day, minutes=1))
    sub.refresh_from_db()
    assert sub.status == "canceled" and sub.cancel_reason == "recurring_payment_declined"
    assert sub.events.filter(kind="dunning").count() == 3
    assert len(provider_requests(hooked, "POST", "/retry/")) == 3
    # Running the schedule again changes nothing.
    subscriptions_dunning_run(now=start + timedelta(days=30))
    assert len(provider_requests(hooked, "POST", "/retry/")) == 3


def test_old_webhook_after_a_newer_state_never_moves_it_back(hooked, client):
    order, sub = subscribe(hooked, client)
    early = WebhookDelivery.objects.filter(event_type="subscription.created").first()
    client_page = client.get(subscription_url(sub))
    assert client_page.status_code == 200
    client.post(subscription_url(sub) + "cancel/", {"reason": "cancel_recurring"})
    sub.refresh_from_db()
    assert sub.status == "canceled"
    envelope = json.loads(early.body)
    envelope["event_id"] = "late-delivery"
    envelope["event_type"] = "subscription.updated"
    body = json.dumps(envelope).encode()  # says "active"
    assert client.post(WEBHOOK_PATH, body, content_type="application/json",
                       headers={"X-29Next-Signature": sign("emulator-webhook-secret", body)}).status_code == 200
    sub.refresh_from_db()
    assert sub.status == "canceled"


def test_webhook_for_an_unknown_subscription_is_stored_and_reported(client, emulator):
    body = json.dumps({"event_id": "evt-unknown-sub", "event_type": "subscription.updated",
                       "object": "subscription", "data": {"id": 424242, "status": "active"}}).encode()
    response = client.post(WEBHOOK_PATH, body, content_type="application/json",
                           headers={"X-29Next-Signature": sign("emulator-webhook-secret", body)})
    assert response.status_code == 200
    assert WebhookDelivery.objects.get(event_id="evt-unknown-sub").state in ("unmatched",)


def test_shopper_page_shows_history_and_cancels(hooked, client):
    from django.test import Client

    order, sub = subscribe(hooked, client)
    anonymous = Client()  # the signed link needs no session
    page = anonymous.get(subscription_url(sub))
    assert b"Next renewal" in page.content and b"First order" in page.content
    response = anonymous.post(subscription_url(sub) + "cancel/", {"reason": "product_too_expensive"})
    assert response.status_code == 302
    sub.refresh_from_db()
    assert sub.status == "canceled" and sub.cancel_reason == "product_too_expensive"
    assert b"You will not be charged again" in anonymous.get(subscription_url(sub)).content
    assert anonymous.get("/subscriptions/forged/").status_code == 404
    assert anonymous.post(subscription_url(sub) + "cancel/", {"reason": "nonsense"}).status_code == 302


def test_merchant_actions_in_admin(hooked, client, admin_client):
    order, sub = subscribe(hooked, client)

    def act(action, data=None):
        url = reverse("admin:payments_subscription_action", args=[sub.pk, action])
        page = admin_client.get(url)
        assert page.status_code == 200
        return admin_client.post(url, {**(data or {}), "confirmation": confirmation_key(page)}, follow=True)

    act("renew")
    sub.refresh_from_db()
    assert sub.charges.get(billing_cycle=1).outcome == "paid"
    when = timezone.now() + timedelta(days=10)
    act("reschedule", {"next_renewal_at": timezone.localtime(when).strftime("%Y-%m-%dT%H:%M")})
    sub.refresh_from_db()
    assert abs((sub.next_renewal_at - when).total_seconds()) < 120
    # Not past due: retry is neither offered nor run when forced; the merchant is told why.
    retry_url = reverse("admin:payments_subscription_action", args=[sub.pk, "retry"])
    refused = admin_client.post(retry_url, {}, follow=True)
    assert b"not possible: the subscription is active" in refused.content
    assert b"Retry the past-due payment" not in admin_client.get(
        reverse("admin:payments_subscription_change", args=[sub.pk])).content
    act("cancel", {"reason": "other", "message": "customer called"})
    sub.refresh_from_db()
    assert sub.status == "canceled" and sub.cancel_reason == "other"
    assert admin_client.get(reverse("admin:payments_subscription_change", args=[sub.pk])).status_code == 200


def test_renew_now_posted_twice_from_one_form_renews_once(hooked, client, admin_client):
    order, sub = subscribe(hooked, client)
    url = reverse("admin:payments_subscription_action", args=[sub.pk, "renew"])
    form = {"confirmation": confirmation_key(admin_client.get(url))}
    admin_client.post(url, form)
    second = admin_client.post(url, form, follow=True).content.decode()
    assert len(provider_requests(hooked, "POST", "/renew/")) == 1
    assert sub.charges.filter(billing_cycle__gt=0).count() == 1
    assert "this form was already confirmed" in second and "refused" not in second


def test_due_subscriptions_are_read_back_when_webhooks_are_lost(hooked, client):
    from payments.tasks import check_due_subscriptions

    order, sub = subscribe(hooked, client)
    hooked.control("POST", "/_emulator/webhooks/mode", json={"mode": "drop"})
    hooked.control("POST", "/_emulator/clock/advance", json={"days": 32})
    assert not sub.charges.filter(billing_cycle=1).exists()
    Subscription.objects.filter(pk=sub.pk).update(next_renewal_at=timezone.now() - timedelta(minutes=1))
    assert check_due_subscriptions() == 1
    sub.refresh_from_db()
    assert sub.charges.get(billing_cycle=1).outcome == "paid"
    assert sub.next_renewal_at > timezone.now()
    assert check_due_subscriptions() == 0


@pytest.mark.parametrize("renewed", [True, False], ids=["renewed", "not-renewed"])
def test_renew_now_whose_answer_is_lost_is_read_back_not_called_failed(emulator, client, renewed):
    """Probe D F7: 29 Next renewed, then its answer was lost. Admin said "failed", and renewing again as
    told charged another cycle. The subscription is read back: a new cycle there is the renewal done;
    none says the outcome is unknown (never "failed")."""
    from payments.services.subscription_actions import SubscriptionActionError, subscription_renew_now

    _, sub = subscribe(emulator, client)
    emulator.control("POST", "/_emulator/faults", json={
        "method": "POST", "path": "/next/api/admin/subscriptions/", "kind": "error", "status": 503,
        "when": "after" if renewed else "before", "times": 1})
    if renewed:
        subscription_renew_now(subscription_id=sub.pk)
        assert sub.charges.get(billing_cycle=1).outcome == "paid"
        assert sub.events.filter(kind="renew", message__contains="answer was lost").exists()
    else:
        with pytest.raises(SubscriptionActionError, match="answer was lost"):
            subscription_renew_now(subscription_id=sub.pk)
        assert sub.events.filter(kind="renew_unknown").count() == 1 and not sub.events.filter(kind="renew_failed")
        assert not sub.charges.filter(billing_cycle=1).exists()


@pytest.mark.parametrize("webhooks", [True, False], ids=["webhook-first", "no-webhook"])
def test_a_subscriber_cancel_whose_answer_is_lost_is_read_back_and_mailed_as_theirs(emulator, client, live_server,
                                                                                    webhooks):
    """Probe H F11: 29 Next cancelled, then its answer was lost (503). The page said the subscription could not
    be changed, and the cancellation email (sent when the webhook mirrored it) said 29 Next had cancelled it.
    The subscription is read back: cancelled there is the cancel done, and the email says at whose request."""
    from django.core import mail
    from django.test import Client

    from shop.models import EmailNotification

    if webhooks:
        emulator.control("PATCH", "/_emulator/config",
                         json={"next": {"webhook_target": live_server.url + WEBHOOK_PATH, "webhooks_sync": True}})
    _, sub = subscribe(emulator, client)
    emulator.control("POST", "/_emulator/faults", json={
        "method": "POST", "path": f"/next/api/admin/subscriptions/{sub.provider_id}/cancel/", "kind": "error",
        "status": 503, "when": "after", "times": 1})
    subscriber = Client()
    response = subscriber.post(subscription_url(sub) + "cancel/", {"reason": "cancel_recurring"}, follow=True)
    assert b"We could not change" not in response.content
    sub.refresh_from_db()
    assert sub.status == "canceled"
    assert sub.events.filter(kind="cancel", source="shopper", message__contains="answer was lost").exists()
    assert EmailNotification.objects.get(kind="subscription_cancelled").state == "sent"
    [sent] = [m for m in mail.outbox if m.subject == "Your subscription is cancelled"]
    assert "at your request" in sent.body


def test_renew_now_from_two_pages_of_the_same_period_renews_it_once(hooked, client, admin_client):
    """Probe I I1: two "Renew now" pages of one period, confirmed one after the other, asked 29 Next (which
    has no idempotency key) for two renewals: two periods charged."""
    from tests.integration.admin_forms import confirmed_form

    order, sub = subscribe(hooked, client)
    url = reverse("admin:payments_subscription_action", args=[sub.pk, "renew"])
    first_tab, second_tab = confirmed_form(admin_client, url), confirmed_form(admin_client, url)
    assert "done." in admin_client.post(url, first_tab, follow=True).content.decode()
    refused = admin_client.post(url, second_tab, follow=True).content.decode()
    assert "refused" in refused and "nothing was charged" in refused
    assert len(provider_requests(hooked, "POST", "/renew/")) == 1
