"""Steps shared by the Klarna Payments upsell tests: Klarna's order as the emulator holds it, whether it holds
what the shop booked, and the merchant's capture from admin."""
from payments.models import Upsell


def klarna_order_of(emulator, attempt) -> dict:
    return next(o for o in emulator.control("GET", "/_emulator/klarna/orders")["orders"]
                if o["order_id"] == attempt.provider_reference)


def assert_klarna_holds_what_the_shop_booked(emulator, order, attempt):
    order.refresh_from_db()
    klarna = klarna_order_of(emulator, attempt)
    at_klarna = {line["reference"] for line in klarna["order_lines"]}
    booked = {upsell.reference for upsell in Upsell.objects.filter(order=order) if upsell.state == "added"}
    assert booked <= at_klarna
    assert klarna["order_amount"] == order.total


def capture_from_admin(admin_client, attempt) -> str:
    """The merchant's "Capture" (everything left) from the payment's page: the messages the page then shows."""
    import re

    from django.urls import reverse

    from tests.integration.admin_forms import confirm

    url = reverse("admin:payments_paymentattempt_operation", args=[attempt.pk, "capture"])
    page = confirm(admin_client, url, {"amount": "", "tracking_number": "", "carrier": ""}, follow=True)
    return " ".join(re.findall(r'<li class="(?:success|error|warning|info)">(.*?)</li>', page.content.decode(), re.S))


def after_the_first_read(monkeypatch, meanwhile) -> list:
    """Klarna's order is read as usual, and right after the first read `meanwhile()` runs: what happens at that
    moment elsewhere (a merchant's click, an upsell's worker). Returns the list that then holds None and what
    `meanwhile` returned (None alone while it runs)."""
    from payments.providers.klarna_payments.client import KlarnaClient

    read_order, happened = KlarnaClient.read_order, []

    def read_then(self, order_id):
        answer = read_order(self, order_id)
        if not happened:
            happened.append(None)
            happened.append(meanwhile())
        return answer

    monkeypatch.setattr(KlarnaClient, "read_order", read_then)
    return happened
