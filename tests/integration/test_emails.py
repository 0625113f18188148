"""Shopper emails: each payment event mails once, through real SMTP, and never fails the shopper's request."""
import re
import smtplib
from datetime import timedelta
from urllib.parse import urlparse

import pytest
from django.utils import timezone

from payments.models import Subscription
from payments.services.order_management import payment_capture, payment_refund
from payments.services.renewals import subscription_charge
from payments.services.subscription_actions import subscription_cancel
from payments.signals import checkout_paid, send_on_commit
from shop.models import EmailNotification
from shop.tasks import send_pending_emails
from tests import smtp_server
from tests.factories import make_order, make_product
from tests.integration.klarna_flow import pay_with_klarna

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def smtp(settings):
    controller, inbox = smtp_server.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    settings.SHOP_BASE_URL = "https://shop.example.com"
    settings.DEFAULT_FROM_EMAIL = "Nordlicht Supply <shop@example.com>"
    yield inbox
    controller.stop()


def subscribe(emulator, client, email="sam@example.com"):
    beans = make_product(name="Coffee beans", kind="subscription", interval="month", interval_count=1, price=1650,
                         vat_rate_bp=900)
    mug = make_product(name="Mug & saucer", price=1200)
    return pay_with_klarna(emulator, client, make_order(items=[(beans, 1), (mug, 2)], email=email))


def path_of(url):
    assert url.startswith("https://shop.example.com/"), url
    return urlparse(url).path


def test_order_confirmation_arrives_with_everything_the_shopper_needs(emulator, client, smtp):
    attempt = subscribe(emulator, client)
    order = attempt.order
    [message] = smtp.to("sam@example.com")
    assert message["Subject"] == f"Order {order.number} confirmed"
    assert message["From"] == "Nordlicht Supply <shop@example.com>"
    text, html = smtp.text(message), smtp.html(message)
    for body in (text, html):
        assert "Coffee beans" in body and "every month" in body
        assert "€\u00a045.45" in body  # 16.50 + 2 × 12.00 + 4.95 shipping
        assert "Keizersgracht 1" in body and "1015 CJ Amsterdam" in body and "Netherlands" in body
        assert "Klarna" in body
    assert "2 x Mug & saucer" in text  # the text part is not HTML-escaped
    assert "Mug &amp; saucer" in html
    assert "Including VAT" in html and "including VAT" in text
    links = re.findall(r"https://shop\.example\.com/\S+", text)
    order_link = next(link for link in links if "/orders/" in link)
    manage_link = next(link for link in links if "/subscriptions/" in link)
    assert client.get(path_of(order_link)).status_code == 200
    page = client.get(path_of(manage_link))
    assert page.status_code == 200 and b"Coffee beans" in page.content
    assert EmailNotification.objects.get().state == "sent"


def test_a_repeated_event_mails_once(emulator, client, smtp):
    attempt = subscribe(emulator, client)
    send_on_commit(checkout_paid, order_id=attempt.order_id, attempt_id=attempt.pk)
    send_pending_emails()
    assert len(smtp.to("sam@example.com")) == 1
    assert EmailNotification.objects.count() == 1


