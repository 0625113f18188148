"""Helpers that walk an order through the 29 Next checkout against the emulator."""
from urllib.parse import urlparse

from payments.models import PaymentAttempt
from payments.services.payment_start import payment_start
from shop.cart import Cart
from tests.factories import make_order, make_product


def pay(emulator, client, order=None):
    """Place, approve at the emulator and return through the shop: a paid order, placed by `client`."""
    order = order or make_order()
    attempt = payment_start(order=order, route="next")
    done = emulator.complete_checkout(attempt.redirect_url, "approve")
    response = client.post(urlparse(done["return_url"]).path, {"response": done["response"]})
    assert response.status_code == 303, response.content[:500]
    session = client.session
    session["last_order"] = order.number
    session.save()
    order.refresh_from_db()
    return order, PaymentAttempt.objects.get(pk=attempt.pk), done["order_number"]


def subscription_order(*, interval="month", interval_count=1, price=1650, email=None):
    beans = make_product(name="Coffee beans", kind="subscription", interval=interval,
                         interval_count=interval_count, price=price, vat_rate_bp=900)
    return make_order(items=[(beans, 1)], shipping_fee=0, email=email)


def provider_requests(emulator, method, path_part, *, at_least=0, wait=6.0):
    """Requests the emulator logged (it logs a request when it has answered it, so a request held by a
    fault shows up late: wait up to `wait` seconds for `at_least` of them)."""
    import time

    deadline = time.monotonic() + wait
    while True:
        found = [r for r in emulator.control("GET", "/_emulator/requests?provider=next")["requests"]
                 if r["method"] == method and path_part in r["path"]]
        if len(found) >= at_least or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


__all__ = ["Cart", "pay", "subscription_order", "provider_requests"]
