"""Captures and refunds a merchant makes in Klarna's merchant portal reach the books without anyone opening the
payment in admin: Klarna sends no notification for them, so the hourly sweep reads the open authorizations'
orders (payments.services.provider_figures)."""
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from payments.models import PaymentAttempt
from payments.providers.registry import get_adapter
from payments.services import provider_figures
from payments.services.provider_figures import authorizations_book_dashboard
from payments.states import Status
from tests.integration.klarna_flow import pay_with_klarna
from tests.integration.next_flow import pay as pay_with_next

pytestmark = pytest.mark.django_db(transaction=True)


def in_klarnas_portal(attempt, action, body):
    """What the merchant's click in Klarna's portal does: Klarna's order changes, the shop hears nothing."""
    get_adapter("klarna_payments").client.order_action(attempt.provider_reference, action, body,
                                                       idempotency_key=str(uuid.uuid4()))


@pytest.fixture
def authorized(emulator, client):
    attempt = pay_with_klarna(emulator, client)
    assert attempt.status == Status.AUTHORIZED
    return attempt


def test_a_part_captured_and_refunded_in_the_portal_is_booked_once_and_stays_capturable(authorized):
    in_klarnas_portal(authorized, "captures", {"captured_amount": 100})
    in_klarnas_portal(authorized, "refunds", {"refunded_amount": 40})

    assert authorizations_book_dashboard() == {"read": 1, "booked": 1}
    authorized.refresh_from_db()
    assert (authorized.captured_amount, authorized.refunded_amount) == (100, 40)
    assert authorized.status == Status.AUTHORIZED  # the rest can still be captured
    assert authorized.events.filter(source="dashboard-sweep", message__contains="done at the provider").count() == 1

    assert authorizations_book_dashboard() == {"read": 1, "booked": 0}  # nothing new: nothing booked again
    assert authorized.events.filter(message__contains="done at the provider").count() == 1


def test_a_full_capture_in_the_portal_takes_the_payment_off_the_dashboards_expiring_list(authorized, admin_client):
    # Placed 25 days ago: Klarna lets it lapse in 3 days, so the dashboard asks the merchant to capture it.
    PaymentAttempt.objects.filter(pk=authorized.pk).update(authorization_expires_at=timezone.now() + timedelta(days=3))
    in_klarnas_portal(authorized, "captures", {"captured_amount": authorized.amount})
    expiring = reverse("admin:payments_paymentattempt_changelist") + "?expiring=7"
    assert authorized.reference in admin_client.get(expiring).content.decode()

    assert authorizations_book_dashboard()["booked"] == 1
    authorized.refresh_from_db()
    assert authorized.status == Status.CAPTURED and authorized.captured_amount == authorized.amount
    assert authorized.reference not in admin_client.get(expiring).content.decode()
    assert authorizations_book_dashboard() == {"read": 0, "booked": 0}  # no longer an open authorization


def test_runs_go_on_where_the_last_stopped_and_start_again_after_the_newest(emulator, client, authorized):
    second = pay_with_klarna(emulator, client)
    in_klarnas_portal(second, "captures", {"captured_amount": 100})

    assert authorizations_book_dashboard(batch=1) == {"read": 1, "booked": 0}  # the older one: nothing done there
    assert authorizations_book_dashboard(batch=1) == {"read": 1, "booked": 1}  # then the newer one
    assert authorizations_book_dashboard(batch=1) == {"read": 0, "booked": 0}  # past the newest: from the start again
    in_klarnas_portal(authorized, "captures", {"captured_amount": 200})
    assert authorizations_book_dashboard(batch=1) == {"read": 1, "booked": 1}
    assert PaymentAttempt.objects.get(pk=authorized.pk).captured_amount == 200


def test_an_order_klarna_will_not_show_is_skipped_and_the_others_are_still_booked(emulator, client, authorized):
    second = pay_with_klarna(emulator, client)
    in_klarnas_portal(second, "captures", {"captured_amount": 100})
    emulator.control("POST", "/_emulator/faults", json={
        "method": "GET", "path": f"/klarna/ordermanagement/v1/orders/{authorized.provider_reference}",
        "kind": "error", "status": 503, "times": 50})

    assert authorizations_book_dashboard() == {"read": 2, "booked": 1}
    second.refresh_from_db()
    authorized.refresh_from_db()
    assert second.captured_amount == 100 and authorized.captured_amount == 0


def test_routes_whose_provider_reports_dashboard_operations_are_not_read(emulator, client):
    # A 29 Next store that only authorizes: its payments hold authorizations too, but 29 Next sends a
    # transaction webhook for what the merchant does in its dashboard.
    emulator.control("PATCH", "/_emulator/config", json={"next": {"klarna_payment_status": "authorized"}})
    _, attempt, _ = pay_with_next(emulator, client)
    assert attempt.status == Status.AUTHORIZED
    assert not get_adapter(attempt.route).capabilities.silent_dashboard_operations
    assert authorizations_book_dashboard() == {"read": 0, "booked": 0}


def test_two_runs_at_once_do_not_read_the_same_payments(authorized):
    from django.core.cache import cache

    cache.add(provider_figures.RUNNING_KEY, 1, 60)  # another worker's run is under way
    in_klarnas_portal(authorized, "captures", {"captured_amount": 100})
    assert authorizations_book_dashboard() == {"read": 0, "booked": 0}
    cache.delete(provider_figures.RUNNING_KEY)
    assert authorizations_book_dashboard() == {"read": 1, "booked": 1}


def test_an_order_cancelled_in_the_portal_is_booked_cancelled(authorized):
    in_klarnas_portal(authorized, "cancel", None)

    assert authorizations_book_dashboard()["booked"] == 1
    authorized.refresh_from_db()
    authorized.order.refresh_from_db()
    assert authorized.status == Status.CANCELLED and authorized.captured_amount == 0
    assert authorized.order.status == "cancelled"
    assert "cancelled at the provider" in authorized.events.filter(kind="note").last().message
    assert authorizations_book_dashboard() == {"read": 0, "booked": 0}


def test_the_rest_released_in_the_portal_after_a_capture_leaves_the_payment_captured(authorized):
    in_klarnas_portal(authorized, "captures", {"captured_amount": 100})
    assert authorizations_book_dashboard()["booked"] == 1
    in_klarnas_portal(authorized, "release-remaining-authorization", None)

    assert authorizations_book_dashboard()["booked"] == 1
    authorized.refresh_from_db()
    assert authorized.status == Status.CAPTURED and authorized.captured_amount == 100
    assert "nothing left authorized" in authorized.events.filter(kind="note").last().message


def test_an_expired_authorization_is_not_called_cancelled(emulator, authorized):
    emulator.control("POST", "/_emulator/clock/advance", json={"days": 60})  # Klarna lets it lapse
    assert get_adapter("klarna_payments").fetch_payment(authorized.provider_reference).status == "expired"
    assert authorizations_book_dashboard()["booked"] == 0
    authorized.refresh_from_db()
    assert authorized.status == Status.AUTHORIZED
