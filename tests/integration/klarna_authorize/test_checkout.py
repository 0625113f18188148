"""Klarna Payment Authorize v2 (route klarna_authorize) against the emulator: the three outcomes, finishing
a step-up by return and reconcile, and the issue's list of bad input and faults. Its webhooks:
test_webhooks.py beside it."""
import json
import time
from dataclasses import replace
from urllib.parse import urlparse

import pytest

from payments.exceptions import PaymentDeclined, ProviderRequestError
from payments.models import PaymentAttempt
from payments.providers.registry import get_adapter
from payments.providers.types import APPROVED
from payments.services.inbound import attempt_from_token
from payments.services.payment_confirm import payment_confirm
from payments.services.payment_start import checkout_request, payment_start, return_url
from payments.services.reconcile import payments_reconcile
from payments.states import SUCCESSFUL, Status
from shop.models import Order
from tests.factories import make_order, make_product
from tests.integration.klarna_authorize_flow import (
    CONTROL,
    ROUTE,
    authorize_calls,
    completed_delivery,
    journey,
    pay_with_step_up,
    post_webhook,
    step_up,
)

pytestmark = pytest.mark.django_db(transaction=True)


# --- outcomes at start ----------------------------------------------------------------------------------
def test_approved_at_once_is_paid_without_any_redirect(klarna):
    attempt = payment_start(order=make_order(email="anna+approved@example.com"), route=ROUTE)
    assert attempt.status == Status.AUTHORIZED
    assert attempt.provider_reference.startswith("krn:payment:eu1:transaction:")
    assert "/thanks/" in attempt.redirect_url and "klarna-global" not in attempt.redirect_url
    assert Order.objects.get(pk=attempt.order_id).status == Order.Status.PAID


def test_declined_at_once_fails_the_attempt_and_says_why(klarna):
    order = make_order(email="anna+denied@example.com")
    with pytest.raises(PaymentDeclined) as declined:
        payment_start(order=order, route=ROUTE)
    assert "try again" in declined.value.shopper_message
    assert PaymentAttempt.objects.get(order=order).status == Status.FAILED


def test_step_up_sends_the_shopper_to_the_payment_request_url_as_given(klarna):
    attempt = step_up(klarna)
    request = klarna.control("GET", f"{CONTROL}/payment-requests")["payment_requests"][0]
    assert attempt.status == Status.PENDING
    assert attempt.redirect_url == request["state_context"]["customer_interaction"]["payment_request_url"]
    assert attempt.provider_reference == request["payment_request_id"]
    assert request["payment_request_reference"] == attempt.reference
    sent = json.loads(authorize_calls(klarna)[0]["body"])
    interaction = sent["step_up_config"]["customer_interaction_config"]
    assert interaction["method"] == "HANDOVER"
    # The signed token carries a timestamp, so compare what it binds rather than the exact string.
    sent_route, sent_token = urlparse(interaction["return_url"]).path.strip("/").split("/")[-2:]
    assert urlparse(interaction["return_url"]).path.rsplit("/", 2)[0] == urlparse(return_url(attempt)).path.rsplit("/", 2)[0]
    assert attempt_from_token(route=sent_route, token=sent_token).pk == attempt.pk
    assert sent["request_payment_transaction"] == {"amount": attempt.amount,
                                                   "payment_transaction_reference": attempt.reference}
    assert "request_customer_token" not in sent  # no subscription in the cart


def test_a_subscription_cart_asks_for_a_customer_token_and_keeps_it(klarna, client):
    beans = make_product(kind="subscription", interval="month", interval_count=1, price=1650, vat_rate_bp=900)
    attempt = pay_with_step_up(klarna, client, make_order(items=[(beans, 1)], shipping_fee=0))
    first, final = authorize_calls(klarna)
    for call in (first, final):
        assert json.loads(call["body"])["request_customer_token"]["scopes"] == ["payment:customer_not_present"]
    assert "step_up_config" not in json.loads(final["body"])
    assert attempt.status == Status.AUTHORIZED
    token = klarna.control("GET", f"{CONTROL}/tokens")["tokens"][0]["customer_token_id"]
    assert attempt.order.subscriptions.get().customer_token == token


