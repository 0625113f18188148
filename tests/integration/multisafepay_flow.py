"""Driving a MultiSafepay checkout against the emulator, as a shopper and as MultiSafepay: the checkout form,
the hosted page's buttons (through the control API), the shopper's GET back, signed notifications."""
import json
import time
from urllib.parse import urlparse

from django.conf import settings
from django.urls import reverse

from payments.models import PaymentAttempt
from payments.providers.multisafepay.signatures import sign
from payments.services.payment_start import notification_url
from tests.factories import ADDRESS, make_product

API = "/multisafepay/v1/json/"


def checkout_form(**overrides):
    data = {key: value for key, value in ADDRESS.items() if key != "billing_same_as_shipping"}
    data.update(phone="+31 6 1234 5678", billing_same_as_shipping="on", route="multisafepay",
                birthday="1985-04-23", gender="female")
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def place_order(client, product=None, quantity=2, **form):
    """Add to cart (`quantity` 0: nothing more) and submit checkout on the multisafepay route; returns the
    response (a 303 on to the provider or the failure page, a 200 with form errors)."""
    product = product or make_product(name="Fjord Enamel Mug", price=1850)
    if quantity:
        client.post(reverse("shop:cart_add"), {"product_id": product.pk, "quantity": quantity})
    return client.post(reverse("shop:checkout"), checkout_form(**form))


def latest_attempt():
    return PaymentAttempt.objects.filter(route="multisafepay").select_related("order").latest("created_at")


def msp_orders(emulator):
    return {o["order_id"]: o for o in emulator.control("GET", "/_emulator/multisafepay/orders")["orders"]}


def creates_sent(emulator):
    return [r for r in emulator.control("GET", "/_emulator/requests?provider=multisafepay")["requests"]
            if r["method"] == "POST" and r["path"].rstrip("/").endswith("/orders")]


def decide(emulator, attempt, action="approve"):
    """The shopper's click on the hosted page; returns where MultiSafepay sends the browser (path, query)."""
    done = emulator.control("POST", f"/_emulator/multisafepay/orders/{attempt.reference}/complete",
                            {"action": action})
    url = urlparse(done["redirect_url"])
    return url.path, url.query


def come_back(client, emulator, attempt, action="approve"):
    path, query = decide(emulator, attempt, action)
    return client.get(f"{path}?{query}")


def notification(attempt, *, body=None, stamp=None, key=None, query=None):
    """A POST notification as MultiSafepay signs it: (path with query, raw body, headers)."""
    stamp = int(time.time()) if stamp is None else stamp
    raw = body if body is not None else json.dumps({"order_id": attempt.reference, "status": "completed",
                                                    "financial_status": "uncleared"}).encode()
    params = query if query is not None else f"transactionid={attempt.reference}&timestamp={stamp}"
    path = f"{urlparse(notification_url(attempt)).path}?{params}"
    return path, raw, {"Auth": sign(key or settings.MULTISAFEPAY_API_KEY, raw, stamp)}


def msp_reports(emulator, client, attempt, status):
    """MultiSafepay moves the order to `status` (its own status and financial status alike) and notifies the shop,
    as its Control panel or its own clock would; the notification must be accepted."""
    emulator.control("POST", f"/_emulator/multisafepay/orders/{attempt.reference}/status",
                     {"status": status, "financial_status": status})
    body = json.dumps({"order_id": attempt.reference, "status": status, "financial_status": status}).encode()
    path, raw, headers = notification(attempt, body=body)
    assert client.post(path, raw, content_type="application/json", headers=headers).status_code == 200
