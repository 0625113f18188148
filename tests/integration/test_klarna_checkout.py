"""Klarna Payments route against the emulator: session, authorization, one order, fraud decisions."""
import json
from urllib.parse import urlparse

import pytest

from payments.models import PaymentAttempt, PaymentEvent
from payments.services.payment_start import payment_start, return_url
from payments.states import Status
from shop.models import Order
from tests.factories import make_order, make_product
from tests.integration.klarna_flow import ROUTE, authorization, authorize, post_token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def klarna(emulator):
    return emulator


def start(order=None):
    return payment_start(order=order or make_order(), route=ROUTE)


def callback(client, attempt, token):
    body = json.dumps({"authorization_token": token, "session_id": attempt.provider_session})
    return client.post(urlparse(return_url(attempt)).path, body, content_type="application/json")


def placed_orders(emulator):
    return emulator.control("GET", "/_emulator/klarna/orders")["orders"]


def test_buy_is_authorized_through_the_widget_page(klarna, client):
    attempt = start()
    assert attempt.status == Status.PENDING and attempt.client_token and attempt.provider_session
    page = client.get(urlparse(attempt.redirect_url).path)
    assert page.status_code == 200 and attempt.client_token.encode() in page.content
    sessions = klarna.control("GET", "/_emulator/klarna/sessions")["sessions"]
    assert sessions[0]["intent"] == "buy"
    response = post_token(client, attempt, authorize(klarna, attempt))
    assert response.status_code == 303 and "/thanks/" in response["Location"]
    attempt.refresh_from_db()
    assert attempt.status == Status.AUTHORIZED and attempt.provider_reference
    assert Order.objects.get(pk=attempt.order_id).status == Order.Status.PAID
    assert len(placed_orders(klarna)) == 1


def test_subscription_cart_uses_buy_and_tokenize(klarna, client):
    beans = make_product(kind="subscription", interval="month", interval_count=1, price=1650)
    start(make_order(items=[(beans, 1)], shipping_fee=0))
    assert klarna.control("GET", "/_emulator/klarna/sessions")["sessions"][0]["intent"] == "buy_and_tokenize"


def test_browser_and_callback_three_times_place_one_order(klarna, client):
    attempt = start()
    token = authorize(klarna, attempt)
    for _ in range(3):
        assert callback(client, attempt, token).status_code == 200
    assert post_token(client, attempt, token).status_code == 303
    attempt.refresh_from_db()
    assert attempt.status == Status.AUTHORIZED
    assert len(placed_orders(klarna)) == 1
    assert PaymentEvent.objects.filter(attempt=attempt, to_status=Status.AUTHORIZED, kind="transition").count() == 1


def test_declined_in_the_widget_offers_a_retry(klarna, client):
    attempt = start(make_order(email="customer+denied@example.com"))
    assert authorize(klarna, attempt) is None
    response = client.post(urlparse(return_url(attempt)).path, {"declined": "1"})
    assert response.status_code == 303 and "/payment-failed/" in response["Location"]
    attempt.refresh_from_db()
    assert attempt.status == Status.FAILED


def test_reused_or_made_up_token_gives_a_clear_retry_path(klarna, client):
    first = start()
    token = authorize(klarna, first)
    post_token(client, first, token)
    second = start()
    response = post_token(client, second, token)  # consumed by the first order
    assert response.status_code == 400
    assert post_token(client, second, "made-up-token-123").status_code == 400
    second.refresh_from_db()
    assert second.status == Status.PENDING
    assert second.events.filter(kind="rejected").count() == 2


def test_provider_down_at_order_time_keeps_the_attempt_pending(klarna, client):
    attempt = start()
    token = authorize(klarna, attempt)
    klarna.control("POST", "/_emulator/faults", json={"method": "POST", "path": "/klarna/payments/v1/authorizations/",
                                                      "kind": "error", "status": 503, "times": 10})
    response = post_token(client, attempt, token)
    assert response.status_code == 303 and "/thanks/" in response["Location"]  # "still confirming"
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING
    klarna.control("DELETE", "/_emulator/faults")
    assert callback(client, attempt, token).status_code == 200  # Klarna's callback retries later
    attempt.refresh_from_db()
    assert attempt.status == Status.AUTHORIZED
    assert len(placed_orders(klarna)) == 1


