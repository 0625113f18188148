"""One cart, one charge: the checkout page submitted twice (a double click, a second tab, the back button) or
after its total changed (probe F F3, F4, F5)."""
import re
from urllib.parse import urlparse

import pytest
from django.urls import reverse

from payments.models import PaymentAttempt
from payments.states import SUCCESSFUL, Status
from shop.models import Order
from tests.factories import make_product
from tests.integration.storefront.helpers import add, checkout_data

pytestmark = pytest.mark.django_db(transaction=True)


def checkout_page(client) -> dict:
    """The hidden fields of the checkout page as the browser has it."""
    html = client.get(reverse("shop:checkout")).content.decode()
    return dict(re.findall(r'<input type="hidden" name="(shown_total|submission)" value="([^"]*)"', html))


def submit(client, page):
    return client.post(reverse("shop:checkout"), {**checkout_data(), **page})


def test_a_page_submitted_twice_places_one_order_and_both_go_to_its_payment(emulator, client):
    add(client, make_product(price=1850))
    page = checkout_page(client)
    first, second = submit(client, page), submit(client, page)
    assert first.status_code == second.status_code == 303
    assert second["Location"] == first["Location"]
    assert Order.objects.count() == 1 and PaymentAttempt.objects.count() == 1


def test_the_same_cart_from_a_second_tab_is_a_new_payment_of_the_same_order(emulator, client):
    add(client, make_product(price=1850))
    tab_1, tab_2 = checkout_page(client), checkout_page(client)
    first = submit(client, tab_1)
    second = submit(client, tab_2)
    order = Order.objects.get()  # not two orders charging one cart
    old, new = order.payment_attempts.order_by("pk")
    assert old.status == Status.EXPIRED and new.status == Status.PENDING
    assert first["Location"] == old.redirect_url and second["Location"] == new.redirect_url
    # Both provider pages are paid: the older one is undone as a duplicate.
    for location in (second["Location"], first["Location"]):
        done = emulator.complete_checkout(location, "approve")
        client.post(urlparse(done["return_url"]).path, {"response": done["response"]})
    old.refresh_from_db()
    new.refresh_from_db()
    assert new.status in SUCCESSFUL and old.duplicate_of_id == new.pk and old.status == Status.REFUNDED
    assert Order.objects.get().status == Order.Status.PAID


def test_a_changed_cart_from_a_second_tab_is_a_new_order(emulator, client):
    add(client, make_product(price=1850))
    submit(client, checkout_page(client))
    add(client, make_product(price=2200))
    submit(client, checkout_page(client))
    assert Order.objects.count() == 2  # the first order keeps its contents: its page can still be paid


def test_a_total_that_changed_since_the_page_was_shown_is_not_charged(emulator, client):
    mug = make_product(price=1850)
    add(client, mug)
    page = checkout_page(client)
    mug.price = 2850
    mug.save()
    response = submit(client, page)
    html = response.content.decode()
    assert response.status_code == 200 and not Order.objects.exists()
    assert "The total changed while this page was open" in html
    assert "Place order and pay" in html and re.search(r"33[.,]45", html)  # 28.50 + 4.95 shipping
    assert submit(client, checkout_page(client)).status_code == 303
    assert Order.objects.get().total == 3345


def test_a_second_click_while_the_provider_is_slow_follows_the_first(emulator, client, postgres):
    """The real double click: the second POST arrives while the first waits for the provider. It waits for
    the first and is sent where the first was, instead of placing and paying a second order."""
    from django.test import Client

    from tests.integration.concurrency import at_once

    add(client, make_product(price=1850))
    page = checkout_page(client)
    emulator.control("POST", "/_emulator/faults", json={"method": "POST", "path": "/next/api/admin/orders/",
                                                        "kind": "latency", "latency_ms": 1500, "times": 2})
    browsers = [Client(), Client()]
    for browser in browsers:
        browser.cookies = client.cookies  # one browser, two requests
    first, second = at_once(*(lambda b=b: submit(b, page) for b in browsers))
    assert first.status_code == second.status_code == 303
    assert first["Location"] == second["Location"]
    assert Order.objects.count() == 1 and PaymentAttempt.objects.count() == 1


def test_the_same_cart_switched_to_a_route_that_asks_more_is_the_same_order(emulator, client, settings):
    """Probe G F1: tab 1 checked out with 29 Next; tab 2, the same cart and person, chose MultiSafepay, which
    also asks for the date of birth and title. That made a second order, and both pages were paid (EUR 107.90
    for one cart). The route's extra details update the same order; the old page paid is undone."""
    from tests.integration.multisafepay_flow import checkout_form, come_back

    settings.PAYMENT_ROUTES = ["next", "multisafepay"]
    add(client, make_product(price=1850))
    tab_1, tab_2 = checkout_page(client), checkout_page(client)
    first = submit(client, tab_1)
    second = client.post(reverse("shop:checkout"), {**checkout_form(), **tab_2})
    assert second.status_code == 303
    order = Order.objects.get()  # one order, now on MultiSafepay with what it needs
    assert order.route == "multisafepay" and str(order.birthday) == "1985-04-23" and order.gender == "female"
    old, new = order.payment_attempts.order_by("pk")
    assert (old.route, old.status, new.route) == ("next", Status.EXPIRED, "multisafepay")

    come_back(client, emulator, new)
    done = emulator.complete_checkout(first["Location"], "approve")
    client.post(urlparse(done["return_url"]).path, {"response": done["response"]})
    old.refresh_from_db()
    new.refresh_from_db()
    assert new.status in SUCCESSFUL and old.duplicate_of_id == new.pk and old.status == Status.REFUNDED
    assert Order.objects.get().status == Order.Status.PAID
