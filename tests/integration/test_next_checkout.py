"""The 29 Next Klarna route end to end against the running emulator: start, return, verify.

Includes the forgeries and faults of issue 2: nothing here may ever mark a payment paid unless the
emulator (standing in for 29 Next) says the order is ours and paid.
"""
import json
from urllib.parse import urlparse

import pytest

from payments.exceptions import ProviderUnavailable
from payments.models import PaymentAttempt, PaymentEvent
from payments.services.payment_start import payment_start
from payments.states import Status
from shop.models import Order
from tests.factories import make_order, make_product

pytestmark = pytest.mark.django_db


def start(order=None):
    order = order or make_order()
    return payment_start(order=order, route="next")


def complete(emulator, attempt, action="approve"):
    return emulator.complete_checkout(attempt.redirect_url, action)


def post_return(client, return_url, response):
    return client.post(urlparse(return_url).path, {"response": response})


def paid_transitions(attempt):
    return PaymentEvent.objects.filter(attempt=attempt, kind="transition",
                                       to_status__in=[Status.CAPTURED, Status.AUTHORIZED]).count()


def test_approved_payment_is_confirmed_with_the_provider(emulator, client):
    attempt = start()
    assert attempt.status == Status.PENDING
    assert attempt.redirect_url.startswith(emulator.url + "/next/klarna/")
    done = complete(emulator, attempt)
    response = post_return(client, done["return_url"], done["response"])
    assert response.status_code == 303
    assert "/thanks/" in response["Location"]
    attempt.refresh_from_db()
    assert attempt.status == Status.CAPTURED
    assert attempt.provider_reference == done["order_number"]
    assert Order.objects.get(pk=attempt.order_id).status == Order.Status.PAID
    # The shop read the order back before believing the browser.
    reads = [r for r in emulator.control("GET", "/_emulator/requests?provider=next")["requests"]
             if r["method"] == "GET" and done["order_number"] in r["path"]]
    assert reads


def test_order_sent_to_29next_matches_the_shop_order(emulator):
    product = make_product(price=1999, next_product_id=555)
    order = make_order(items=[(product, 3)], shipping_fee=495)
    attempt = start(order)
    done = complete(emulator, attempt)
    sent = emulator.control("GET", "/_emulator/next/orders")
    provider_order = next(o for o in sent["orders"] if o["number"] == done["order_number"])
    assert provider_order["total_incl_tax"] == "64.92"
    assert provider_order["currency"] == "EUR"
    assert [(l["product_id"], l["quantity"]) for l in provider_order["lines"]] == [(555, 3)]
    assert provider_order["metadata"]["shop_reference"] == attempt.reference


@pytest.mark.parametrize("action", ["decline", "cancel"])
def test_declined_or_cancelled_payment_fails_the_attempt(emulator, client, action):
    attempt = start()
    done = complete(emulator, attempt, action)
    assert done["response"] == "{}"
    response = post_return(client, done["return_url"], done["response"])
    assert response.status_code == 303 and "/payment-failed/" in response["Location"]
    attempt.refresh_from_db()
    assert attempt.status == Status.FAILED
    assert Order.objects.get(pk=attempt.order_id).status == Order.Status.PAYMENT_FAILED


def test_denied_persona_is_declined(emulator, client):
    attempt = start(make_order(email="customer+denied@example.com"))
    done = complete(emulator, attempt, "approve")
    assert done["response"] == "{}"


def test_replayed_return_gives_exactly_one_paid_order(emulator, client):
    attempt = start()
    done = complete(emulator, attempt)
    for _ in range(3):
        assert post_return(client, done["return_url"], done["response"]).status_code == 303
    attempt.refresh_from_db()
    assert attempt.status == Status.CAPTURED
    assert paid_transitions(attempt) == 1


def test_late_empty_response_cannot_undo_a_confirmed_payment(emulator, client):
    attempt = start()
    done = complete(emulator, attempt)
    post_return(client, done["return_url"], done["response"])
    response = post_return(client, done["return_url"], "{}")
    assert response.status_code == 303 and "/thanks/" in response["Location"]
    attempt.refresh_from_db()
    assert attempt.status == Status.CAPTURED


# --- forgeries ---------------------------------------------------------------------------------------

