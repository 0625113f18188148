"""What the provider reports about a payment after the shop's part is done (probe G F2, F3): a success the
state machine refuses changes nothing on the payment, and refunds made at the provider (its dashboard) or
taken back by the shopper's bank (a chargeback) are booked as the shop's own refunds are, once."""
import pytest
from django.urls import reverse

from payments.models import PaymentAttempt, PaymentEvent
from payments.providers.registry import get_adapter
from payments.providers.types import Operation, ProviderPayment
from payments.services import order_management as om
from payments.services.payment_confirm import payment_confirm
from payments.services.payment_start import payment_start
from payments.states import Status
from shop.models import Order
from tests.factories import make_order
from tests.integration.multisafepay_flow import decide, msp_orders, notification
from tests.integration.test_dashboard import card

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


def test_a_refund_made_at_msp_is_booked_and_admin_offers_only_the_rest(emulator, client, shipped):
    """Probe G F3: a € 20 refund in MultiSafepay's Control panel moved the payment to partially refunded
    with nothing booked as refunded."""
    refund_at_msp(shipped, 2000)
    notify(client, shipped)
    assert shipped.status == Status.PARTIALLY_REFUNDED
    assert shipped.refunded_amount == 2000 and shipped.captured_amount == 5495

    assert om.operations_allowed(shipped) == [Operation.REFUND]
    with pytest.raises(om.OperationRefused, match="more than the"):
        om.payment_refund(attempt_id=shipped.pk, amount=3496)
    om.payment_refund(attempt_id=shipped.pk, amount=3495)  # the rest, from admin
    shipped.refresh_from_db()
    assert shipped.status == Status.REFUNDED and shipped.refunded_amount == 5495
    assert msp_orders(emulator)[shipped.reference]["amount_refunded"] == 5495

    # The notification of the shop's own refund: already in MultiSafepay's total, not counted again.
    notify(client, shipped)
    assert shipped.refunded_amount == 5495 and om.operations_allowed(shipped) == []


def test_a_second_refund_at_msp_is_booked_on_a_partly_refunded_payment(emulator, client, shipped):
    om.payment_refund(attempt_id=shipped.pk, amount=1000)  # the shop's own
    refund_at_msp(shipped, 2000)
    notify(client, shipped)
    assert shipped.status == Status.PARTIALLY_REFUNDED and shipped.refunded_amount == 3000


def test_a_read_back_never_books_less_than_the_shops_own_refunds(db):
    """A read-back older than the shop's latest refund (its notification late) leaves the books as they are;
    a newer total is booked, as a route that reports its refunds as totals (29 Next) sends them."""
    attempt = PaymentAttempt.objects.create(order=make_order(route="next"), route="next", amount=5395,
                                            currency="EUR", status=Status.PARTIALLY_REFUNDED, reference="pa_books",
                                            provider_reference="SO-2", captured_amount=5395, refunded_amount=3000)

    def read_back(refunded):
        return ProviderPayment(provider_reference="SO-2", status="partially_refunded", amount=5395, currency="EUR",
                               reference="pa_books", order_total=5395, captured=5395, refunded=refunded, remaining=0)

    payment_confirm(attempt_id=attempt.pk, payment=read_back(1000), source="test")
    attempt.refresh_from_db()
    assert attempt.refunded_amount == 3000
    payment_confirm(attempt_id=attempt.pk, payment=read_back(4000), source="test")
    attempt.refresh_from_db()
    assert attempt.refunded_amount == 4000 and attempt.status == Status.PARTIALLY_REFUNDED


def test_a_chargeback_books_the_whole_payment_as_taken_back_and_offers_no_refund(emulator, client, shipped,
                                                                                 admin_client):
    """Probe G F3: a chargeback left the payment refunded with 0 refunded, counted as revenue, and admin
    offered a refund MultiSafepay refused (1034)."""
    force(emulator, shipped, "chargedback", "chargedback")
    notify(client, shipped)
    assert shipped.status == Status.REFUNDED
    assert shipped.refunded_amount == shipped.captured_amount == 5495
    assert shipped.events.filter(kind="note", message__startswith="Charged back by the shopper's bank").count() == 1

    assert om.operations_allowed(shipped) == []
    with pytest.raises(om.OperationRefused):
        om.payment_refund(attempt_id=shipped.pk, amount=100)
    sent = emulator.control("GET", "/_emulator/requests?provider=multisafepay")["requests"]
    assert not [r for r in sent if r["path"].endswith("/refunds")]  # refused by the shop, not by MSP

    notify(client, shipped)  # told again: one note, the same books
    assert shipped.refunded_amount == 5495
    assert shipped.events.filter(kind="note", message__startswith="Charged back").count() == 1

    html = admin_client.get(reverse("admin:index")).content.decode()
    assert card(html, "Orders paid")[0] == "1"
    assert card(html, "Revenue net of refunds (EUR)")[0] == "€\u00a00.00"
    assert card(html, "Refunded (EUR)")[0] == "€\u00a054.95"


def test_a_refund_made_at_klarna_is_booked_from_its_read_back(emulator, client):
    """Klarna's order management keeps the order CAPTURED after a refund and reports it only in
    `refunded_amount`: the read-back books it and the payment shows it, as after an admin refund."""
    from tests.integration.klarna_flow import pay_with_klarna

    attempt = pay_with_klarna(emulator, client)
    om.payment_capture(attempt_id=attempt.pk)
    adapter = get_adapter("klarna_payments")
    adapter.refund(attempt.provider_reference, amount=2000, key="merchant-portal-refund")  # in Klarna's portal
    payment = adapter.fetch_payment(attempt.provider_reference)
    assert payment.status == "captured" and payment.refunded == 2000

    payment_confirm(attempt_id=attempt.pk, payment=payment, source="reconcile")
    attempt.refresh_from_db()
    assert attempt.status == Status.PARTIALLY_REFUNDED and attempt.refunded_amount == 2000
    assert attempt.captured_amount == attempt.amount
    assert not attempt.events.filter(kind=PaymentEvent.Kind.IGNORED).exists()
