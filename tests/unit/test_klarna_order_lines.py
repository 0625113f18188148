"""Klarna's order-line rules hold for any cart (property-based, hypothesis)."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.providers.klarna_payments.order_lines import (
    Item,
    OrderLinesError,
    items_from_checkout,
    klarna_amounts,
    tax_included,
)
from payments.providers.types import CheckoutLine

RATES = st.sampled_from([0, 600, 900, 1000, 1200, 1400, 2000, 2100, 2400, 2500, 2550])


@st.composite
def items(draw):
    quantity = draw(st.integers(min_value=0, max_value=50))
    unit_price = draw(st.integers(min_value=0, max_value=200_000))
    discount = draw(st.integers(min_value=0, max_value=quantity * unit_price))
    interval = draw(st.sampled_from(["", "", "day", "week", "month", "year"]))
    return Item(reference=draw(st.text(min_size=1, max_size=20)), name=draw(st.text(min_size=1, max_size=40)),
                quantity=quantity, unit_price=unit_price, tax_rate=draw(RATES), discount=discount,
                kind=draw(st.sampled_from(["physical", "digital"])), interval=interval,
                interval_count=draw(st.integers(min_value=1, max_value=12)))


@st.composite
def carts(draw):
    lines = draw(st.lists(items(), min_size=1, max_size=12))
    if draw(st.booleans()):
        lines.append(Item(reference="SHIPPING", name="Shipping", quantity=1,
                          unit_price=draw(st.integers(min_value=0, max_value=5000)), tax_rate=draw(RATES),
                          kind="shipping_fee"))
    goods = sum(item.quantity * item.unit_price - item.discount for item in lines)
    if goods and draw(st.booleans()):
        off = draw(st.integers(min_value=1, max_value=goods))
        lines.append(Item(reference="VOUCHER", name="Voucher", quantity=1, unit_price=-off, tax_rate=draw(RATES),
                          kind="discount"))
    return lines


def exact_tax(total, rate):
    return total - total * 10000 / (10000 + rate)


@settings(max_examples=400, deadline=None)
@given(carts())
def test_every_cart_satisfies_klarnas_rules(cart):
    amounts = klarna_amounts(cart)
    for line in amounts.order_lines:
        assert line["total_amount"] == line["quantity"] * line["unit_price"] - line["total_discount_amount"]
        assert abs(line["total_tax_amount"] - exact_tax(line["total_amount"], line["tax_rate"])) <= 0.5
        assert 0 <= line["tax_rate"] <= 10000
        assert abs(line["unit_price"]) <= 100_000_000 and abs(line["total_amount"]) <= 100_000_000
        if line["type"] == "discount":
            assert line["total_amount"] <= 0
        if "subscription" in line:
            assert line["subscription"]["interval"] in {"DAY", "WEEK", "MONTH", "YEAR"}
            assert line["subscription"]["interval_count"] >= 1 and line["subscription"]["name"]
    assert amounts.order_amount == sum(line["total_amount"] for line in amounts.order_lines)
    assert amounts.order_tax_amount == sum(line["total_tax_amount"] for line in amounts.order_lines)
    assert amounts.order_amount >= 0


@given(st.integers(min_value=-10_000_000, max_value=10_000_000), RATES)
def test_tax_is_symmetric_for_discounts(total, rate):
    assert tax_included(-total, rate) == -tax_included(total, rate)


def test_the_documented_example_passes():
    amounts = klarna_amounts([Item(reference="A", name="A", quantity=1, unit_price=10000, tax_rate=2500,
                                   discount=500)])
    line = amounts.order_lines[0]
    assert (line["total_amount"], line["total_tax_amount"]) == (9500, 1900)
    assert (amounts.order_amount, amounts.order_tax_amount) == (9500, 1900)


def test_checkout_lines_and_shipping_become_klarna_lines():
    lines = [CheckoutLine(sku="MUG", name="Mug", quantity=2, unit_price=1850, total=3700, tax=642, vat_rate_bp=2100),
             CheckoutLine(sku="BEANS", name="Beans", quantity=1, unit_price=1650, total=1650, tax=136,
                          vat_rate_bp=900, interval="month", interval_count=1)]
    amounts = klarna_amounts(items_from_checkout(lines, shipping_fee=495, shipping_tax_rate=2100))
    assert [line["type"] for line in amounts.order_lines] == ["physical", "physical", "shipping_fee"]
    assert amounts.order_amount == 3700 + 1650 + 495
    assert amounts.order_lines[1]["subscription"] == {"name": "Beans", "interval": "MONTH", "interval_count": 1}
    # Our own VAT figures agree with Klarna's per line.
    assert [line["total_tax_amount"] for line in amounts.order_lines[:2]] == [642, 136]


@pytest.mark.parametrize("bad", [
    [],
    [Item(reference="X", name="X", quantity=1, unit_price=100_000_001, tax_rate=0)],
    [Item(reference="X", name="X", quantity=-1, unit_price=100, tax_rate=0)],
    [Item(reference="X", name="X", quantity=1, unit_price=100, tax_rate=10001)],
    [Item(reference="X", name="X", quantity=1, unit_price=100, tax_rate=0),
     Item(reference="D", name="D", quantity=1, unit_price=-200, tax_rate=0, kind="discount")],
])
def test_carts_klarna_cannot_take_are_refused(bad):
    with pytest.raises(OrderLinesError):
        klarna_amounts(bad)


def _request(lines, amount):
    from payments.providers.types import Address, CheckoutRequest, Customer

    address = Address("A", "B", "Street 1", "", "Amsterdam", "1000 AA", "NL")
    return CheckoutRequest(reference="pa_1", order_number="SO-1", amount=amount, currency="EUR", lines=tuple(lines),
                           shipping_fee=0, customer=Customer("a@example.com", "A", "B", "+31612345678"),
                           shipping_address=address, billing_address=address, return_url="http://shop/r/")


@pytest.mark.parametrize("kinds,amount,default_tokenize,intent", [
    (["once"], 1000, False, "buy"),
    (["sub"], 1650, False, "buy_and_tokenize"),
    (["sub"], 0, False, "tokenize"),
    (["once", "sub"], 2650, False, "buy_and_tokenize"),
    (["once", "sub"], 2650, True, "buy_and_default_tokenize"),
    (["once"], 1000, True, "buy"),
])
def test_session_intent(kinds, amount, default_tokenize, intent, settings):
    from payments.providers.klarna_payments.adapter import intent_for

    settings.KLARNA_DEFAULT_TOKENIZE = default_tokenize
    lines = [CheckoutLine(sku=k, name=k, quantity=1, unit_price=1000, total=1000, tax=174, vat_rate_bp=2100,
                          interval="month" if k == "sub" else "", interval_count=1) for k in kinds]
    assert intent_for(_request(lines, amount)) == intent
