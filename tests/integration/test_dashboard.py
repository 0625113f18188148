"""The admin dashboard: numbers against known rows, links that open the rows behind them, constant queries."""
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from payments.models import PaymentAttempt, Subscription, Upsell, WebhookDelivery
from shop.models import Order, UpsellOffer
from tests.factories import ADDRESS, make_order, make_product

pytestmark = pytest.mark.django_db


def bulk_orders(n, *, status="paid", total=1000):
    orders = [Order(number=f"SO-B{i:08d}", status=status, route="next", currency="EUR", subtotal=total,
                    shipping_fee=0, tax_total=0, total=total, **ADDRESS) for i in range(n)]
    Order.objects.bulk_create(orders, batch_size=2000)
    created = list(Order.objects.filter(number__startswith="SO-B").order_by("pk"))  # with their ids, on any database
    PaymentAttempt.objects.bulk_create(
        [PaymentAttempt(order=o, route="next" if i % 2 else "klarna_payments", amount=total, currency="EUR",
                        status="captured", reference=f"bulk-{i}") for i, o in enumerate(created)], batch_size=2000)
    return created


@pytest.fixture
def known_rows():
    """3 paid orders on next (one also shown upsells), 1 failed with a reason, 1 stuck, 1 expiring soon."""
    now = timezone.now()
    paid = [make_order(route="next") for _ in range(3)]
    Order.objects.filter(pk__in=[o.pk for o in paid]).update(status="paid")
    for order in paid:
        PaymentAttempt.objects.create(order=order, route="next", amount=order.total, currency="EUR", status="captured",
                                      provider_supports_upsell=order is paid[0])
    failed = make_order(route="klarna_payments")
    PaymentAttempt.objects.create(order=failed, route="klarna_payments", amount=failed.total, currency="EUR",
                                  status="failed", failure_reason="Declined by Klarna")
    stuck = PaymentAttempt.objects.create(order=make_order(), route="next", amount=100, currency="EUR", status="pending")
    PaymentAttempt.objects.filter(pk=stuck.pk).update(created_at=now - timedelta(hours=2))
    PaymentAttempt.objects.create(order=make_order(route="klarna_payments"), route="klarna_payments", amount=100,
                                  currency="EUR", status="authorized", authorization_expires_at=now + timedelta(days=3))
    WebhookDelivery.objects.create(provider="next", state="rejected", body="{}")
    WebhookDelivery.objects.create(provider="next", state="applied", body="{}", signature_valid=True)
    Subscription.objects.create(route="next", provider_id="1", order=paid[0], email="a@example.com", interval="month",
                                interval_count=1, amount=1650, currency="EUR", status="active")
    Subscription.objects.create(route="next", provider_id="2", order=paid[1], email="a@example.com", interval="year",
                                interval_count=1, amount=12000, currency="EUR", status="active")
    Subscription.objects.create(route="next", provider_id="3", order=paid[2], email="a@example.com", interval="month",
                                interval_count=1, amount=999, currency="EUR", status="past_due")
    offer = UpsellOffer.objects.create(name="Mug", product=make_product(), price=500)
    upsell_attempt = PaymentAttempt.objects.create(order=paid[0], route="next", kind="upsell", amount=500,
                                                   currency="EUR", status="captured")
    Upsell.objects.create(order=paid[0], offer=offer, attempt=upsell_attempt, name="Mug", sku="M", unit_price=500,
                          vat_rate_bp=2100)
    return paid


def card(html, label):
    match = re.search(r'<a class="card[^"]*" href="([^"]+)"><span class="label">' + re.escape(label)
                      + r'</span><span class="value">([^<]+)</span>', html)
    assert match, f"no card {label!r}"
    return match.group(2), match.group(1).replace("&amp;", "&")


