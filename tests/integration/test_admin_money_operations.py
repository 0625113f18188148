"""Capture and refund typed in currency in admin reach the provider as the exact minor units (issue 8,
items 7 and 9), against the Klarna emulator: '12.90' is read back on a confirmation page, then
captured as 1290, and nothing is sent before the merchant confirms. One confirmation form acts once
(probe B, defects 2 and 9): posted again, one after the other or at the same moment, it refunds nothing
more and says what the first did."""

import pytest
from django.urls import reverse

from payments.exceptions import AlreadyConfirmed
from payments.models import PaymentOperation
from payments.services.confirmations import new_confirmation_key
from payments.services.order_management import OperationRefused, payment_capture, payment_refund
from payments.states import Status
from tests.integration.admin_forms import confirm, confirmation_key, post_at_once
from tests.integration.concurrency import at_once
from tests.integration.klarna_flow import pay_with_klarna

pytestmark = pytest.mark.django_db(transaction=True)


def klarna_order(emulator, attempt):
    return next(o for o in emulator.control("GET", "/_emulator/klarna/orders")["orders"]
                if o["order_id"] == attempt.provider_reference)


def test_typed_capture_and_refund_reach_klarna_as_exact_minor_units(emulator, client, admin_client):
    attempt = pay_with_klarna(emulator, client)
    assert attempt.status == Status.AUTHORIZED
    capture_url = reverse("admin:payments_paymentattempt_operation", args=[attempt.pk, "capture"])

    review = admin_client.post(capture_url, {"amount": "12.90", "tracking_number": "TRK7", "carrier": "DHL"})
    assert "Capture €\u00a012.90 of provider order" in review.content.decode()
    assert klarna_order(emulator, attempt)["captured_amount"] == 0 and not PaymentOperation.objects.exists()

    confirm(admin_client, capture_url, {"amount": "12.90", "tracking_number": "TRK7", "carrier": "DHL"})
    attempt.refresh_from_db()
    assert attempt.captured_amount == 1290 and klarna_order(emulator, attempt)["captured_amount"] == 1290

    refund_url = reverse("admin:payments_paymentattempt_operation", args=[attempt.pk, "refund"])
    confirm(admin_client, refund_url, {"amount": "0,29", "description": ""})  # 0.29: no float
    attempt.refresh_from_db()
    assert attempt.refunded_amount == 29 and klarna_order(emulator, attempt)["refunded_amount"] == 29
    page = admin_client.get(reverse("admin:payments_paymentattempt_change", args=[attempt.pk])).content.decode()
    assert "€\u00a012.90" in page and "€\u00a00.29" in page


def test_a_refund_whose_answer_is_lost_is_not_called_refused(emulator, client, admin_client):
    """Probe B defect 8: Klarna refunded, then answered 503, and its order cannot be read back right now.
    Admin says the outcome is unknown and will be checked; the operation stays pending, nothing is
    recorded as a rejection."""
    attempt = pay_with_klarna(emulator, client)
    confirm(admin_client, reverse("admin:payments_paymentattempt_operation", args=[attempt.pk, "capture"]),
            {"amount": "", "tracking_number": "", "carrier": ""})
    emulator.control("POST", "/_emulator/faults", json={"method": "POST", "path": "/klarna/ordermanagement/v1/orders",
                                                        "kind": "error", "status": 503, "times": 10, "when": "after"})
    emulator.control("POST", "/_emulator/faults", json={"method": "GET", "path": "/klarna/ordermanagement/",
                                                        "kind": "error", "status": 503, "times": 50})
    refund_url = reverse("admin:payments_paymentattempt_operation", args=[attempt.pk, "refund"])
    page = confirm(admin_client, refund_url, {"amount": "5.00", "description": ""}, follow=True).content.decode()
    assert "outcome is unknown" in page and "refused" not in page
    op = PaymentOperation.objects.get(kind="refund")
    assert op.result == PaymentOperation.Result.PENDING
    assert not attempt.events.filter(kind="rejected").exists()
    assert klarna_order(emulator, attempt)["refunded_amount"] == 500