def test_v2_error_bodies_become_typed_errors(klarna):
    with pytest.raises(ProviderRequestError) as refused:
        get_adapter(ROUTE).client.authorize({"currency": "euro"}, idempotency_key="bad-body")
    assert refused.value.http_status == 400 and refused.value.code == "VALIDATION_ERROR"
    assert "currency" in str(refused.value) and refused.value.correlation_id


# --- finishing the step-up --------------------------------------------------------------------------------
def test_the_return_finalizes_with_the_session_token_and_the_same_reference(klarna, client):
    attempt = pay_with_step_up(klarna, client)
    assert attempt.status == Status.AUTHORIZED
    first, final = authorize_calls(klarna)
    token = klarna.control("GET", f"{CONTROL}/payment-requests")["payment_requests"][0]["state_context"][
        "klarna_network_session_token"]
    assert final["headers"]["klarna-network-session-token"] == token
    first_body, final_body = json.loads(first["body"]), json.loads(final["body"])
    for key in ("currency", "request_payment_transaction", "supplementary_purchase_data"):
        assert final_body[key] == first_body[key]


def test_reconcile_finalizes_when_the_webhook_and_the_shopper_never_came(klarna):
    attempt = step_up(klarna)
    journey(klarna, attempt)
    payments_reconcile(older_than=0)
    attempt.refresh_from_db()
    assert attempt.status == Status.AUTHORIZED


def test_an_expired_payment_request_closes_the_attempt(klarna):
    attempt = step_up(klarna)
    klarna.advance_clock(seconds=3 * 3600 + 5)
    payments_reconcile(older_than=0)
    attempt.refresh_from_db()
    assert attempt.status == Status.EXPIRED


# --- bad input: finalization must never pay what the shopper did not approve -----------------------------
def test_a_stale_session_token_is_declined_and_the_shopper_may_start_again(klarna, client):
    attempt = step_up(klarna)
    done = journey(klarna, attempt)
    klarna.advance_clock(seconds=61 * 60)  # the token lives one hour
    response = client.get(urlparse(done["return_url"]).path)
    assert response.status_code == 303 and "/payment-failed/" in response["Location"]
    attempt.refresh_from_db()
    assert attempt.status == Status.FAILED
    assert payment_start(order=attempt.order, route=ROUTE).status == Status.PENDING


def test_a_token_from_another_payment_request_is_declined(klarna):
    adapter = get_adapter(ROUTE)
    mine, other = step_up(klarna), step_up(klarna)
    journey(klarna, mine)
    foreign = journey(klarna, other)["klarna_network_session_token"]
    approved = adapter.fetch_payment(mine.provider_reference)
    assert approved.status == APPROVED and not klarna.control("GET", f"{CONTROL}/transactions")["transactions"]
    approved.raw["state_context"]["klarna_network_session_token"] = foreign
    payment = adapter.finish_payment(approved, checkout_request(mine))
    assert payment.status == "failed"
    payment_confirm(attempt_id=mine.pk, payment=payment, source="test")
    mine.refresh_from_db()
    assert mine.status == Status.FAILED
    assert klarna.control("GET", f"{CONTROL}/transactions")["transactions"] == []


def test_a_changed_amount_is_declined_and_never_marks_paid(klarna):
    adapter = get_adapter(ROUTE)
    attempt = step_up(klarna)
    journey(klarna, attempt)
    request = checkout_request(attempt)
    dearer = replace(request, amount=request.amount + 100, shipping_fee=request.shipping_fee + 100)
    payment = adapter.finish_payment(adapter.fetch_payment(attempt.provider_reference), dearer)
    assert payment.status == "failed"
    # Klarna declined the request itself: reading it back never finalizes it any more.
    payments_reconcile(older_than=0)
    attempt.refresh_from_db()
    assert attempt.status == Status.FAILED and attempt.status not in SUCCESSFUL
    assert klarna.control("GET", f"{CONTROL}/transactions")["transactions"] == []


