"""SQL statements per shopper request on the checkout's hot path (issue 14): the checkout POST and the
provider's return POST. The limits are the work each request needs, so a change that adds a read or a
transaction shows up here rather than in a profile months later.

Sessions live in the cache as in production (docker-compose sets CACHE_URL, so SESSION_ENGINE is the
cache backend); with database sessions the checkout POST reads and writes one session row more. The
order confirmation email is the worker's job (shop.tasks.queue_order_confirmation), so its statements are
not the shopper's: the task is captured here instead of run eagerly.
"""
from urllib.parse import urlparse

import pytest
from django.urls import reverse

from payments.models import PaymentAttempt, PaymentEvent
from shop import tasks
from shop.models import Order
from tests.factories import make_product
from tests.integration.storefront.helpers import add, checkout_data

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shop(settings, monkeypatch):
    settings.PAYMENT_ROUTES = ["next"]
    settings.SESSION_ENGINE = "common.cache_sessions"
    queued = []
    monkeypatch.setattr(tasks.queue_order_confirmation, "delay", queued.append)
    return queued


def test_checkout_post_and_return_post_stay_within_their_statements(
        emulator, client, shop, django_assert_max_num_queries):
    add(client, make_product(name="Mug", slug="mug", price=1850))
    client.get(reverse("shop:checkout"))
    # cart read; order, lines, attempt and its first event in one transaction; the provider's answer
    # and its event in a second (no lock is held while the provider is asked).
    with django_assert_max_num_queries(12):
        response = client.post(reverse("shop:checkout"), checkout_data())
    assert response.status_code == 303
    attempt = PaymentAttempt.objects.get()
    assert response["Location"] == attempt.redirect_url and attempt.status == "pending"

    done = emulator.complete_checkout(attempt.redirect_url, "approve")
    # attempt and order read; attempt, event and order written in one transaction; the message stored.
    with django_assert_max_num_queries(7):
        response = client.post(urlparse(done["return_url"]).path, {"response": done["response"]})
    assert response.status_code == 303
    attempt.refresh_from_db()
    order = Order.objects.get()
    assert attempt.status == "captured" and order.status == "paid" and order.paid_at is not None
    assert shop == [order.pk]
    # The ledger is whole: each transition once.
    assert list(PaymentEvent.objects.filter(attempt=attempt, kind="transition")
                .values_list("to_status", flat=True).order_by("pk")) == ["pending", "captured"]
    assert attempt.webhook_deliveries.get().apply_count == 1

    # The same return again (a double click) changes nothing and asks the provider nothing.
    response = client.post(urlparse(done["return_url"]).path, {"response": done["response"]})
    assert response.status_code == 303
    assert PaymentEvent.objects.filter(attempt=attempt, kind="transition").count() == 2


def test_checkout_post_after_an_unpaid_order_stays_within_its_statements(
        emulator, client, shop, django_assert_max_num_queries):
    """The shopper comes back to checkout with an order still waiting at 29 Next (the back button, an
    abandoned payment page) and a changed cart: that order and its attempts are read in one query, and
    since 29 Next could still take the money for its old contents, a new order is placed in the same
    statements as a first checkout, plus the read that finds the cart changed."""
    add(client, make_product(name="Mug", slug="mug", price=1850))
    client.post(reverse("shop:checkout"), checkout_data())
    first = Order.objects.get()
    add(client, make_product(name="Socks", slug="socks", price=2200))
    with django_assert_max_num_queries(14):
        response = client.post(reverse("shop:checkout"), checkout_data())
    assert response.status_code == 303
    second = Order.objects.exclude(pk=first.pk).get()
    assert client.session["last_order"] == second.number
    assert PaymentAttempt.objects.filter(order=second, status="pending").count() == 1


def test_the_same_cart_submitted_again_costs_a_retry(emulator, client, shop, django_assert_max_num_queries):
    """The same cart again (a second tab): a new attempt on the same order, superseding the open one under
    the order's lock (payment_start, as the order page's retry), not a second order charging the cart twice
    (probe F F4). More statements than a first checkout: the price of one charge per cart."""
    add(client, make_product(name="Mug", slug="mug", price=1850))
    client.post(reverse("shop:checkout"), checkout_data())
    with django_assert_max_num_queries(25):  # 24 on PostgreSQL
        response = client.post(reverse("shop:checkout"), checkout_data())
    assert response.status_code == 303
    order = Order.objects.get()
    assert list(order.payment_attempts.order_by("pk").values_list("status", flat=True)) == ["expired", "pending"]