def test_the_summary_says_could_not_be_read_only_when_a_read_failed(emulator, client, admin_client):
    """Probe B defect 10: "the provider could not be read" was shown wherever our books were used, also
    where no read was tried (a payment that is not held)."""
    from payments.services.payment_start import payment_start
    from tests.factories import make_order

    attempt = pay_with_klarna(emulator, client)
    change = reverse("admin:payments_paymentattempt_change", args=[attempt.pk])
    page = admin_client.get(change).content.decode()
    assert "left to capture." in page and "from our books" not in page
    waiting = payment_start(order=make_order(), route="klarna_payments")  # the shopper is still in the widget
    page = admin_client.get(reverse("admin:payments_paymentattempt_change", args=[waiting.pk])).content.decode()
    assert "(from our books)" in page and "could not be read" not in page
    emulator.control("POST", "/_emulator/faults", json={"method": "GET", "path": "/klarna/ordermanagement/",
                                                        "kind": "error", "status": 503, "times": 50})
    assert "the provider could not be read" in admin_client.get(change).content.decode()


def test_a_refund_whose_answer_is_lost_but_shows_on_klarnas_order_is_done(emulator, client, admin_client):
    attempt = pay_with_klarna(emulator, client)
    confirm(admin_client, reverse("admin:payments_paymentattempt_operation", args=[attempt.pk, "capture"]),
            {"amount": "", "tracking_number": "", "carrier": ""})
    emulator.control("POST", "/_emulator/faults", json={"method": "POST", "path": "/klarna/ordermanagement/v1/orders",
                                                        "kind": "error", "status": 503, "times": 10, "when": "after"})
    refund_url = reverse("admin:payments_paymentattempt_operation", args=[attempt.pk, "refund"])
    page = confirm(admin_client, refund_url, {"amount": "5.00", "description": ""}, follow=True).content.decode()
    assert "its order read back shows it done" in page and "refused" not in page
    attempt.refresh_from_db()
    assert attempt.refunded_amount == 500 and attempt.status == Status.PARTIALLY_REFUNDED


def refund_posts(emulator):
    return [r for r in emulator.control("GET", "/_emulator/requests?provider=klarna")["requests"]
            if r["method"] == "POST" and r["path"].endswith("/refunds")]


@pytest.fixture
def captured(emulator, client):
    attempt = pay_with_klarna(emulator, client)
    payment_capture(attempt_id=attempt.pk)
    attempt.refresh_from_db()
    assert attempt.status == Status.CAPTURED
    return attempt


def refund_form(admin_client, attempt, amount):
    """The refund's confirmation page for `amount`, as the POST its Confirm button sends."""
    url = reverse("admin:payments_paymentattempt_operation", args=[attempt.pk, "refund"])
    review = admin_client.post(url, {"amount": amount, "description": ""})
    assert review.status_code == 200 and confirmation_key(review)
    return url, {"amount": amount, "description": "", "confirmed": "1", "confirmation": confirmation_key(review)}


def test_the_same_confirmed_refund_posted_twice_refunds_once_and_says_so(emulator, captured, admin_client):
    url, form = refund_form(admin_client, captured, "5.00")
    first = admin_client.post(url, form, follow=True).content.decode()
    second = admin_client.post(url, form, follow=True).content.decode()
    assert klarna_order(emulator, captured)["refunded_amount"] == 500 and len(refund_posts(emulator)) == 1
    assert captured.operations.filter(kind="refund").count() == 1
    assert f"Refund: payment {captured.reference}: done." in first
    assert "this form was already confirmed" in second and "refund of €\u00a05.00, done" in second
    assert "refused" not in second and "Nothing was sent again." in second


