"""Klarna Payment Authorize v2: supplementary_purchase_data always satisfies the API's sums (hypothesis),
for any cart the shop can hold, and the emulator's own validator accepts every body the shop builds."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.klarna_global.rules import problems as emulator_problems
from payments.providers.klarna_authorize.adapter import KlarnaAuthorizeAdapter
from payments.providers.klarna_authorize.purchase_data import (
    PurchaseDataError,
    purchase_for,
    sum_problems,
    tax_included,
)
from payments.providers.types import Address, CheckoutLine, CheckoutRequest, Customer

RATES = st.sampled_from([0, 600, 900, 1000, 2100, 2400, 2550])
ADDRESS = Address("Anna", "Jansen", "Keizersgracht 1", "", "Amsterdam", "1015 CJ", "NL")


@st.composite
def lines(draw):
    quantity = draw(st.integers(min_value=0, max_value=50))
    unit_price = draw(st.integers(min_value=0, max_value=200_000))
    rate = draw(RATES)
    interval = draw(st.sampled_from(["", "", "day", "week", "month", "year"]))
    total = quantity * unit_price
    return CheckoutLine(sku=draw(st.text(min_size=1, max_size=20)), name=draw(st.text(max_size=40)),
                        quantity=quantity, unit_price=unit_price, total=total, tax=tax_included(total, rate),
                        vat_rate_bp=rate, interval=interval,
                        interval_count=draw(st.integers(min_value=1, max_value=12)) if interval else None)


def request_for(cart, shipping_fee, shipping_rate=2100, amount=None):
    total = sum(line.total for line in cart) + shipping_fee
    return CheckoutRequest(reference="pa_1", order_number="SO-1", amount=total if amount is None else amount,
                           currency="EUR", lines=tuple(cart), shipping_fee=shipping_fee,
                           customer=Customer("anna@example.com", "Anna", "Jansen", "+31612345678"),
                           shipping_address=ADDRESS, billing_address=ADDRESS, return_url="https://shop/r/",
                           shipping_vat_rate_bp=shipping_rate)


@settings(max_examples=300, deadline=None)
@given(st.lists(lines(), min_size=1, max_size=10), st.integers(min_value=0, max_value=5000), RATES)
def test_every_cart_adds_up_to_its_amount(cart, shipping_fee, shipping_rate):
    request = request_for(cart, shipping_fee, shipping_rate)
    purchase = purchase_for(request)
    assert sum_problems(purchase.amount, purchase.data) == []
    items = purchase.data["line_items"]
    assert sum(item["total_amount"] for item in items) == request.amount == purchase.amount
    for item in items:
        assert item["total_amount"] == item["quantity"] * item["unit_price"]
        assert 0 <= item["total_tax_amount"] <= item["total_amount"]
    subscribed = {f"sub-{line.sku}"[:255] for line in cart if line.interval and line.quantity}
    assert {s["subscription_reference"] for s in purchase.data.get("subscriptions", [])} == subscribed
    assert purchase.has_subscription == bool(subscribed)
    if request.amount > 0:
        body = KlarnaAuthorizeAdapter.authorize_body(purchase, request.reference, return_url=request.return_url)
        assert emulator_problems(body) == []


@given(st.lists(lines(), min_size=1, max_size=5), st.integers(min_value=1, max_value=10_000))
def test_an_amount_the_lines_do_not_make_is_refused(cart, off_by):
    request = request_for(cart, 0)
    with pytest.raises(PurchaseDataError):
        purchase_for(request_for(cart, 0, amount=request.amount + off_by))


def test_a_documented_cart_with_shipping_and_a_subscription():
    cart = [CheckoutLine(sku="MUG", name="Mug", quantity=2, unit_price=1850, total=3700, tax=642, vat_rate_bp=2100),
            CheckoutLine(sku="BEANS", name="Beans", quantity=1, unit_price=1650, total=1650, tax=136, vat_rate_bp=900,
                         interval="month", interval_count=1)]
    purchase = purchase_for(request_for(cart, 495))
    assert [i["total_tax_amount"] for i in purchase.data["line_items"]] == [642, 136, 86]
    assert purchase.data["line_items"][-1]["line_item_reference"] == "shipping"
    assert purchase.data["subscriptions"] == [{
        "subscription_reference": "sub-BEANS", "name": "Beans",
        "billing_plans": [{"billing_amount": 1650, "currency": "EUR", "interval": "MONTH", "interval_frequency": 1}]}]
    assert purchase.data["customer"]["address"]["postal_code"] == "1015 CJ"
