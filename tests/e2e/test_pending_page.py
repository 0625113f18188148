"""The page a shopper waits on while Klarna reviews a payment: axe-core clean, polite polling, no meta refresh."""
import pytest

from payments.models import PaymentAttempt
from payments.states import Status, transition
from shop.links import order_url
from tests.factories import make_order

pytestmark = pytest.mark.django_db(transaction=True)


def test_review_page_is_accessible_and_shows_the_outcome_by_itself(page, live_server):
    from axe_playwright_python.sync_playwright import Axe

    order = make_order(email="rev+pending@example.com")
    attempt = PaymentAttempt.objects.create(order=order, route="klarna_payments", amount=order.total, currency="EUR",
                                            status="pending", provider_reference="kp-review-1")
    page.goto(live_server.url + order_url(order, "shop:order_confirmation"))
    assert "Klarna is reviewing your payment" in page.content()
    assert page.locator('meta[http-equiv="refresh"]').count() == 0
    results = Axe().run(page)
    serious = [(v["id"], v["impact"]) for v in results.response["violations"] if v["impact"] in ("critical", "serious")]
    assert serious == []
    # Klarna decides; the page notices on its next check (3 s, then backing off) and shows the result.
    transition(attempt.pk, Status.AUTHORIZED, source="webhook", message="review accepted")
    page.wait_for_selector("text=Your payment was received", timeout=12000)
    assert page.locator("#order-wait").count() == 0
