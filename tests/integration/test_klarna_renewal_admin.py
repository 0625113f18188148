"""The merchant's actions on Klarna subscriptions in admin: renew now and retry, each once per form and once
per period, whichever tabs or clicks ask; address corrections checked as Klarna takes them."""
import pytest

from payments.services.renewal_dates import renewal_date
from payments.services.renewals import subscription_charge
from tests.integration.test_klarna_renewals import make_due, subscribe, token_orders

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def klarna(emulator):
    return emulator


def test_retry_on_an_active_subscription_is_refused_and_not_offered(klarna, client, admin_client):
    from django.urls import reverse

    from payments.services.subscription_actions import SubscriptionActionError, subscription_retry

    sub = subscribe(klarna, client)
    with pytest.raises(SubscriptionActionError):
        subscription_retry(subscription_id=sub.pk)
    assert sub.charges.count() == 1  # no extra cycle charged
    page = admin_client.get(reverse("admin:payments_subscription_change", args=[sub.pk])).content.decode()
    assert "Retry the past-due payment" not in page and "Renew now" in page
    forced = admin_client.post(reverse("admin:payments_subscription_action", args=[sub.pk, "retry"]), {"confirmed": "1"})
    assert forced.status_code == 302 and sub.charges.count() == 1


def test_renew_now_posted_twice_from_one_form_charges_once(klarna, client, admin_client):
    from django.urls import reverse

    from tests.integration.admin_forms import confirm, confirmed_form

    sub = subscribe(klarna, client)
    url = reverse("admin:payments_subscription_action", args=[sub.pk, "renew"])
    form = confirmed_form(admin_client, url)  # Renew now has no inputs: its first page is the confirmation
    first = admin_client.post(url, form, follow=True).content.decode()
    second = admin_client.post(url, form, follow=True).content.decode()
    assert len(token_orders(klarna)) == 1 and sub.charges.count() == 2
    assert "Renew now: subscription" in first and "done." in first
    assert "this form was already confirmed" in second and "billing cycle 1 paid" in second
    assert "Nothing was sent again." in second and "refused" not in second
    confirm(admin_client, url)  # a second confirmation page is a second renewal, as the merchant meant
    assert len(token_orders(klarna)) == 2 and sub.charges.count() == 3


def test_renew_now_twins_at_the_same_moment_charge_once(klarna, client, admin_client, admin_user, postgres):

    from django.urls import reverse

    from tests.integration.admin_forms import confirmed_form, post_at_once

    sub = subscribe(klarna, client)
    url = reverse("admin:payments_subscription_action", args=[sub.pk, "renew"])
    form = confirmed_form(admin_client, url)
    klarna.control("POST", "/_emulator/faults", json={"method": "POST", "path": "/klarna/customer-token/",
                                                      "kind": "latency", "latency_ms": 600, "times": 2})
    pages = post_at_once(url, form, admin_user)
    assert len(pages) == 2 and sum("this form was already confirmed" in page for page in pages) == 1
    assert len(token_orders(klarna)) == 1 and sub.charges.count() == 2


def test_a_retry_posted_twice_from_one_form_is_told_it_was_done_not_that_it_is_refused(klarna, client, admin_client):
    from django.urls import reverse

    from tests.integration.admin_forms import confirmed_form

    sub = subscribe(klarna, client)
    make_due(sub)
    klarna.control("POST", f"/_emulator/klarna/tokens/{sub.customer_token}/scenario",
                   json={"charge": "decline", "times": 1})
    assert subscription_charge(subscription_id=sub.pk) == "declined"
    url = reverse("admin:payments_subscription_action", args=[sub.pk, "retry"])
    form = confirmed_form(admin_client, url)
    admin_client.post(url, form)
    second = admin_client.post(url, form, follow=True).content.decode()
    sub.refresh_from_db()
    assert sub.status == "active" and len(token_orders(klarna)) == 2  # the decline, then the one retry
    # The first POST made the subscription active, so Retry is no longer open: the replay is still told
    # what its form did.
    assert "this form was already confirmed" in second and "not possible" not in second


