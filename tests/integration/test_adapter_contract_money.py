"""The contract every payment route passes after the payment: a renewal, an upsell of the kind the route
declares, each order-management operation (or its refusal), and what a route refuses before any call.
Drivers and shared steps: tests/integration/contract_drivers.py.
"""

import pytest

from payments.exceptions import RouteNotAvailable
from payments.models import PaymentAttempt, Subscription, Upsell
from payments.providers.types import Operation, UpsellKind
from payments.selectors import upsell_offers_for
from payments.services import order_management as om
from payments.services.payment_start import payment_start
from payments.services.subscription_actions import subscription_renew_now
from payments.states import SUCCESSFUL, Status
from shop.models import UpsellOffer
from tests.factories import make_order, make_product
from tests.integration.contract_drivers import caps, pay
from tests.integration.upsell_flow import accept, shown_terms

pytestmark = pytest.mark.django_db(transaction=True)


# --- recurring ----------------------------------------------------------------------------------------------
def test_a_subscription_renews_one_cycle_on_request(driver, client):
    if not caps(driver).recurring:
        pytest.skip("route takes no recurring payments")
    beans = make_product(kind="subscription", interval="month", interval_count=1, price=1650, vat_rate_bp=900)
    attempt = pay(driver, client, make_order(items=[(beans, 1)], shipping_fee=0))
    sub = Subscription.objects.get(order_id=attempt.order_id)
    assert sub.route == driver.route and sub.status == "active"
    subscription_renew_now(subscription_id=sub.pk)
    renewal = sub.charges.get(billing_cycle=1)
    assert renewal.outcome == "paid" and renewal.attempt.order.renewal_of_id == attempt.order_id
    assert renewal.attempt.amount == 1650


# --- upsells --------------------------------------------------------------------------------------------------
def test_an_upsell_is_charged_once_the_way_the_route_says(driver, client):
    offer = UpsellOffer.objects.create(name="Add a second mug", price=1290,
                                       product=make_product(name="Second mug", price=1850))
    order = make_order()
    attempt = pay(driver, client, order)
    kind = caps(driver).upsell
    if kind == UpsellKind.NONE:
        assert upsell_offers_for(order) == []
        return
    session = client.session
    session["last_order"] = order.number
    session.save()
    terms = shown_terms(client, order, offer)
    accept(client, order, offer, terms=terms)
    accept(client, order, offer, terms=terms)  # a double click posts the same page twice
    upsell = Upsell.objects.get()
    assert upsell.state == "added"
    expected = {UpsellKind.ADD_TO_ORDER: Status.CAPTURED, UpsellKind.RAISE_AUTHORIZATION: Status.AUTHORIZED}[kind]
    assert upsell.attempt.status == expected
    order.refresh_from_db()
    assert order.total == attempt.amount + 1290


# --- order management -----------------------------------------------------------------------------------------
# `part` is what a capture takes: 1000 where the route captures part of an authorization, else None (everything).
OPERATIONS = {
    Operation.CAPTURE: lambda a, part: om.payment_capture(attempt_id=a.pk, amount=part),
    Operation.REFUND: lambda a, part: (om.payment_capture(attempt_id=a.pk, amount=part),
                                       om.payment_refund(attempt_id=a.pk, amount=400)),
    Operation.CANCEL: lambda a, part: om.payment_cancel(attempt_id=a.pk),
    Operation.RELEASE: lambda a, part: (om.payment_capture(attempt_id=a.pk, amount=part),
                                        om.payment_release_remaining(attempt_id=a.pk)),
    Operation.EXTEND: lambda a, part: om.payment_extend(attempt_id=a.pk),
}
ALONE = {  # the operation itself, on the authorized payment, for a route that does not offer it
    Operation.CAPTURE: lambda a: om.payment_capture(attempt_id=a.pk),
    Operation.REFUND: lambda a: om.payment_refund(attempt_id=a.pk, amount=400),
    Operation.CANCEL: lambda a: om.payment_cancel(attempt_id=a.pk),
    Operation.RELEASE: lambda a: om.payment_release_remaining(attempt_id=a.pk),
    Operation.EXTEND: lambda a: om.payment_extend(attempt_id=a.pk),
}
AFTER = {
    Operation.CAPTURE: lambda a, part: a.captured_amount == (part or a.amount),
    # A refund while part of the authorization is still open leaves it authorized (it can still be
    # captured); once everything is captured, it is partially refunded.
    Operation.REFUND: lambda a, part: a.refunded_amount == 400 and a.status == (
        Status.AUTHORIZED if part else Status.PARTIALLY_REFUNDED),
    Operation.CANCEL: lambda a, part: a.status == Status.CANCELLED,
    Operation.RELEASE: lambda a, part: a.status == Status.CAPTURED and a.captured_amount == part,
    Operation.EXTEND: lambda a, part: a.authorization_expires_at is not None,
}


@pytest.mark.parametrize("operation", list(Operation), ids=str)
def test_each_order_management_operation_works_or_is_refused(driver, client, operation):
    driver.authorize_only()
    attempt = pay(driver, client)
    assert attempt.status == Status.AUTHORIZED
    if operation not in caps(driver).operations:
        with pytest.raises(om.OperationRefused):
            ALONE[operation](attempt)
        attempt.refresh_from_db()
        assert attempt.status in SUCCESSFUL and not attempt.operations.exclude(result="refused").exists()
        return
    part = 1000 if caps(driver).partial_capture else None
    OPERATIONS[operation](attempt, part)
    attempt.refresh_from_db()
    assert AFTER[operation](attempt, part)
    assert attempt.operations.filter(kind=operation.value, result="done").exists()


def test_a_partial_capture_is_refused_where_the_route_captures_whole_orders(driver, client):
    if Operation.CAPTURE not in caps(driver).operations or caps(driver).partial_capture:
        pytest.skip("route captures parts, or does not capture from the shop")
    driver.authorize_only()
    attempt = pay(driver, client)
    with pytest.raises(om.OperationRefused, match="whole order"):
        om.payment_capture(attempt_id=attempt.pk, amount=1000)
    attempt.refresh_from_db()
    assert attempt.captured_amount == 0 and not attempt.operations.exists()


# --- what a route cannot take is refused before any attempt or call ---------------------------------------
def test_a_subscription_is_refused_before_any_call_where_nobody_renews(driver):
    if caps(driver).recurring:
        pytest.skip("route takes recurring payments")
    beans = make_product(kind="subscription", interval="month", interval_count=1, price=1650, vat_rate_bp=900)
    order = make_order(items=[(beans, 1)], shipping_fee=0)
    with pytest.raises(RouteNotAvailable) as refused:
        payment_start(order=order, route=driver.route)
    assert "subscriptions" in refused.value.shopper_message
    assert not PaymentAttempt.objects.filter(order=order).exists()


def test_details_the_route_asks_for_are_required_before_any_call(driver):
    if not caps(driver).customer_fields:
        pytest.skip("route asks for no extra shopper details")
    order = make_order(birthday=None, gender="")
    with pytest.raises(RouteNotAvailable) as refused:
        payment_start(order=order, route=driver.route)
    assert "Change details" in refused.value.shopper_message
    assert not PaymentAttempt.objects.filter(order=order).exists()