def test_two_confirmation_pages_refund_twice(emulator, captured, admin_client):
    url, one = refund_form(admin_client, captured, "5.00")
    _, two = refund_form(admin_client, captured, "5.00")
    admin_client.post(url, one)
    admin_client.post(url, two)
    assert klarna_order(emulator, captured)["refunded_amount"] == 1000 and len(refund_posts(emulator)) == 2
    captured.refresh_from_db()
    assert captured.refunded_amount == 1000


def test_a_confirmed_post_without_the_forms_key_runs_nothing(emulator, captured, admin_client):
    url, form = refund_form(admin_client, captured, "5.00")
    again = admin_client.post(url, {**form, "confirmation": "forged"})
    assert again.status_code == 200 and "Refund €\u00a05.00 of provider order" in again.content.decode()
    assert confirmation_key(again) not in ("", form["confirmation"])  # a fresh form to confirm
    assert not refund_posts(emulator) and not captured.operations.filter(kind="refund").exists()


def test_concurrent_twins_of_one_confirmed_refund_refund_once(emulator, captured, admin_client, admin_user,
                                                            postgres):
    url, form = refund_form(admin_client, captured, "5.00")
    # Klarna holds each refund back, so the twin arrives while the first is still at the provider.
    emulator.control("POST", "/_emulator/faults", json={"method": "POST", "path": "/klarna/ordermanagement/",
                                                        "kind": "latency", "latency_ms": 600, "times": 2})
    pages = post_at_once(url, form, admin_user)
    assert len(pages) == 2
    assert len(refund_posts(emulator)) == 1 and klarna_order(emulator, captured)["refunded_amount"] == 500
    assert captured.operations.filter(kind="refund").count() == 1
    assert sum("this form was already confirmed" in page for page in pages) == 1
    assert sum(f"Refund: payment {captured.reference}: done." in page for page in pages) == 1


def refunds_at_once(emulator, attempt, keys):
    """payment_refund of 5.00 from two threads (own connections) at the same moment, under `keys`, while
    Klarna holds each refund back: what each one ended with."""
    emulator.control("POST", "/_emulator/faults", json={"method": "POST", "path": "/klarna/ordermanagement/",
                                                        "kind": "latency", "latency_ms": 600, "times": 2})

    def refund(key):
        try:
            payment_refund(attempt_id=attempt.pk, amount=500, confirmation=key)
            return "done"
        except (AlreadyConfirmed, OperationRefused) as exc:
            return f"{type(exc).__name__}: {exc}"

    return sorted(at_once(*[lambda key=key: refund(key) for key in keys]))


def test_twins_of_one_form_meet_under_the_attempts_lock(emulator, captured, postgres):
    key = new_confirmation_key()
    twin, done = refunds_at_once(emulator, captured, [key, key])
    assert done == "done" and twin.startswith("AlreadyConfirmed: this form was already confirmed")
    assert len(refund_posts(emulator)) == 1 and captured.operations.get(kind="refund").confirmation_key == key


def test_two_forms_at_the_same_moment_run_one_at_a_time(emulator, captured, postgres):
    # The second waits for the first to be answered, so its limits are checked on what the provider has
    # then, not on a read from before the first refund.
    refused, done = refunds_at_once(emulator, captured, [new_confirmation_key(), new_confirmation_key()])
    assert done == "done" and refused.startswith("OperationRefused: a refund of this payment is still running")
    assert len(refund_posts(emulator)) == 1 and captured.operations.filter(kind="refund").count() == 1


def test_a_second_capture_is_told_the_order_is_already_captured(emulator, client):
    attempt = pay_with_klarna(emulator, client)
    payment_capture(attempt_id=attempt.pk, amount=attempt.amount)
    # What a twin whose page was read before the first capture landed asks for.
    with pytest.raises(OperationRefused, match=r"already captured \(€\u00a0\d+\.\d\d\)"):
        payment_capture(attempt_id=attempt.pk, amount=attempt.amount)
    assert attempt.operations.count() == 1