def test_response_for_another_order_marks_nothing_paid(emulator, client):
    victim = start()
    other = start()
    other_done = complete(emulator, other)
    victim_done = complete(emulator, victim, "cancel")
    # The victim's return URL with the other (genuinely paid) order's JSON.
    response = post_return(client, victim_done["return_url"], other_done["response"])
    assert response.status_code == 400
    assert b"could not confirm" in response.content
    victim.refresh_from_db()
    assert victim.status == Status.PENDING
    assert victim.events.filter(kind="rejected").exists()


def test_made_up_order_json_marks_nothing_paid(emulator, client):
    attempt = start()
    fake = {"number": "999999", "payment_status": "paid", "total_incl_tax": "54.95", "currency": "EUR",
            "metadata": {"shop_reference": attempt.reference}}
    response = post_return(client, attempt.redirect_url and _return_url(attempt), json.dumps(fake))
    assert response.status_code == 400
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING


def test_another_attempts_token_does_not_pay_this_one(emulator, client):
    first, second = start(), start()
    first_done = complete(emulator, first)
    # The first attempt's paid order posted to the second attempt's return URL.
    response = post_return(client, _return_url(second), first_done["response"])
    assert response.status_code == 400
    second.refresh_from_db()
    assert second.status == Status.PENDING
    first.refresh_from_db()
    assert first.status == Status.PENDING  # only its own return URL (or a webhook) confirms it


def test_tampered_token_is_refused(emulator, client):
    attempt = start()
    done = complete(emulator, attempt)
    path = urlparse(done["return_url"]).path
    tampered = path.replace(path.rstrip("/").rsplit(":", 1)[-1], "AAAAAAAAAAAAAAAAAAAAAAAAAA")
    response = client.post(tampered, {"response": done["response"]})
    assert response.status_code == 400
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING


def test_missing_token_is_not_found(client, db):
    response = client.post("/payments/return/next/", {"response": "{}"})
    assert response.status_code == 404


@pytest.mark.parametrize("body", ["not json", "[1,2,3]", "42", "null", '{"lines": []}'])
def test_malformed_response_is_a_400_page(emulator, client, body):
    attempt = start()
    response = post_return(client, _return_url(attempt), body)
    assert response.status_code == 400
    assert b"<html" in response.content.lower()
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING


@pytest.mark.parametrize("size", [600 * 1024, 3 * 1024 * 1024])
def test_megabytes_of_response_is_a_400_page(emulator, client, size):
    attempt = start()
    response = post_return(client, _return_url(attempt), "{" + " " * size + "}")
    assert response.status_code == 400
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING


def test_missing_response_field_is_a_400_page(emulator, client):
    attempt = start()
    response = client.post(urlparse(_return_url(attempt)).path, {"other": "x"})
    assert response.status_code == 400


def test_get_on_return_url_shows_the_order_without_changing_it(emulator, client):
    attempt = start()
    response = client.get(urlparse(_return_url(attempt)).path)
    assert response.status_code == 302 and "/orders/" in response["Location"]
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING


def _return_url(attempt):
    from payments.services.payment_start import return_url

    return return_url(attempt)


# --- provider faults during checkout -------------------------------------------------------------

@pytest.mark.parametrize("fault", [
    {"kind": "error", "status": 503, "times": 1},
    {"kind": "timeout", "seconds": 5, "times": 1},
])
def test_provider_down_at_checkout_loses_nothing(emulator, fault):
    emulator.control("POST", "/_emulator/faults",
                     json={"method": "POST", "path": "/next/api/admin/orders/", **fault})
    order = make_order()
    lines_before = list(order.lines.values_list("sku", "quantity"))
    with pytest.raises(ProviderUnavailable):
        start(order)
    order.refresh_from_db()
    assert order.status == Order.Status.PAYMENT_FAILED
    assert list(order.lines.values_list("sku", "quantity")) == lines_before
    failed = PaymentAttempt.objects.get(order=order)
    assert failed.status == Status.FAILED
    # The shopper tries again once the provider is back: same order, new attempt.
    retry = start(order)
    assert retry.status == Status.PENDING and retry.order_id == order.pk