def test_pending_fraud_is_decided_by_the_notification(klarna, client, postgres, live_server, settings):
    import time

    settings.SHOP_BASE_URL = live_server.url  # where Klarna sends the notification
    attempt = start(make_order(email="customer+pend-accept-05@example.com"))
    response = post_token(client, attempt, authorize(klarna, attempt))
    assert response.status_code == 303
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING and attempt.provider_reference
    klarna.control("POST", f"/_emulator/klarna/orders/{attempt.provider_reference}/decide",
                   json={"fraud_status": "ACCEPTED"})
    for _ in range(50):
        attempt.refresh_from_db()
        if attempt.status != Status.PENDING:
            break
        time.sleep(0.1)
    assert attempt.status == Status.AUTHORIZED


def test_unusable_cart_is_refused_before_klarna(klarna):
    from payments.exceptions import ProviderRequestError

    product = make_product(price=200_000_000)
    with pytest.raises(ProviderRequestError):
        start(make_order(items=[(product, 1)]))
    assert PaymentAttempt.objects.get().status == Status.FAILED


def test_expired_session_is_replaced_not_reused(klarna, client):
    from datetime import timedelta

    from django.utils import timezone

    attempt = start()
    PaymentAttempt.objects.filter(pk=attempt.pk).update(session_expires_at=timezone.now() - timedelta(minutes=1))
    response = client.get(urlparse(attempt.redirect_url).path)
    assert response.status_code == 302
    attempt.refresh_from_db()
    assert attempt.status == Status.EXPIRED
    fresh = PaymentAttempt.objects.exclude(pk=attempt.pk).get()
    assert fresh.status == Status.PENDING and fresh.provider_session != attempt.provider_session
    assert urlparse(response["Location"]).path == urlparse(fresh.redirect_url).path


def test_expired_authorization_gives_a_clear_retry_path(klarna, client):
    attempt = start()
    token = authorize(klarna, attempt)
    klarna.control("POST", "/_emulator/clock/advance", json={"seconds": 61 * 60})
    response = post_token(client, attempt, token)
    assert response.status_code == 400 and b"Pay for this order" not in response.content
    assert b"href=" in response.content  # a link back to the order, where paying again is offered
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING and not placed_orders(klarna)


def test_order_changed_after_authorization_is_never_placed_with_old_amounts(klarna, client):
    attempt = start()
    token = authorize(klarna, attempt)
    line = attempt.order.lines.first()
    # The order no longer matches what the shopper authorized (e.g. edited by the merchant meanwhile).
    type(line).objects.filter(pk=line.pk).update(quantity=line.quantity + 1, total=(line.quantity + 1) * line.unit_price)
    response = post_token(client, attempt, token)
    assert response.status_code == 400
    assert not placed_orders(klarna)
    assert authorization(klarna, token)["cancelled"]  # the shopper's approval is given back at once
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING
    assert attempt.events.filter(kind="rejected", message__contains="amount").exists()


def test_pending_fraud_rejected_fails_the_payment(klarna, client, postgres, live_server, settings):
    import time

    settings.SHOP_BASE_URL = live_server.url
    attempt = start(make_order(email="customer+pend-reject-05@example.com"))
    post_token(client, attempt, authorize(klarna, attempt))
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING
    klarna.control("POST", f"/_emulator/klarna/orders/{attempt.provider_reference}/decide",
                   json={"fraud_status": "REJECTED"})
    for _ in range(50):
        attempt.refresh_from_db()
        if attempt.status != Status.PENDING:
            break
        time.sleep(0.1)
    assert attempt.status == Status.FAILED
    assert Order.objects.get(pk=attempt.order_id).status == Order.Status.PAYMENT_FAILED


