"""Admin URLs and forms with values no merchant means: a clear 4xx or form message, never a 500, and nothing
stored that would break a page later. Run on PostgreSQL too (CI does): a NUL byte fails only there."""
from datetime import datetime

import pytest
from django.contrib import admin
from django.db import models
from django.urls import reverse
from django.utils import timezone

from payments.models import PaymentAttempt, Subscription
from tests.factories import make_order
from tests.integration.admin_forms import confirm

pytestmark = pytest.mark.django_db

# Values for a model field's own lookups, and what each may answer: 400 when the shop can tell it is no
# filter at all, else whatever Django makes of it (a list, or its "?e=1" redirect), never 500.
NUL_VALUES = ["\x00", "a\x00b"]
BAD_DATE_PARTS = {"year": ["99999999999999999999", "-1", "0", "10000", "--5", "٣"], "month": ["13", "0"],
                  "day": ["32"], "hour": ["24"]}


def _changelists():
    return [(model, reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"))
            for model in admin.site._registry]


@pytest.fixture
def rows():
    """One row in each list, so filters have something to run over."""
    order = make_order()
    attempt = PaymentAttempt.objects.create(order=order, route="next", amount=order.total, currency="EUR")
    sub = Subscription.objects.create(route="klarna_payments", provider_id="sub-1", order=order, email=order.email,
                                      interval="month", interval_count=1, amount=1650, currency="EUR")
    return order, attempt, sub


def test_no_list_filter_value_makes_an_admin_list_fail(admin_client, rows):
    tried = 0
    for model, url in _changelists():
        for field in model._meta.concrete_fields:
            for value in NUL_VALUES:
                for key in (field.attname, f"{field.name}__exact", f"{field.name}__in"):
                    response = admin_client.get(url, {key: value})
                    assert response.status_code == 400, (url, key, value, response.status_code)
                    assert b"NUL character" in response.content
                    tried += 1
            if isinstance(field, (models.DateField, models.DateTimeField)):
                for part, values in BAD_DATE_PARTS.items():
                    for value in values:
                        response = admin_client.get(url, {f"{field.name}__{part}": value})
                        assert response.status_code == 400, (url, field.name, part, value)
                        assert f"a {part} is a whole number".encode() in response.content
                        tried += 1
                good = admin_client.get(url, {f"{field.name}__year": "2026", f"{field.name}__month": "12"})
                assert good.status_code == 200, (url, field.name)
    assert tried > 300  # every registered list, every field: the crawl did reach them
    # The search box and the ordering and page parameters, with the same bytes.
    for _, url in _changelists():
        for params in ({"q": "\x00"}, {"o": "99999999999999999999"}, {"p": "99999999999999999999"},
                       {"e": "1", "q": "x" * 5000}):
            assert admin_client.get(url, params).status_code < 500, (url, params)


def test_a_usable_date_filter_still_filters(admin_client, rows):
    order, attempt, _ = rows
    url = reverse("admin:payments_paymentattempt_changelist")
    year = timezone.localtime(attempt.created_at).year
    assert attempt.reference in admin_client.get(url, {"created_at__year": str(year)}).content.decode()
    assert attempt.reference not in admin_client.get(url, {"created_at__year": str(year - 3)}).content.decode()


@pytest.mark.parametrize("when", ["0001-01-01T00:00", "9999-12-31T23:59", "1900-01-01T00:00"])
def test_a_renewal_date_no_calendar_or_plan_needs_is_refused_and_nothing_breaks(admin_client, rows, when):
    _, _, sub = rows
    before = sub.next_renewal_at
    url = reverse("admin:payments_subscription_action", args=[sub.pk, "reschedule"])
    response = confirm(admin_client, url, {"next_renewal_at": when}, follow=True)
    assert response.status_code == 200
    assert "refused: the next renewal must lie between" in response.content.decode()
    sub.refresh_from_db()
    assert sub.next_renewal_at == before
    assert admin_client.get(reverse("admin:payments_subscription_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:payments_subscription_change", args=[sub.pk])).status_code == 200


def test_a_renewal_date_within_reach_is_still_moved(admin_client, rows):
    _, _, sub = rows
    when = timezone.localtime() + timezone.timedelta(days=40)
    url = reverse("admin:payments_subscription_action", args=[sub.pk, "reschedule"])
    confirm(admin_client, url, {"next_renewal_at": when.strftime("%Y-%m-%dT%H:%M")})
    sub.refresh_from_db()
    assert sub.next_renewal_at is not None
    assert abs(sub.next_renewal_at - when.replace(second=0, microsecond=0)) < timezone.timedelta(minutes=1)
    assert isinstance(sub.next_renewal_at, datetime)


def test_an_order_cannot_be_moved_to_a_country_the_shop_does_not_sell_to(admin_client, settings):
    from tests.factories import ADDRESS
    from tests.integration.admin_forms import order_change_form

    order = make_order()
    data = order_change_form()
    url = reverse("admin:shop_order_change", args=[order.pk])
    for country in ("XX", "us", "\x00"):
        response = admin_client.post(url, dict(data, shipping_country=country))
        assert response.status_code == 200, country
        order.refresh_from_db()
        assert order.shipping_country == ADDRESS["shipping_country"]
    assert "The shop does not sell to US" in admin_client.post(url, dict(data, shipping_country="us")).content.decode()
    # An order placed before its country left the list keeps it while other details are corrected.
    settings.SHOP_COUNTRIES = [code for code in settings.SHOP_COUNTRIES if code != ADDRESS["shipping_country"]]
    assert admin_client.post(url, dict(data, email="new@example.com")).status_code == 302
    order.refresh_from_db()
    assert order.email == "new@example.com"


def test_admin_sign_in_attempts_are_limited_per_client(client, settings):
    """Probe E F10: unlimited password guesses, each a full hash in a web worker."""
    from django.core.cache import cache

    settings.PAYMENT_RATE_LIMITS = {**settings.PAYMENT_RATE_LIMITS, "login": (3, 300)}
    cache.clear()
    guesses = [client.post("/admin/login/", {"username": "admin", "password": f"guess-{n}"}) for n in range(4)]
    assert [g.status_code for g in guesses] == [200, 200, 200, 429]
    assert "Too many sign-in attempts" in guesses[-1].content.decode() and int(guesses[-1]["Retry-After"]) > 0
    assert client.get("/admin/login/").status_code == 200  # the page itself still shows


@pytest.mark.parametrize("url", ["/admin/payments/paymentattempt/{}/operation/capture/",
                                 "/admin/payments/subscription/{}/action/cancel/"])
@pytest.mark.parametrize("pk", ["99999999999999999999", "9223372036854775808"])
def test_an_admin_action_on_an_id_beyond_any_row_is_a_404(admin_client, url, pk):
    """Like the shopper's upsell URL (probe H F8): an id past 64 bits was an OverflowError, a 500, on SQLite."""
    assert admin_client.get(url.format(pk)).status_code == 404
    assert admin_client.post(url.format(pk), {}).status_code == 404