def test_rate_limit_is_retried_after_retry_after(emulator):
    emulator.control("POST", "/_emulator/faults",
                     json={"method": "POST", "path": "/next/api/admin/orders/", "kind": "rate_limit",
                           "times": 1})
    attempt = start()
    assert attempt.status == Status.PENDING


def test_rate_limit_that_persists_is_unavailable(emulator):
    emulator.control("POST", "/_emulator/faults",
                     json={"method": "POST", "path": "/next/api/admin/orders/", "kind": "rate_limit",
                           "times": 20})
    with pytest.raises(ProviderUnavailable) as raised:
        start()
    assert raised.value.http_status == 429


def test_server_error_on_create_is_not_retried(emulator):
    # No idempotency key on ordersCreate: a 5xx may have created something, so never POST twice.
    emulator.control("POST", "/_emulator/faults",
                     json={"method": "POST", "path": "/next/api/admin/orders/", "kind": "error",
                           "status": 502, "times": 1})
    with pytest.raises(ProviderUnavailable):
        start()
    creates = [r for r in emulator.control("GET", "/_emulator/requests?provider=next")["requests"]
               if r["method"] == "POST" and r["path"].endswith("/orders/")]
    assert len(creates) == 1


def test_provider_down_on_return_defers_confirmation(emulator, client):
    attempt = start()
    done = complete(emulator, attempt)
    emulator.control("POST", "/_emulator/faults",
                     json={"method": "GET", "path": "/next/api/admin/orders/", "kind": "error",
                           "status": 503, "times": 10})
    response = post_return(client, done["return_url"], done["response"])
    assert response.status_code == 303 and "/thanks/" in response["Location"]
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING  # not paid on the browser's word
    emulator.control("DELETE", "/_emulator/faults")
    from payments.services.reconcile import payments_reconcile

    report = payments_reconcile(older_than=0)
    assert report.settled == 1
    attempt.refresh_from_db()
    assert attempt.status == Status.CAPTURED


def test_checkout_page_shows_try_again_when_provider_is_down(emulator, client):
    product = make_product()
    client.post("/cart/add/", {"product_id": product.pk, "quantity": 1})
    emulator.control("POST", "/_emulator/faults",
                     json={"method": "POST", "path": "/next/api/admin/orders/", "kind": "error",
                           "status": 500, "times": 1})
    response = client.post("/checkout/", {
        "email": "anna@example.com", "phone": "+31612345678", "first_name": "Anna", "last_name": "Jansen",
        "shipping_line1": "Keizersgracht 1", "shipping_city": "Amsterdam", "shipping_postcode": "1015 CJ",
        "shipping_country": "NL", "billing_same_as_shipping": "on", "route": "next",
    }, follow=True)
    assert response.status_code == 200
    assert b"Payment not completed" in response.content
    assert b"try again" in response.content.lower()
    assert Order.objects.count() == 1
    assert client.session.get("cart")  # the cart is still there


# --- a replaced attempt paid in an old tab whose return and webhook never came ----------------------------
def test_reconcile_records_a_replaced_attempt_paid_in_an_old_tab(emulator):
    from payments.services.reconcile import payments_reconcile

    order = make_order()
    first = start(order)
    second = start(order)                 # "try again": the first attempt is replaced
    complete(emulator, first)             # ...but paid in the old tab, which is then closed
    report = payments_reconcile(older_than=0)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Status.CAPTURED and report.settled == 1
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID
    assert second.status == Status.PENDING  # still payable: paying it too would be undone as a duplicate
    assert payments_reconcile(older_than=0).settled == 0 and paid_transitions(first) == 1


def test_reconcile_asks_only_about_recently_replaced_attempts(emulator, settings):
    from datetime import timedelta

    from django.utils import timezone

    from payments.services.reconcile import payments_reconcile

    order = make_order()
    first = start(order)
    start(order)
    PaymentAttempt.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(
        seconds=settings.PAYMENT_EXPIRE_AFTER + 60))
    complete(emulator, first)
    reads = len(emulator.control("GET", "/_emulator/requests?provider=next")["requests"])
    report = payments_reconcile(older_than=0)
    first.refresh_from_db()
    assert first.status == Status.EXPIRED and report.checked == 1  # only the open attempt was read
    assert len(emulator.control("GET", "/_emulator/requests?provider=next")["requests"]) == reads + 1
