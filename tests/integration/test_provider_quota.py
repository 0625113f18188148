"""One shopper cannot spend the shop's provider quota (issue: replaying a paid return re-read the order
from 29 Next each time, so other shoppers' checkouts got 429 and a "payment failed" page)."""
import json
import threading
from urllib.parse import urlparse

import pytest
from django.db import connection
from django.test import Client

from payments.models import PaymentEvent
from payments.services.payment_start import payment_start, return_url
from payments.states import SUCCESSFUL
from tests.factories import make_order
from tests.integration.next_flow import pay, provider_requests

pytestmark = pytest.mark.django_db(transaction=True)


def order_reads(emulator):
    return len([r for r in provider_requests(emulator, "GET", "/orders/") if "/orders/?" not in r["path"]])


def test_returns_for_a_settled_payment_never_ask_the_provider(emulator, client):
    order, attempt, number = pay(emulator, client)
    events, reads = PaymentEvent.objects.filter(attempt=attempt).count(), order_reads(emulator)
    path = urlparse(return_url(attempt)).path
    for n in range(12):  # replayed and made-up answers alike
        response = client.post(path, {"response": json.dumps({"number": f"9{n}"})})
        assert response.status_code == 303 and "/thanks/" in response["Location"]
    assert order_reads(emulator) == reads
    assert PaymentEvent.objects.filter(attempt=attempt).count() == events


def test_one_client_is_limited_others_are_not(emulator, settings):
    settings.PAYMENT_RATE_LIMITS = {**settings.PAYMENT_RATE_LIMITS, "return": (5, 60)}
    attempt = payment_start(order=make_order(), route="next")
    path = urlparse(return_url(attempt)).path
    flooder, shopper = Client(REMOTE_ADDR="203.0.113.9"), Client(REMOTE_ADDR="198.51.100.7")
    statuses = [flooder.get(path).status_code for _ in range(8)]
    assert statuses[:5] == [302] * 5 and set(statuses[5:]) == {429}
    assert shopper.get(path).status_code == 302


def test_a_flood_on_one_return_url_leaves_six_checkouts_paid(emulator, postgres, client, settings):
    """29 Next's 4 requests/second limit on, a client hammers a paid order's return URL from 4 threads
    while 6 shoppers check out: all 6 reach the provider and are paid. The shop paces its own calls as in
    production (its rate budget): six checkouts alone are faster than 4 calls a second."""
    from payments.providers.registry import reset_cache

    settings.NEXT_API_RATE_LIMIT = 4
    reset_cache()
    emulator.control("PATCH", "/_emulator/config", json={"next": {"rate_limit": True}})
    _, paid_attempt, _ = pay(emulator, client)
    flood_path = urlparse(return_url(paid_attempt)).path
    stop = threading.Event()

    def flood(n):
        hammer = Client(REMOTE_ADDR=f"203.0.113.{n}")
        i = 0
        while not stop.is_set():
            hammer.post(flood_path, {"response": json.dumps({"number": f"{n}{i}"})})
            i += 1
        connection.close()

    threads = [threading.Thread(target=flood, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    try:
        paid = []
        for n in range(6):
            attempt = payment_start(order=make_order(), route="next")
            done = emulator.complete_checkout(attempt.redirect_url, "approve")
            shopper = Client(REMOTE_ADDR=f"198.51.100.{n}")
            response = shopper.post(urlparse(done["return_url"]).path, {"response": done["response"]})
            assert response.status_code == 303
            attempt.refresh_from_db()
            paid.append(attempt.status in SUCCESSFUL)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert paid == [True] * 6
