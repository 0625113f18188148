"""Helpers that walk an order through the Klarna Payment Authorize v2 route against the emulator."""
import json
from urllib.parse import quote, urlparse

from payments.services.payment_start import payment_start
from tests.emulator_process import WebhookReceiver
from tests.factories import make_order

ROUTE = "klarna_authorize"
CONTROL = "/_emulator/klarna-global"
WEBHOOK_PATH = "/payments/webhooks/klarna_authorize/"


def record_webhooks(emulator) -> WebhookReceiver:
    """Klarna's webhooks land in the returned receiver (recorded, not applied), so a test can deliver them
    as it likes; stop() it when done."""
    target = WebhookReceiver()
    emulator.control("PATCH", "/_emulator/config", json={"klarna_global": {
        "webhook_target": target.url, "webhooks_sync": True}})
    return target


def completed_delivery(receiver):
    """The (headers, raw body) of the completion webhook the receiver got."""
    for headers, body in receiver.deliveries:
        if json.loads(body)["metadata"]["event_type"] == "payment.request.state-change.completed":
            return headers, body
    raise AssertionError("no completion webhook was sent")


def post_webhook(client, body, signature):
    return client.post(WEBHOOK_PATH, body, content_type="application/json", headers={"Klarna-Signature": signature})


def use_route(settings):
    settings.PAYMENT_ROUTES = ["next", "klarna_payments", ROUTE]


def journey(emulator, attempt, action="approve"):
    """The shopper decides in Klarna's purchase journey; returns the payment request with its return_url."""
    request_id = quote(attempt.provider_reference, safe="")
    return emulator.control("POST", f"{CONTROL}/payment-requests/{request_id}/complete", json={"action": action})


def step_up(emulator, order=None):
    """Start (the default persona needs a step-up): the attempt, pending, with its payment request."""
    return payment_start(order=order or make_order(), route=ROUTE)


def pay_with_step_up(emulator, client, order=None):
    """Start, approve in the journey, come back by GET (the browser's return): the attempt, as it ended."""
    attempt = step_up(emulator, order)
    done = journey(emulator, attempt)
    response = client.get(urlparse(done["return_url"]).path)
    assert response.status_code == 303, response.content[:300]
    attempt.refresh_from_db()
    return attempt


def authorize_calls(emulator, *, finalizing=None):
    calls = [r for r in emulator.control("GET", "/_emulator/requests?provider=klarna_global")["requests"]
             if r["method"] == "POST" and r["path"].endswith("/payment/authorize")]
    if finalizing is not None:
        calls = [r for r in calls if bool(r["headers"].get("klarna-network-session-token")) == finalizing]
    return calls