# --- faults -------------------------------------------------------------------------------------------------
def test_an_authorize_that_times_out_is_retried_under_the_same_key_and_charges_once(klarna):
    klarna.control("POST", "/_emulator/faults", json={"method": "POST", "path": "/klarna-global/v2/",
                                                      "kind": "timeout", "when": "after", "seconds": 3, "times": 1})
    attempt = payment_start(order=make_order(email="anna+approved@example.com"), route=ROUTE)
    assert attempt.status == Status.AUTHORIZED
    # The emulator logs the timed-out call only once its (late) answer is written: wait for it.
    deadline = time.monotonic() + 5
    while len(calls := authorize_calls(klarna)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(calls) == 2
    assert len({call["headers"]["klarna-idempotency-key"] for call in calls}) == 1
    assert len(klarna.control("GET", f"{CONTROL}/transactions")["transactions"]) == 1


def test_the_admin_page_of_a_v2_payment_reads_nothing_and_offers_nothing(klarna, client, admin_client):
    """Probe B note and defect 10: viewing the payment in admin sent a finalize (a write) to Klarna on
    every view, and claimed a failed read and money left to capture on a route that captures nothing."""
    from django.urls import reverse

    attempt = pay_with_step_up(klarna, client)
    assert attempt.status == Status.AUTHORIZED
    finalized = len(authorize_calls(klarna, finalizing=True))
    for _ in range(2):
        page = admin_client.get(reverse("admin:payments_paymentattempt_change", args=[attempt.pk])).content.decode()
        assert "offers no order management from the shop" in page
        assert "left to capture" not in page and "could not be read" not in page
    assert len(authorize_calls(klarna, finalizing=True)) == finalized


# --- a replaced attempt: the shop makes the charging call, so it never makes it ----------------------------
def pay_on_29_next(emulator, client, attempt):
    done = emulator.complete_checkout(attempt.redirect_url, "approve")
    assert client.post(urlparse(done["return_url"]).path, {"response": done["response"]}).status_code == 303


def test_an_approval_left_open_in_a_replaced_tab_is_never_finalized(klarna, receiver, client):
    order = make_order()
    first = step_up(klarna, order)                       # tab 1 waits in Klarna's journey
    second = payment_start(order=order, route="next")    # "try again" from the failure page, in tab 2
    pay_on_29_next(klarna, client, second)
    first.refresh_from_db()
    assert first.status == Status.EXPIRED and Order.objects.get(pk=order.pk).status == Order.Status.PAID
    done = journey(klarna, first)                        # back in tab 1, the shopper approves
    response = client.get(urlparse(done["return_url"]).path)
    headers, body = completed_delivery(receiver)
    assert post_webhook(client, body, headers["klarna-signature"]).status_code == 200
    payments_reconcile(older_than=0)
    assert authorize_calls(klarna, finalizing=True) == []
    assert klarna.control("GET", f"{CONTROL}/transactions")["transactions"] == []
    states = {r["payment_request_id"]: r["state"]
              for r in klarna.control("GET", f"{CONTROL}/payment-requests")["payment_requests"]}
    assert states[first.provider_reference] == "CANCELED"  # released at Klarna: the approval ends there too
    first.refresh_from_db()
    assert first.status == Status.EXPIRED and first.duplicate_of is None
    assert first.events.filter(kind="rejected", message__contains="Nothing was charged").exists()
    assert not first.events.filter(message__contains="refund or cancel it at the provider").exists()
    # The old tab lands on the paid order's page, which says it is paid: nothing asks to pay again.
    assert response.status_code == 303
    page = client.get(response["Location"], follow=True)
    assert page.context["order"].is_paid and b"this one was not taken" in page.content


def test_an_approval_in_a_replaced_tab_while_the_new_one_is_open_charges_only_the_new_one(klarna, client):
    order = make_order()
    first = step_up(klarna, order)
    second = step_up(klarna, order)                      # retried on the same route: tab 2 opens a new journey
    done = journey(klarna, first)                        # the shopper approves the old journey first
    page = client.get(urlparse(done["return_url"]).path, follow=True)
    assert b"this one was not taken" in page.content  # and the failure page offers to pay again
    first.refresh_from_db()
    assert first.status == Status.EXPIRED and Order.objects.get(pk=order.pk).status == Order.Status.PENDING
    assert authorize_calls(klarna, finalizing=True) == []
    done = journey(klarna, second)
    client.get(urlparse(done["return_url"]).path)
    second.refresh_from_db()
    assert second.status == Status.AUTHORIZED
    assert len(klarna.control("GET", f"{CONTROL}/transactions")["transactions"]) == 1
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID


def test_reconcile_reads_a_replaced_approval_but_never_finalizes_it(klarna):
    order = make_order()
    first = step_up(klarna, order)
    payment_start(order=order, route="next")  # replaced; the shopper approves tab 1 and closes it
    journey(klarna, first)
    payments_reconcile(older_than=0)
    first.refresh_from_db()
    assert first.status == Status.EXPIRED and authorize_calls(klarna, finalizing=True) == []
    assert klarna.control("GET", f"{CONTROL}/transactions")["transactions"] == []
    assert Order.objects.get(pk=order.pk).status == Order.Status.PENDING


def test_a_replaced_approval_klarna_will_not_cancel_is_reported_once_and_never_finalized(klarna):
    order = make_order()
    first = step_up(klarna, order)
    payment_start(order=order, route="next")
    journey(klarna, first)
    klarna.control("POST", "/_emulator/faults", json={"method": "DELETE", "path": "/klarna-global/", "kind": "error",
                                                      "status": 409})
    for _ in range(3):  # reconcile runs every few minutes: it reads the approval again each time
        payments_reconcile(older_than=0)
    deletes = [r for r in klarna.control("GET", "/_emulator/requests?provider=klarna_global")["requests"]
               if r["method"] == "DELETE"]
    assert len(deletes) == 1 and authorize_calls(klarna, finalizing=True) == []
    assert first.events.filter(kind="rejected", message__contains="not finished").count() == 1
    first.refresh_from_db()
    assert first.status == Status.EXPIRED


def test_a_retry_while_the_old_tab_finalizes_waits_and_finds_the_order_paid(klarna, client, postgres):
    import threading

    from django.db import connection

    from payments.exceptions import OrderAlreadyPaid

    order = make_order()
    first = step_up(klarna, order)
    done = journey(klarna, first)
    klarna.control("POST", "/_emulator/faults", json={"method": "POST", "path": "/klarna-global/", "kind": "latency",
                                                      "latency_ms": 800})
    outcome = {}

    def old_tab_returns():
        try:
            outcome["return"] = client.get(urlparse(done["return_url"]).path).status_code
        finally:
            connection.close()

    tab = threading.Thread(target=old_tab_returns)
    tab.start()
    time.sleep(0.3)  # Klarna is answering the finalization: the order's retry page is clicked now
    with pytest.raises(OrderAlreadyPaid):
        payment_start(order=order, route="next")
    tab.join()
    first.refresh_from_db()
    assert outcome["return"] == 303 and first.status == Status.AUTHORIZED
    assert PaymentAttempt.objects.filter(order=order).count() == 1
    assert len(klarna.control("GET", f"{CONTROL}/transactions")["transactions"]) == 1


# --- a lost answer to the start (probe F F2) ----------------------------------------------------------------

def lose_authorize_answers(klarna):
    """Klarna approves the authorize, but no answer reaches the shop (every retry's answer lost too)."""
    klarna.control("POST", "/_emulator/faults", json={"method": "POST", "path": "/klarna-global/v2/accounts/",
                                                      "kind": "error", "status": 503, "when": "after", "times": 20})


def klarna_transactions(klarna):
    return klarna.control("GET", f"{CONTROL}/transactions")["transactions"]


def test_a_lost_answer_to_an_approval_at_once_is_not_called_failed_and_the_retry_charges_nothing_more(klarna):
    from payments.exceptions import OrderAlreadyPaid, StartAnswerLost

    order = make_order(email="anna+approved@example.com")
    lose_authorize_answers(klarna)
    with pytest.raises(StartAnswerLost) as lost:
        payment_start(order=order, route=ROUTE)
    assert "Nothing was charged" not in lost.value.shopper_message
    attempt = PaymentAttempt.objects.get()
    assert attempt.status == Status.CREATED  # not failed: Klarna may have approved it
    assert len(klarna_transactions(klarna)) == 1
    klarna.control("DELETE", "/_emulator/faults")
    # The shopper presses "try again": the unanswered authorize is sent again under its key first, Klarna
    # replays its approval, and the order turns out paid. No second authorization.
    with pytest.raises(OrderAlreadyPaid):
        payment_start(order=order, route=ROUTE)
    attempt.refresh_from_db()
    assert attempt.status == Status.AUTHORIZED and PaymentAttempt.objects.count() == 1
    assert len(klarna_transactions(klarna)) == 1
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID


def test_a_lost_answer_to_the_start_is_learned_by_reconcile(klarna):
    from payments.exceptions import StartAnswerLost

    order = make_order(email="anna+approved@example.com")
    lose_authorize_answers(klarna)
    with pytest.raises(StartAnswerLost):
        payment_start(order=order, route=ROUTE)
    klarna.control("DELETE", "/_emulator/faults")
    assert payments_reconcile(older_than=0).settled == 1
    attempt = PaymentAttempt.objects.get()
    assert attempt.status == Status.AUTHORIZED and len(klarna_transactions(klarna)) == 1
    assert payments_reconcile(older_than=0).checked == 0  # settled: not sent again


def test_a_start_in_flight_that_another_retry_finds_under_the_lock_is_never_superseded(klarna, monkeypatch):
    """Probe G F4: two "Try again" at the same moment. The second looked for unanswered starts before the first
    committed its attempt, then found it under the order's lock, superseded it while its authorize was still
    on its way, and sent another: Klarna approved the order twice, which the shop cannot undo. Found under the
    lock, such a start is now sent again under its own key first (Klarna replays it), never superseded."""
    from payments.exceptions import OrderAlreadyPaid, StartAnswerLost
    from payments.services import payment_start as starts

    order = make_order(email="anna+approved@example.com")
    lose_authorize_answers(klarna)  # the first request's authorize: approved at Klarna, its answer still away
    with pytest.raises(StartAnswerLost):
        payment_start(order=order, route=ROUTE)
    klarna.control("DELETE", "/_emulator/faults")
    in_flight = PaymentAttempt.objects.get()
    assert in_flight.status == Status.CREATED
    # The second request looked before the first one's attempt was there.
    monkeypatch.setattr(starts, "unanswered_starts", lambda order_id: [])
    with pytest.raises(OrderAlreadyPaid):
        payment_start(order=order, route=ROUTE)
    in_flight.refresh_from_db()
    assert in_flight.status == Status.AUTHORIZED and PaymentAttempt.objects.count() == 1
    assert len(klarna_transactions(klarna)) == 1


def test_a_changed_cart_after_a_lost_answer_learns_it_before_another_order_is_charged(klarna, client):
    """Probe A: the authorize of a checkout was approved at Klarna but its answer was lost; the shopper, told
    the outcome is not known yet, went back, added a mug and checked out again. The changed cart became a
    new order (the first keeps its contents) and was approved too, and reconcile then found the first one
    approved: two paid orders, the candle bought twice, neither a duplicate the shop would undo (and Klarna
    v2 payments cannot be undone from the shop). The first start's answer is now learned, under its own key,
    before another order is placed: it was approved, so its order is paid and the shopper is sent to it."""
    import re

    from django.urls import reverse

    from tests.integration.storefront.helpers import add, checkout_data

    def checkout(email):
        html = client.get(reverse("shop:checkout")).content.decode()
        page = dict(re.findall(r'<input type="hidden" name="(shown_total|submission)" value="([^"]*)"', html))
        return client.post(reverse("shop:checkout"), {**checkout_data(route=ROUTE, email=email), **page})

    add(client, make_product(price=2450))
    lose_authorize_answers(klarna)
    first = checkout("anna+approved@example.com")
    assert first.status_code == 303
    order = Order.objects.get()
    assert PaymentAttempt.objects.get().status == Status.CREATED  # approved at Klarna, not known here
    klarna.control("DELETE", "/_emulator/faults")

    add(client, make_product(price=1850))
    second = checkout("anna+approved@example.com")
    assert second.status_code == 303
    assert Order.objects.count() == 1, "a second order was placed while the first one's payment was unknown"
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert len(klarna_transactions(klarna)) == 1
    assert order.number in second["Location"]  # to that order, whose pages say it is paid


def test_an_order_whose_shopper_is_still_at_klarna_is_not_said_to_be_in_review(klarna, client):
    """Probe A: the payment request id the step-up names made the order's page say "Awaiting Klarna's review"
    and its confirmation page "Klarna is reviewing your payment ... no need to pay again" while the shopper had
    not approved anything yet (v2 has no review: a request is open at Klarna, or decided)."""
    from shop.links import order_url

    attempt = step_up(klarna)
    assert attempt.status == Status.PENDING and attempt.provider_reference
    html = client.get(order_url(attempt.order)).content.decode()
    assert 'id="order-status">Awaiting payment<' in html and "review" not in html
    assert "Klarna is reviewing" not in client.get(order_url(attempt.order, "shop:order_confirmation")).content.decode()