def test_cart_or_address_change_updates_the_open_session(klarna, client):
    mug, socks = make_product(price=1850), make_product(price=2200)
    form = {"email": "anna@example.com", "phone": "+31612345678", "first_name": "Anna", "last_name": "Jansen",
            "shipping_line1": "Keizersgracht 1", "shipping_city": "Amsterdam", "shipping_postcode": "1015 CJ",
            "shipping_country": "NL", "billing_same_as_shipping": "on", "route": ROUTE}
    client.post("/cart/add/", {"product_id": mug.pk, "quantity": 1})
    first = client.post("/checkout/", form)
    attempt = PaymentAttempt.objects.get()
    assert urlparse(first["Location"]).path == urlparse(attempt.redirect_url).path
    stale_token = authorize(klarna, attempt)  # authorized for the old cart
    # Back to the shop: another product and a new street, then checkout again.
    client.post("/cart/add/", {"product_id": socks.pk, "quantity": 1})
    client.post("/checkout/", dict(form, shipping_line1="Prinsengracht 2"))
    assert Order.objects.count() == 1 and PaymentAttempt.objects.count() == 1
    order = Order.objects.get()
    assert order.total == 1850 + 2200 + 495 and order.shipping_line1 == "Prinsengracht 2"
    session = klarna.control("GET", "/_emulator/klarna/sessions")["sessions"][0]
    assert session["data"]["order_amount"] == order.total
    attempt.refresh_from_db()
    assert attempt.amount == order.total
    # The authorization for the old cart is never placed with the old amounts...
    assert post_token(client, attempt, stale_token).status_code == 400
    assert not placed_orders(klarna)
    # ...a fresh one for the updated session is.
    assert post_token(client, attempt, authorize(klarna, attempt)).status_code == 303
    assert [o["order_amount"] for o in placed_orders(klarna)] == [order.total]


def test_an_order_with_a_pending_redirect_payment_is_never_rewritten(klarna, client):
    mug = make_product(price=1850)
    form = {"email": "anna@example.com", "phone": "+31612345678", "first_name": "Anna", "last_name": "Jansen",
            "shipping_line1": "Keizersgracht 1", "shipping_city": "Amsterdam", "shipping_postcode": "1015 CJ",
            "shipping_country": "NL", "billing_same_as_shipping": "on", "route": "next"}
    client.post("/cart/add/", {"product_id": mug.pk, "quantity": 1})
    client.post("/checkout/", form)  # the shopper may still pay this at 29 Next
    client.post("/cart/add/", {"product_id": mug.pk, "quantity": 1})
    client.post("/checkout/", form)
    assert Order.objects.count() == 2
    assert sorted(Order.objects.values_list("total", flat=True)) == [1850 + 495, 2 * 1850 + 495]


def test_another_attempts_token_is_refused_without_releasing_it(klarna, client):
    """Attempt A's authorization posted to attempt B's signed URL: B is refused, and A's shopper can still
    pay with it (the shop releases only authorizations of the attempt's own session)."""
    from tests.integration.klarna_flow import authorize, post_token

    first, second = start(), start()
    token_a = authorize(klarna, first)
    assert post_token(client, second, token_a).status_code == 400
    second.refresh_from_db()
    assert second.status == Status.PENDING
    assert post_token(client, first, token_a).status_code == 303
    first.refresh_from_db()
    assert first.status == Status.AUTHORIZED