def test_renew_now_from_two_pages_of_the_same_period_renews_it_once(klarna, client, admin_client):
    """Probe I I1: two "Renew now" pages both said "ahead of its next renewal date (3 January)"; confirmed one
    after the other, they charged that period and the one after, and the date jumped two months."""
    from django.urls import reverse

    from tests.integration.admin_forms import confirmed_form

    sub = subscribe(klarna, client)
    due = sub.next_renewal_at
    url = reverse("admin:payments_subscription_action", args=[sub.pk, "renew"])
    first_tab, second_tab = confirmed_form(admin_client, url), confirmed_form(admin_client, url)
    assert first_tab["due"] == second_tab["due"] == due.isoformat()
    assert "done." in admin_client.post(url, first_tab, follow=True).content.decode()
    refused = admin_client.post(url, second_tab, follow=True).content.decode()
    assert "refused: this page was for the renewal due" in refused and "nothing was charged" in refused
    sub.refresh_from_db()
    assert len(token_orders(klarna)) == 1 and sub.charges.count() == 2
    assert sub.next_renewal_at == renewal_date(sub.schedule_anchor, sub.interval, sub.interval_count, 2)
    # A page opened now is for the next period, and renews it.
    assert "done." in admin_client.post(url, confirmed_form(admin_client, url), follow=True).content.decode()
    assert len(token_orders(klarna)) == 2 and sub.charges.count() == 3


def test_renew_now_of_a_period_another_page_is_still_renewing_is_refused(klarna, client, admin_client):
    """The first page's charge never got its answer (Klarna unreachable): the period may be charged, so the
    second page of the same period charges nothing while that is unknown."""
    from django.urls import reverse

    from tests.integration.admin_forms import confirmed_form

    sub = subscribe(klarna, client)
    url = reverse("admin:payments_subscription_action", args=[sub.pk, "renew"])
    first_tab, second_tab = confirmed_form(admin_client, url), confirmed_form(admin_client, url)
    klarna.control("POST", "/_emulator/faults", json={"method": "POST", "path": "/klarna/customer-token/",
                                                      "kind": "error", "status": 503, "times": 20})
    assert "refused" in admin_client.post(url, first_tab, follow=True).content.decode()
    klarna.control("DELETE", "/_emulator/faults")
    refused = admin_client.post(url, second_tab, follow=True).content.decode()
    assert "under way" in refused and "nothing was charged" in refused
    assert len([r for r in token_orders(klarna) if r["status"] == 200]) == 0


def test_an_address_corrected_in_admin_is_checked_as_the_orders_route_takes_it(klarna, client, admin_client):
    """Probe I I2's start: admin saved a 104-character street on an order paid with Klarna (Klarna takes 99), and
    the next renewal was refused. The correction is refused on the field, as checkout refuses it; other details
    of the order can still be corrected."""
    from django.urls import reverse

    from shop.models import Order
    from tests.integration.admin_forms import order_change_form

    sub = subscribe(klarna, client)
    order = Order.objects.get(pk=sub.order_id)
    url = reverse("admin:shop_order_change", args=[order.pk])
    data = {**order_change_form(), **{name: getattr(order, name) for name in (
        "email", "phone", "first_name", "last_name", "shipping_line1", "shipping_line2", "shipping_postcode",
        "shipping_city", "shipping_country")}}
    street = "Burgemeester van Roijensingel Noordzijde tegenover de Oude Kerk en naast het Stadhuis van Amsterdam 1234"
    refused = admin_client.post(url, dict(data, shipping_line1=street))
    assert refused.status_code == 200 and "Klarna takes at most 99 characters" in refused.content.decode()
    order.refresh_from_db()
    assert order.shipping_line1 != street
    assert admin_client.post(url, dict(data, phone="+31 6 9999 0000")).status_code == 302
