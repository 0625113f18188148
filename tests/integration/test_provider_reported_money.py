"""What the provider reports about a payment after the shop's part is done (probe G F2): a success the
state machine refuses changes nothing on the payment."""
import pytest

from payments.models import PaymentAttempt, PaymentEvent
from payments.providers.registry import get_adapter
from payments.providers.types import ProviderPayment
from payments.services import order_management as om
from payments.services.payment_confirm import payment_confirm
from payments.services.payment_start import payment_start
from payments.states import Status
from shop.models import Order
from tests.factories import make_order
from tests.integration.multisafepay_flow import decide, notification

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def paid(emulator, client):
    """An authorised MultiSafepay order of 54.95; notifications only when the test posts them."""
    emulator.control("POST", "/_emulator/webhooks/mode", {"mode": "drop"})
    attempt = payment_start(order=make_order(route="multisafepay"), route="multisafepay")
    path, query = decide(emulator, attempt, "approve")
    client.get(f"{path}?{query}")
    attempt.refresh_from_db()
    assert attempt.status == Status.AUTHORIZED and attempt.amount == 5495
    return attempt


@pytest.fixture
def shipped(paid):
    om.payment_capture(attempt_id=paid.pk)
    paid.refresh_from_db()
    assert paid.status == Status.CAPTURED and paid.captured_amount == 5495
    return paid


def notify(client, attempt):
    """MultiSafepay's signed notification about the order (the shop reads the order back to learn what)."""
    path, body, headers = notification(attempt)
    answer = client.post(path, body, content_type="application/json", headers=headers)
    assert answer.status_code == 200 and answer.content == b"OK"
    attempt.refresh_from_db()
    return attempt


def force(emulator, attempt, status, financial_status=None):
    body = {"status": status, **({"financial_status": financial_status} if financial_status else {})}
    emulator.control("POST", f"/_emulator/multisafepay/orders/{attempt.reference}/status", body)


def refund_at_msp(attempt, amount):
    """A refund the merchant makes in MultiSafepay's Control panel: the provider's refund call itself, with
    nothing booked by the shop (MultiSafepay has no idempotency key, so the key is unused)."""
    get_adapter("multisafepay").refund(attempt.provider_reference, amount=amount, key="control-panel")


@pytest.mark.parametrize("status, financial", [("shipped", "uncleared"), ("completed", "completed")])
def test_a_success_reported_after_the_merchant_cancelled_changes_nothing(emulator, client, paid, status, financial):
    """Probe G F2: the refused cancelled → captured still booked the capture (53.95 captured on a
    cancelled payment)."""
    om.payment_cancel(attempt_id=paid.pk)
    paid.refresh_from_db()
    assert paid.status == Status.CANCELLED
    before = PaymentAttempt.objects.filter(pk=paid.pk).values().get()
    force(emulator, paid, status, financial)

    notify(client, paid)
    after = PaymentAttempt.objects.filter(pk=paid.pk).values().get()
    assert after == before  # captured_amount 0, expiry and everything else as they were
    assert paid.order.status == Order.Status.CANCELLED
    refusal = paid.events.order_by("id").last()
    assert refusal.kind == PaymentEvent.Kind.IGNORED and refusal.to_status == Status.CAPTURED
    assert "is not allowed" in refusal.message


def test_a_refused_success_learns_nothing_whatever_the_route_reports(emulator):
    """The same, route-neutral: a provider read-back with figures, applied to a cancelled attempt."""
    attempt = PaymentAttempt.objects.create(order=make_order(route="next"), route="next", amount=5395,
                                            currency="EUR", status=Status.CANCELLED, reference="pa_refused",
                                            provider_reference="SO-1")
    payment = ProviderPayment(provider_reference="SO-1", status="captured", amount=5395, currency="EUR",
                              reference="pa_refused", supports_upsell=True, order_total=5395, captured=5395,
                              refunded=0, remaining=0)
    result = payment_confirm(attempt_id=attempt.pk, payment=payment, source="test")
    assert not result.changed
    attempt.refresh_from_db()
    assert attempt.status == Status.CANCELLED and attempt.captured_amount == 0
    assert not attempt.provider_supports_upsell