def test_an_old_tab_of_a_replaced_attempt_places_no_order(klarna, client):
    """The shopper retried the order (a new attempt replaced the first) but approves in the first tab's
    widget: no Klarna order is placed for it and its authorization is released; the newer attempt pays."""
    from datetime import timedelta

    from django.utils import timezone

    order = make_order()
    first = start(order)
    # Its session near the end of its life: "pay" on the order page starts a new one instead of reusing it.
    PaymentAttempt.objects.filter(pk=first.pk).update(session_expires_at=timezone.now() - timedelta(minutes=1))
    second = start(order)
    first.refresh_from_db()
    assert first.status == Status.EXPIRED and second.pk != first.pk
    old_token = authorize(klarna, first)
    response = post_token(client, first, old_token)
    assert response.status_code == 303
    assert "newer payment" in client.get(response["Location"]).content.decode()
    assert not placed_orders(klarna) and authorization(klarna, old_token)["cancelled"]
    first.refresh_from_db()
    assert first.status == Status.EXPIRED
    assert first.events.filter(kind="rejected", message__contains="Nothing was charged").count() == 1
    assert post_token(client, first, old_token).status_code == 303  # the same tab again: still nothing
    assert not placed_orders(klarna)
    assert post_token(client, second, authorize(klarna, second)).status_code == 303
    second.refresh_from_db()
    assert second.status == Status.AUTHORIZED and len(placed_orders(klarna)) == 1
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID


def test_a_late_approval_of_the_orders_newest_attempt_is_taken(klarna, client):
    """The shop gave up waiting (expired) while the shopper was still in the widget, and nothing newer was
    started: their approval pays the order."""
    from payments.states import transition

    attempt = start()
    token = authorize(klarna, attempt)
    transition(attempt.pk, Status.EXPIRED, source="reconcile", failure_reason="No answer in time")
    assert post_token(client, attempt, token).status_code == 303
    attempt.refresh_from_db()
    assert attempt.status == Status.AUTHORIZED and len(placed_orders(klarna)) == 1
    assert attempt.failure_reason == ""  # admin no longer shows why it had been given up
    assert Order.objects.get(pk=attempt.order_id).status == Order.Status.PAID


def lose_order_answers(klarna):
    """Klarna places the order, but its answer never reaches the shop (every retry's answer lost too)."""
    klarna.control("POST", "/_emulator/faults", json={"method": "POST", "path": "/klarna/payments/v1/authorizations/",
                                                      "kind": "error", "status": 503, "when": "after", "times": 20})


def test_an_order_placed_whose_answer_was_lost_is_found_by_reconcile(klarna, client):
    from payments.services.reconcile import payments_reconcile

    attempt = start()
    lose_order_answers(klarna)
    response = post_token(client, attempt, authorize(klarna, attempt))
    assert response.status_code == 303 and "/thanks/" in response["Location"]  # "still confirming"
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING and not attempt.provider_reference
    [placed] = placed_orders(klarna)  # placed at Klarna all the same
    klarna.control("DELETE", "/_emulator/faults")

    # No callback comes (Klarna's is best effort): reconcile reads the session, which placing closed, and
    # places again under the attempt's key, so Klarna answers with the order it placed.
    report = payments_reconcile(older_than=0)
    attempt.refresh_from_db()
    assert report.settled == 1
    assert attempt.status == Status.AUTHORIZED and attempt.provider_reference == placed["order_id"]
    assert len(placed_orders(klarna)) == 1
    payments_reconcile(older_than=0)  # and again: the attempt is read by its order now, nothing placed
    assert len(placed_orders(klarna)) == 1


def test_an_approval_klarna_no_longer_finishes_is_failed_once_not_asked_every_run(klarna, client):
    from payments.services.reconcile import payments_reconcile

    attempt = start()
    lose_order_answers(klarna)
    post_token(client, attempt, authorize(klarna, attempt))
    klarna.control("DELETE", "/_emulator/faults")
    # Reconcile did not run for a day: Klarna has forgotten the key, and the token is used up.
    klarna.control("POST", "/_emulator/clock/advance", json={"seconds": 25 * 3600})
    report = payments_reconcile(older_than=0)
    attempt.refresh_from_db()
    assert report.rejected == 1
    assert attempt.status == Status.FAILED and attempt.failure_reason == "The approval could not be used"
    assert "refused to finish the approval" in attempt.events.order_by("-pk").first().message
    assert payments_reconcile(older_than=0).checked == 0  # closed: not read again
