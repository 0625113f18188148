"""The contract suite's drivers: how a shopper approves or declines at each provider, and what an
authentic and a forged provider message look like. A route joins the suite (tests/integration/
test_adapter_contract*.py) by adding its driver here. The shared steps live here too; the `driver` fixture
that runs each contract test once per route is in tests/integration/conftest.py.
"""
import json
import time
from urllib.parse import parse_qsl, quote, urlparse

from django.conf import settings

from payments.models import PaymentEvent
from payments.providers.klarna_authorize import signatures as klarna_v2_signatures
from payments.providers.multisafepay.signatures import sign as msp_sign
from payments.providers.next.signatures import sign
from payments.providers.registry import get_adapter
from payments.services.payment_start import notification_url, payment_start, return_url
from payments.states import SUCCESSFUL
from tests.factories import make_order
from tests.integration.klarna_flow import authorize


class NextDriver:
    route, api_prefix = "next", "/next/api/admin/"
    abandoned_after_approval = "paid"  # the order exists at 29 Next: reconcile finds it by its tag

    def __init__(self, emulator):
        self.emulator = emulator

    def decide(self, attempt, approve):
        done = self.emulator.complete_checkout(attempt.redirect_url, "approve" if approve else "decline")
        return urlparse(done["return_url"]).path, {"response": done["response"]}

    def approve_only(self, attempt):
        self.emulator.complete_checkout(attempt.redirect_url, "approve")

    def authorize_only(self):
        """The store authorizes Klarna payments and captures later (an auth-capture gateway)."""
        self.emulator.control("PATCH", "/_emulator/config", {"next": {"klarna_payment_status": "authorized"}})

    def decline_return(self, attempt):
        return urlparse(return_url(attempt)).path, {"response": "{}"}

    def forged_return(self, attempt):
        return urlparse(return_url(attempt)).path, {"response": json.dumps({"number": "999999"})}

    def message(self, attempt, *, forged=False):
        order = get_adapter(self.route).client.get_order(attempt.provider_reference)
        body = json.dumps({"event_id": f"evt-{attempt.reference}", "event_type": "order.updated",
                           "object": "order", "data": order}).encode()
        secret = "not-our-secret" if forged else settings.NEXT_WEBHOOK_SECRET
        return "/payments/webhooks/next/", body, {"X-29Next-Signature": sign(secret, body)}


class KlarnaPaymentsDriver:
    route, api_prefix = "klarna_payments", "/klarna/"
    # Only the shop places a Klarna order (from the authorization): an approval whose return and callback
    # never arrived leaves nothing to find, so reconcile gives the attempt up.
    abandoned_after_approval = "expired"

    def __init__(self, emulator):
        self.emulator = emulator

    def decide(self, attempt, approve):
        token = authorize(self.emulator, attempt, approve)
        data = {"authorization_token": token} if approve else {"declined": "1"}
        return urlparse(return_url(attempt)).path, data

    def approve_only(self, attempt):
        authorize(self.emulator, attempt, True)

    def authorize_only(self):
        """Klarna Payments orders are always authorized first (auto_capture false)."""

    def decline_return(self, attempt):
        return urlparse(return_url(attempt)).path, {"declined": "1"}

    def forged_return(self, attempt):
        return urlparse(return_url(attempt)).path, {"authorization_token": "made-up-authorization-token"}

    def message(self, attempt, *, forged=False):
        body = json.dumps({"order_id": attempt.provider_reference, "event_type": "FRAUD_RISK_ACCEPTED"}).encode()
        path = urlparse(notification_url(attempt)).path
        if forged:
            path = path.rstrip("/")[:-4] + "AAAA/"
        return path, body, {}


