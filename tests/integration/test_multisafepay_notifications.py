"""MultiSafepay notifications on the attempt's signed URL (issue 11, "Notifications" and the bad-input list):
the Auth signature checked on the raw body, bad and stale ones stored and refused, GET and pre-transaction
notifications, `OK` as the answer, and deliveries repeated and out of order leaving the right state."""
import json
import time
from urllib.parse import urlsplit

import pytest

from payments.models import PaymentEvent, WebhookDelivery
from payments.services.payment_start import payment_start
from payments.states import Status
from tests.factories import make_order
from tests.integration.multisafepay_flow import decide, latest_attempt, msp_orders, notification, place_order

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def attempt(emulator):
    return payment_start(order=make_order(route="multisafepay"), route="multisafepay")


def post(client, message):
    path, body, headers = message
    return client.post(path, body, content_type="application/json", headers=headers)


def transitions(attempt):
    return PaymentEvent.objects.filter(attempt=attempt, kind="transition").count()


def test_an_authentic_notification_is_read_back_applied_and_answered_ok(emulator, client, attempt):
    decide(emulator, attempt, "approve")
    response = post(client, notification(attempt))
    assert response.status_code == 200 and response.content == b"OK"
    assert response["Content-Type"].startswith("text/plain")
    attempt.refresh_from_db()
    assert attempt.status == Status.AUTHORIZED
    stored = WebhookDelivery.objects.get(attempt=attempt, channel="notification")
    assert stored.signature_valid and stored.state == "applied" and "Auth" in stored.headers


@pytest.mark.parametrize("case", ["wrong key", "stale", "from the future", "missing", "garbage"])
def test_a_bad_or_stale_signature_is_stored_and_refused(emulator, client, attempt, case):
    decide(emulator, attempt, "approve")  # MSP would say paid: a forged message must still change nothing
    now = int(time.time())
    message = {
        "wrong key": lambda: notification(attempt, key="not-the-api-key"),
        "stale": lambda: notification(attempt, stamp=now - 3600),
        "from the future": lambda: notification(attempt, stamp=now + 3600),
        "missing": lambda: (*notification(attempt)[:2], {}),
        "garbage": lambda: (*notification(attempt)[:2], {"Auth": "%%%not-base64"}),
    }[case]()
    response = post(client, message)
    assert response.status_code == 401 and response.content != b"OK"
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING and transitions(attempt) == 1
    stored = WebhookDelivery.objects.get(attempt=attempt, channel="notification")
    assert not stored.signature_valid and stored.state == "rejected" and stored.body.startswith("{")


def test_a_notification_about_another_order_is_refused(emulator, client, attempt):
    other = payment_start(order=make_order(route="multisafepay"), route="multisafepay")
    body = json.dumps({"order_id": other.reference, "status": "completed"}).encode()
    path, raw, headers = notification(attempt, body=body,
                                      query=f"transactionid={other.reference}&timestamp={int(time.time())}")
    response = client.post(path, raw, content_type="application/json", headers=headers)
    assert response.status_code == 400
    assert WebhookDelivery.objects.get(attempt=attempt).state == "rejected"


def test_get_notifications_are_resolved_by_reading_the_order_back(emulator, client, attempt):
    path = notification(attempt)[0]
    early = client.get(path)  # MSP still has the order open: nothing changes, still acknowledged
    assert early.status_code == 200 and early.content == b"OK"
    decide(emulator, attempt, "approve")
    later = client.get(path.replace("timestamp=", "timestamp=1"))
    assert later.status_code == 200 and later.content == b"OK"
    attempt.refresh_from_db()
    assert attempt.status == Status.AUTHORIZED


@pytest.mark.parametrize("query", ["transactionid={ref}&timestamp=1&payload_type=pretransaction",
                                   "transactionid={ref}"], ids=["pretransaction", "no-timestamp"])
def test_pretransaction_and_timestampless_notifications_are_acknowledged_and_ignored(emulator, client, attempt,
                                                                                     query):
    decide(emulator, attempt, "approve")
    path = notification(attempt)[0].split("?")[0] + "?" + query.format(ref=attempt.reference)
    response = client.get(path)
    assert response.status_code == 200 and response.content == b"OK"
    assert WebhookDelivery.objects.get(attempt=attempt).state == "ignored"
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING


def test_the_site_webhook_url_takes_signed_notifications_and_refuses_unsigned(emulator, client, attempt):
    decide(emulator, attempt, "approve")
    _, body, headers = notification(attempt)
    query = f"?transactionid={attempt.reference}&timestamp={int(time.time())}"
    unsigned = client.post("/payments/webhooks/multisafepay/" + query, body, content_type="application/json")
    assert unsigned.status_code == 401
    signed = client.post("/payments/webhooks/multisafepay/" + query, body, content_type="application/json",
                         headers=headers)
    assert signed.status_code == 200 and signed.content == b"OK"
    attempt.refresh_from_db()
    assert attempt.status == Status.AUTHORIZED