def test_renewal_receipt_then_decline_notice_then_cancellation(emulator, client, smtp):
    attempt = subscribe(emulator, client)
    sub = Subscription.objects.get()
    Subscription.objects.filter(pk=sub.pk).update(next_renewal_at=timezone.now() - timedelta(minutes=1))
    assert subscription_charge(subscription_id=sub.pk) == "paid"
    receipt = smtp.to("sam@example.com")[-1]
    assert receipt["Subject"].startswith("Receipt for your subscription renewal")
    assert "€\u00a016.50" in smtp.text(receipt)
    renewal = sub.charges.get(billing_cycle=1).attempt.order
    assert renewal.number in smtp.text(receipt) and renewal.number != attempt.order.number

    Subscription.objects.filter(pk=sub.pk).update(next_renewal_at=timezone.now() - timedelta(minutes=1))
    emulator.control("POST", f"/_emulator/klarna/tokens/{sub.customer_token}/scenario",
                     json={"charge": "decline", "times": 1})
    assert subscription_charge(subscription_id=sub.pk) == "declined"
    notice = smtp.to("sam@example.com")[-1]
    sub.refresh_from_db()
    next_try = sub.past_due_since + timedelta(days=1)
    text = smtp.text(notice)
    assert notice["Subject"] == "Your subscription payment did not go through"
    assert f"We will try again on {next_try.astimezone(timezone.get_current_timezone()):%-d %B %Y}" in text
    assert "Klarna app" in text and "cancel on your subscription page" in text and "/subscriptions/" in text

    subscription_cancel(subscription_id=sub.pk, reason="cancel_recurring", source="shopper")
    subscription_cancel(subscription_id=sub.pk, reason="cancel_recurring", source="shopper")
    cancelled = [m for m in smtp.to("sam@example.com") if m["Subject"] == "Your subscription is cancelled"]
    assert len(cancelled) == 1
    assert "cancelled at your request (no longer needed)" in smtp.text(cancelled[0])
    assert len(smtp.to("sam@example.com")) == 4


def test_refund_email_names_the_amount(emulator, client, smtp):
    attempt = pay_with_klarna(emulator, client, make_order(email="rui@example.com"))
    payment_capture(attempt_id=attempt.pk)
    payment_refund(attempt_id=attempt.pk, amount=750, description="damaged")
    refund = smtp.to("rui@example.com")[-1]
    assert refund["Subject"] == f"Refund for order {attempt.order.number}"
    assert "We refunded €\u00a07.50" in smtp.text(refund)