class MultiSafepayDriver:
    route, api_prefix = "multisafepay", "/multisafepay/v1/json/"
    # The order exists at MultiSafepay from the start (order_id = our reference): reconcile reads it back.
    abandoned_after_approval = "paid"

    def __init__(self, emulator):
        self.emulator = emulator

    def _complete(self, attempt, action):
        return self.emulator.control("POST", f"/_emulator/multisafepay/orders/{attempt.reference}/complete",
                                     json={"action": action})

    def _back(self, redirect_url):
        # MultiSafepay sends the shopper back by GET with ?transactionid=; the suite posts the same fields.
        url = urlparse(redirect_url)
        return url.path, dict(parse_qsl(url.query))

    def decide(self, attempt, approve):
        return self._back(self._complete(attempt, "approve" if approve else "decline")["redirect_url"])

    def approve_only(self, attempt):
        self._complete(attempt, "approve")

    def authorize_only(self):
        """MultiSafepay's Klarna orders complete as authorized; shipping captures them."""

    def decline_return(self, attempt):
        return urlparse(return_url(attempt)).path, {"transactionid": attempt.reference}

    def forged_return(self, attempt):
        return urlparse(return_url(attempt)).path, {"transactionid": "pa_0000000000000000beef"}

    def message(self, attempt, *, forged=False):
        order = get_adapter(self.route).client.get_order(attempt.reference)
        body = json.dumps(order, separators=(",", ":"), sort_keys=True).encode()
        stamp = int(time.time())
        key = "not-our-api-key" if forged else settings.MULTISAFEPAY_API_KEY
        path = f"{urlparse(notification_url(attempt)).path}?transactionid={attempt.reference}&timestamp={stamp}"
        return path, body, {"Auth": msp_sign(key, body, stamp)}


class KlarnaAuthorizeDriver:
    route, api_prefix = "klarna_authorize", "/klarna-global/"
    # The payment request is COMPLETED at Klarna: reconcile reads it and finalizes.
    abandoned_after_approval = "paid"

    def __init__(self, emulator):
        self.emulator = emulator

    def _journey(self, attempt, action):
        request_id = quote(attempt.provider_reference, safe="")
        return self.emulator.control("POST", f"/_emulator/klarna-global/payment-requests/{request_id}/complete",
                                     json={"action": action})

    def decide(self, attempt, approve):
        done = self._journey(attempt, "approve" if approve else "decline")
        return urlparse(done["return_url"]).path, {}

    def approve_only(self, attempt):
        self._journey(attempt, "approve")

    def authorize_only(self):
        """Approved v2 authorizations are authorized, never captured at once."""

    def decline_return(self, attempt):
        return urlparse(return_url(attempt)).path, {}

    def forged_return(self, attempt):
        return urlparse(return_url(attempt)).path, {"payment_request_id": "krn:payment:eu1:request:forged"}

    def message(self, attempt, *, forged=False):
        body = json.dumps({"metadata": {"event_id": f"evt-{attempt.reference}", "event_version": "v2",
                                        "event_type": "payment.request.state-change.completed"},
                           "payload": {"payment_request_id": attempt.provider_reference,
                                       "state": "COMPLETED"}}).encode()
        key = "not-our-key" if forged else settings.KLARNA_AUTHORIZE_SIGNING_KEY
        return "/payments/webhooks/klarna_authorize/", body, {"Klarna-Signature": klarna_v2_signatures.sign(key, body)}


DRIVERS = {driver.route: driver for driver in (NextDriver, KlarnaPaymentsDriver, KlarnaAuthorizeDriver,
                                                   MultiSafepayDriver)}


def caps(driver):
    return get_adapter(driver.route).capabilities


def start(driver, order=None):
    return payment_start(order=order or make_order(), route=driver.route)


def pay(driver, client, order=None):
    attempt = start(driver, order)
    path, data = driver.decide(attempt, approve=True)
    response = client.post(path, data)
    assert response.status_code == 303 and "/thanks/" in response["Location"], response.content[:300]
    attempt.refresh_from_db()
    assert attempt.status in SUCCESSFUL
    return attempt


def transitions(attempt):
    return PaymentEvent.objects.filter(attempt=attempt, kind="transition").count()