def test_dashboard_is_the_first_page_after_login_with_the_known_numbers(admin_client, known_rows):
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert card(html, "Orders paid")[0] == "3"
    assert card(html, "Revenue net of refunds (EUR)")[0] == f"€\u00a0{3 * known_rows[0].total / 100:.2f}"
    assert card(html, "Refunded (EUR)")[0] == "€\u00a00.00"
    assert card(html, "Attempts stuck in between")[0] == "1"
    assert card(html, "Authorizations expiring within 7 days")[0] == "1"
    assert card(html, "Webhooks rejected")[0] == "1"
    assert card(html, "Active")[0] == "2" and card(html, "Past due")[0] == "1"
    assert card(html, "Monthly recurring revenue (EUR)")[0] == "€\u00a026.50"  # 16.50 + 120.00 / 12
    assert card(html, "Paid orders eligible for offers")[0] == "1"
    assert card(html, "Offers accepted")[0] == "1" and card(html, "Upsells charged")[0] == "1"
    assert "Declined by Klarna" in html
    assert re.search(r"Klarna \(via 29 Next\)</a></td><td>5</td><td>4</td><td>100 %", html)  # + stuck, + upsell
    assert "<svg" in html and html.count("<rect") == 2  # today's bars: next (3 + upsell) and klarna (1)
    assert "cdn" not in html.lower() and "<script src=\"http" not in html


def test_every_number_links_to_the_rows_behind_it(admin_client, known_rows):
    html = admin_client.get(reverse("admin:index")).content.decode()
    count, url = card(html, "Attempts stuck in between")
    page = admin_client.get(url)
    assert page.status_code == 200 and "?e=1" not in page.get("Location", "")
    assert page.context["cl"].result_count == 1
    for label, expected in (("Orders paid", 3), ("Webhooks rejected", 1), ("Past due", 1),
                            ("Authorizations expiring within 7 days", 1), ("Upsells charged", 1),
                            ("Paid orders eligible for offers", 1)):
        response = admin_client.get(card(html, label)[1])
        assert response.status_code == 200, label
        assert response.context["cl"].result_count == expected, label
    failure_link = re.search(r'href="([^"]+)">1</a></td></tr>', html).group(1).replace("&amp;", "&")
    assert admin_client.get(failure_link).context["cl"].result_count == 1


def test_bad_period_falls_back_and_reconcile_is_post_only(admin_client, known_rows):
    assert admin_client.get(reverse("admin:index"), {"period": "'; drop"}).status_code == 200
    assert admin_client.get(reverse("admin:index"), {"period": "7"}).status_code == 200
    assert admin_client.get(reverse("admin:dashboard_reconcile")).status_code == 405
    response = admin_client.post(reverse("admin:dashboard_reconcile"))
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")


def test_queries_stay_constant_from_ten_to_ten_thousand_orders(admin_client):
    bulk_orders(10)
    admin_client.get(reverse("admin:index"))  # warm caches (content types, session)
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(reverse("admin:index")).status_code == 200
    bulk_orders_extra = 10_000 - 10
    orders = [Order(number=f"SO-C{i:08d}", status="paid", route="next", currency="EUR", subtotal=1000, shipping_fee=0,
                    tax_total=0, total=1000, **ADDRESS) for i in range(bulk_orders_extra)]
    Order.objects.bulk_create(orders, batch_size=2000)
    with CaptureQueriesContext(connection) as many:
        html = admin_client.get(reverse("admin:index")).content.decode()
    assert len(many) == len(few) <= 20
    assert card(html, "Orders paid")[0] == "10000"


def test_revenue_is_net_of_what_was_refunded(admin_client, known_rows):
    """Probe E F5: a fully refunded order counted in full."""
    first = PaymentAttempt.objects.filter(order=known_rows[0], kind="checkout").get()
    PaymentAttempt.objects.filter(pk=first.pk).update(status="refunded", captured_amount=first.amount,
                                                      refunded_amount=first.amount)
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert card(html, "Revenue net of refunds (EUR)")[0] == f"€\u00a0{2 * known_rows[0].total / 100:.2f}"
    value, url = card(html, "Refunded (EUR)")
    assert value == f"€\u00a0{known_rows[0].total / 100:.2f}"
    assert admin_client.get(url).context["cl"].result_count == 1

