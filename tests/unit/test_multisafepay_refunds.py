"""Refunds as MultiSafepay cart lines (refunds.py), over random carts and amounts (hypothesis), and the
adapter's pure helpers: the locale (street lines: test_multisafepay_streets.py)."""
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from payments.providers.multisafepay.adapter import msp_locale
from payments.providers.multisafepay.cart import CartRoundingError, build_cart, rule_amount
from payments.providers.multisafepay.refunds import (
    RefundNotExpressible,
    original_items,
    refund_lines,
    tax_rates,
)
from payments.providers.types import Address, CheckoutLine, CheckoutRequest, Customer

RATES = st.sampled_from([0, 900, 1200, 2000, 2100, 2500])


@st.composite
def orders(draw):
    lines = []
    for n in range(draw(st.integers(min_value=1, max_value=5))):
        quantity, price, rate = draw(st.integers(1, 9)), draw(st.integers(1, 50_000)), draw(RATES)
        lines.append(CheckoutLine(sku=f"S{n}", name=f"Line {n}", quantity=quantity, unit_price=price,
                                  total=quantity * price, tax=0, vat_rate_bp=rate))
    try:
        return build_cart(lines, shipping_fee=draw(st.sampled_from([0, 495])), shipping_vat_rate_bp=2100)
    except CartRoundingError:
        assume(False)  # a cart MSP cannot take is never ordered, so never refunded (cart.py's own tests)


def _as_read_back(cart):
    """What GET /orders answers: unit prices as 10-decimal strings, quantities as strings, extra fields,
    checkout_options flattened."""
    items = [{**item, "unit_price": format(Decimal(str(item["unit_price"])).quantize(Decimal("1e-10")), "f"),
              "quantity": str(item["quantity"]), "cashback": "", "currency": "EUR", "options": []}
             for item in cart.shopping_cart["items"]]
    return {"items": items}, {"default": cart.tax_tables["default"], "alternate": cart.tax_tables["alternate"]}


@settings(max_examples=300, deadline=None)
@given(orders(), st.data())
def test_refund_lines_take_exactly_the_amount_off_or_say_they_cannot(cart, data):
    shopping_cart, options = _as_read_back(cart)
    items, rates = original_items(shopping_cart), tax_rates(options)
    assert rule_amount(items, rates) == cart.amount  # the originals are sent back unchanged
    amount = data.draw(st.integers(min_value=1, max_value=cart.amount))
    try:
        lines = refund_lines(items, rates, amount=amount, order_amount=cart.amount)
    except RefundNotExpressible:
        assert amount != cart.amount, "a full refund is always expressible"
        return
    assert rule_amount([*items, *lines], rates) == cart.amount - amount
    known = {item["merchant_item_id"] for item in items}
    assert all(line["unit_price"] < 0 and line["merchant_item_id"] in known for line in lines)
    assert all(len(repr(abs(line["unit_price"])).replace(".", "").lstrip("0")) <= 15 for line in lines)


def test_a_refund_outside_the_order_is_refused():
    cart = build_cart([CheckoutLine("A", "A", 1, 1000, 1000, 0, 2100)])
    items, rates = original_items(cart.shopping_cart), tax_rates({"tax_tables": cart.tax_tables})
    for amount in (0, -5, cart.amount + 1):
        with pytest.raises(RefundNotExpressible):
            refund_lines(items, rates, amount=amount, order_amount=cart.amount)


def _request(country, locale):
    address = Address("A", "B", "Street 1", "", "City", "1000", country)
    return CheckoutRequest(reference="r", order_number="n", amount=1, currency="EUR", lines=(), shipping_fee=0,
                           customer=Customer("a@b.c", "A", "B", "+31600000000"), shipping_address=address,
                           billing_address=address, return_url="", locale=locale)


@pytest.mark.parametrize("country, locale, expected", [
    ("NL", "en-NL", "en_US"), ("NL", "nl-NL", "nl_NL"), ("GB", "en-GB", "en_US"), ("DE", "de-DE", "de_DE"),
])
def test_locales_msp_refuses_become_en_us(country, locale, expected):
    assert msp_locale(_request(country, locale)) == expected