def test_a_delivery_three_times_and_out_of_order_leaves_the_right_state(emulator, client):
    """MultiSafepay's own signed notifications (recorded by the emulator, not sent) delivered late: the
    approval (`completed`) first, then the older risk review (`uncleared`) three times."""
    emulator.control("POST", "/_emulator/webhooks/mode", {"mode": "drop"})
    attempt = payment_start(order=make_order(route="multisafepay", email="anna+pending@example.com"),
                            route="multisafepay")
    decide(emulator, attempt, "approve")
    emulator.control("POST", f"/_emulator/multisafepay/orders/{attempt.reference}/status",
                     {"status": "completed", "financial_status": "uncleared"})
    recorded = emulator.control("GET", "/_emulator/webhooks?provider=multisafepay")["deliveries"]
    by_status = {json.loads(d["body"])["status"]: d for d in recorded}
    assert set(by_status) == {"uncleared", "completed"}

    def deliver(record):
        target = urlsplit(record["target"])
        return client.post(f"{target.path}?{target.query}", record["body"].encode(), content_type="application/json",
                           headers={"Auth": record["headers"]["Auth"]})

    assert deliver(by_status["completed"]).content == b"OK"
    attempt.refresh_from_db()
    assert attempt.status == Status.AUTHORIZED
    before = transitions(attempt)
    answers = [deliver(by_status["uncleared"]) for _ in range(3)]
    assert [a.content for a in answers] == [b"OK"] * 3
    assert [a["X-Inbound-State"] for a in answers] == ["applied", "duplicate", "duplicate"]
    attempt.refresh_from_db()
    assert attempt.status == Status.AUTHORIZED and transitions(attempt) == before
    assert WebhookDelivery.objects.filter(attempt=attempt, signature_valid=True).count() == 2


def test_deliveries_from_msp_three_times_and_out_of_order_leave_the_right_state(emulator, client, live_server,
                                                                               settings, postgres):
    """The same over the wire: the emulator sends its notifications to the running shop."""
    settings.SHOP_BASE_URL = live_server.url  # where MultiSafepay sends them
    emulator.control("PATCH", "/_emulator/config", {"multisafepay": {"notifications_sync": True}})
    place_order(client, email="anna+pending@example.com")
    attempt = latest_attempt()
    back = client.get("{}?{}".format(*decide(emulator, attempt, "approve")))
    assert back.status_code == 302  # still under review: the shopper sees the order's status page
    attempt.refresh_from_db()
    assert attempt.status == Status.PENDING

    emulator.control("POST", f"/_emulator/multisafepay/orders/{attempt.reference}/status",
                     {"status": "completed", "financial_status": "uncleared"})
    attempt.refresh_from_db()
    assert attempt.status == Status.AUTHORIZED
    before = transitions(attempt)

    emulator.control("POST", f"/_emulator/multisafepay/orders/{attempt.reference}/notify", {"index": 0, "times": 3})
    sent = msp_orders(emulator)[attempt.reference]["notifications"]
    assert [n["status"] for n in sent][:2] == ["uncleared", "completed"]
    attempt.refresh_from_db()
    assert attempt.status == Status.AUTHORIZED and transitions(attempt) == before
    stored = WebhookDelivery.objects.filter(attempt=attempt, channel="notification", signature_valid=True)
    # The resends carry fresh timestamps: new deliveries, unless within the same second (then duplicates).
    assert stored.count() >= 2 and set(stored.values_list("state", flat=True)) == {"applied"}
    answered = emulator.control("GET", "/_emulator/webhooks?provider=multisafepay")["deliveries"]
    assert len(answered) == 5 and {d["state"] for d in answered} == {"delivered"}
    assert not WebhookDelivery.objects.filter(attempt=attempt, signature_valid=False).exists()


def test_notifications_are_signed_with_the_wall_clock_when_the_emulator_clock_moved(emulator, client, settings):
    """Probe C note: with the emulator's clock moved ahead (to age things), its notifications were signed in
    the future and every one was refused as forged. They carry the time they were sent."""
    import base64

    from tests.emulator_process import WebhookReceiver

    receiver = WebhookReceiver()
    try:
        settings.SHOP_BASE_URL = receiver.url.split("/webhooks/")[0]  # MultiSafepay notifies the receiver
        emulator.control("PATCH", "/_emulator/config", {"multisafepay": {"notifications_sync": True}})
        attempt = payment_start(order=make_order(route="multisafepay"), route="multisafepay")
        emulator.control("POST", "/_emulator/clock/advance", json={"seconds": 2 * 3600})
        decide(emulator, attempt, "approve")
        headers, body = receiver.deliveries[-1]
    finally:
        receiver.stop()
    stamp = int(base64.b64decode(headers["auth"]).split(b":")[0])
    assert abs(stamp - time.time()) < 60
    path, _, _ = notification(attempt, body=body, stamp=stamp)
    answer = client.post(path, body, content_type="application/json", headers={"Auth": headers["auth"]})
    assert answer.status_code == 200 and answer["X-Inbound-State"] == "applied"
    attempt.refresh_from_db()
    assert attempt.status in (Status.AUTHORIZED, Status.CAPTURED)