def test_smtp_down_never_fails_checkout_and_the_mail_goes_out_later(emulator, client, smtp, settings):
    settings.EMAIL_PORT = smtp_server.free_port()  # nothing listens there
    attempt = pay_with_klarna(emulator, client, make_order(email="lea@example.com"))
    assert attempt.status == "authorized"  # the shopper's return answered 303 (checked in pay_with_klarna)
    note = EmailNotification.objects.get()
    assert note.state == "pending" and note.tries == 1 and "Connection" in note.last_error
    assert smtp.to("lea@example.com") == []
    assert send_pending_emails() == 0  # too fresh: its own task may still be retrying it
    settings.EMAIL_PORT = smtp.port
    EmailNotification.objects.filter(pk=note.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert send_pending_emails() == 1
    assert len(smtp.to("lea@example.com")) == 1
    note.refresh_from_db()
    assert note.state == "sent" and note.tries == 2
    assert send_pending_emails() == 0


def test_a_confirmation_whose_task_was_lost_is_made_by_the_periodic_sweep(emulator, client, smtp, monkeypatch):
    from shop import tasks

    lost = []
    monkeypatch.setattr(tasks.queue_order_confirmation, "delay", lambda order_id: lost.append(order_id))
    attempt = pay_with_klarna(emulator, client, make_order(email="ida@example.com"))
    assert lost == [attempt.order_id] and not EmailNotification.objects.exists()
    assert send_pending_emails() == 0  # paid a moment ago: its task may still be on its way
    assert not EmailNotification.objects.exists()
    type(attempt.order).objects.filter(pk=attempt.order_id).update(paid_at=timezone.now() - timedelta(minutes=5))
    send_pending_emails()
    [message] = smtp.to("ida@example.com")
    assert message["Subject"] == f"Order {attempt.order.number} confirmed"
    send_pending_emails()
    assert len(smtp.to("ida@example.com")) == 1 and EmailNotification.objects.count() == 1


def test_upsell_added_email_gives_the_new_total(emulator, client, smtp):
    from shop.models import UpsellOffer
    from tests.integration.next_flow import pay
    from tests.integration.upsell_flow import accept

    offer = UpsellOffer.objects.create(name="Add a second mug", price=1290,
                                       product=make_product(name="Second mug", price=1850, next_product_id=777))
    order, _, _ = pay(emulator, client)
    accept(client, order, offer)
    order.refresh_from_db()
    added = [m for m in smtp.to(order.email) if m["Subject"].startswith("Added to order")]
    assert len(added) == 1
    assert "Second mug" in smtp.text(added[0])
    assert f"Your new total is €\u00a0{order.total / 100:.2f}" in smtp.text(added[0])
    assert len(smtp.to(order.email)) == 2  # and the order confirmation before it


def test_decline_notice_dates_follow_the_dunning_schedule(settings):
    from shop.email_content import renewal_failed

    settings.SUBSCRIPTION_DUNNING_DAYS = [1, 3, 7]
    sub = Subscription.objects.create(route="next", provider_id="77", order=make_order(), email="a@example.com",
                                      interval="month", amount=1650, currency="EUR", status="active")
    _, context = renewal_failed(subscription_id=sub.pk, billing_cycle=1)
    # Reported before the mirror says past due: counted from now, never "no more tries".
    assert context["next_try"] - timezone.now() > timedelta(hours=23) and not context["last_try"]
    since = timezone.now() - timedelta(days=2)
    Subscription.objects.filter(pk=sub.pk).update(status="past_due", past_due_since=since, dunning_step=2)
    _, context = renewal_failed(subscription_id=sub.pk, billing_cycle=1)
    assert context["next_try"] == since + timedelta(days=7) and context["last_try"]
    Subscription.objects.filter(pk=sub.pk).update(dunning_step=3)
    _, context = renewal_failed(subscription_id=sub.pk, billing_cycle=1)
    assert context["next_try"] is None



def test_worker_retries_back_off_within_bounds():
    from shop.tasks import MAX_RETRIES, TRANSIENT, _backoff, send_email

    assert [_backoff(n) for n in range(MAX_RETRIES + 1)] == [30, 60, 120, 240, 480, 900, 900]
    assert send_email.max_retries == MAX_RETRIES
    assert issubclass(ConnectionRefusedError, TRANSIENT) and issubclass(smtplib.SMTPServerDisconnected, TRANSIENT)


def test_a_duplicate_payment_refunded_says_the_order_stays_paid_by_the_other(emulator, client, smtp):
    """Probe I I13: the shopper paid one order twice (an old 29 Next page, then Klarna); the 29 Next payment
    is undone as a duplicate (refunded: its store captures at once). Its mail says that this second payment
    was returned and the order stays paid by the other, not "We refunded ... for order ..." as if the order
    itself were refunded."""
    from payments.services.payment_start import payment_start
    from payments.states import Status
    from tests.integration.klarna_flow import authorize, post_token

    order = make_order(email="dup@example.com")
    old_page = payment_start(order=order, route="next")
    klarna = payment_start(order=order, route="klarna_payments")
    assert post_token(client, klarna, authorize(emulator, klarna)).status_code == 303
    done = emulator.complete_checkout(old_page.redirect_url, "approve")  # the old tab pays too
    client.post(urlparse(done["return_url"]).path, {"response": done["response"]})
    old_page.refresh_from_db()
    assert old_page.status == Status.REFUNDED and old_page.duplicate_of_id == klarna.pk
    [returned] = [m for m in smtp.to("dup@example.com") if "Order " not in m["Subject"]]
    assert returned["Subject"] == f"Your second payment for order {order.number} was returned"
    for body in (smtp.text(returned), smtp.html(returned)):
        body = " ".join(re.sub(r"<[^>]+>", "", body).split())
        assert "Your refund is on its way" not in body and "We refunded" not in body
        assert "paid twice" in body
        assert "We returned your payment with Klarna (via 29 Next) of € 54.95" in body
        assert "stays paid by your payment with Klarna and ships as usual" in body
