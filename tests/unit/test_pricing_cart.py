"""Pure pricing and cart logic: VAT rounding, money display, quantity rules and cart totals.

Only the tests that look products up (add/set with an id) touch the database; totals are computed
from unsaved Product instances because Cart.totals never reads the catalog when given lines.
"""
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shop.cart import MAX_QUANTITY, Cart, CartError, CartLine
from shop.forms import normalise_phone
from shop.models import Product
from shop.pricing import format_minor, vat_included
from shop.templatetags.money import every, money, percent


class FakeSession(dict):
    """Just enough of a Django session for Cart: a dict whose assignments set its `modified` flag."""

    modified = False

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self.modified = True


# --- VAT -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("gross, rate_bp, expected", [
    (121, 2100, 21),        # exact
    (100, 2100, 17),        # 17.355… → 17
    (1, 2100, 0),           # 0.17 → 0
    (3, 2100, 1),           # 0.52… → 1
    (0, 2100, 0),
    (1234, 0, 0),           # zero-rated
    (109, 900, 9),          # reduced rate, exact
    (1, 10000, 1),          # exactly half a cent rounds up
    (3, 10000, 2),          # 1.5 → 2 (half up, not banker's)
    (5, 10000, 3),          # 2.5 → 3
    (2495, 900, 206),       # 206.01…
    (495, 2100, 86),        # the default shipping fee: 85.909… → 86
])
def test_vat_included_known_values(gross, rate_bp, expected):
    assert vat_included(gross, rate_bp) == expected


@given(gross=st.integers(min_value=0, max_value=10**12), rate_bp=st.integers(min_value=0, max_value=10**5))
def test_vat_included_matches_decimal_half_up(gross, rate_bp):
    exact = Decimal(gross) * rate_bp / (10000 + rate_bp)
    assert vat_included(gross, rate_bp) == int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@given(gross=st.integers(min_value=0, max_value=10**9), rate_bp=st.integers(min_value=0, max_value=5000))
def test_vat_never_exceeds_gross(gross, rate_bp):
    assert 0 <= vat_included(gross, rate_bp) <= gross


@pytest.mark.parametrize("gross, rate_bp", [(-1, 2100), (100, -1)])
def test_vat_included_refuses_negative(gross, rate_bp):
    with pytest.raises(ValueError):
        vat_included(gross, rate_bp)


# --- Money display ------------------------------------------------------------------------------

@pytest.mark.parametrize("amount, currency, expected", [
    (1234, "EUR", "€\u00a012.34"),
    (5, "EUR", "€\u00a00.05"),
    (0, "EUR", "€\u00a00.00"),
    (100, "EUR", "€\u00a01.00"),
    (123456789, "EUR", "€\u00a01,234,567.89"),
    (-250, "EUR", "-€\u00a02.50"),
    (999, "SEK", "kr\u00a09.99"),
    (100, "CHF", "CHF\u00a01.00"),
])
def test_format_minor(amount, currency, expected):
    assert format_minor(amount, currency) == expected


def test_money_filter_uses_format_minor_and_tolerates_missing_amounts():
    assert money(1234, "EUR") == "€\u00a012.34"
    assert money("1234", "EUR") == "€\u00a012.34"
    assert money(None, "EUR") == ""


@pytest.mark.parametrize("basis_points, expected", [(2100, "21\u00a0%"), (900, "9\u00a0%"),
                                                    (550, "5.5\u00a0%"), (0, "0\u00a0%"), (1225, "12.25\u00a0%")])
def test_percent_filter(basis_points, expected):
    assert percent(basis_points) == expected


def test_every_filter():
    assert every(Product(kind="subscription", interval="month", interval_count=1)) == "every month"
    assert every(Product(kind="subscription", interval="month", interval_count=3)) == "every 3 months"
    assert every(Product(kind="subscription", interval="year", interval_count=1)) == "every year"
    assert every(Product(kind="physical")) == ""


# --- Phone normalisation --------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("+31 6 1234 5678", "+31612345678"),
    ("+49 (30) 123-456-78", "+493012345678"),
    ("+4412345678", "+4412345678"),
    ("+123456789012345", "+123456789012345"),
])
def test_phone_normalised_to_e164(raw, expected):
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize("raw, fragment", [
    ("06 1234 5678", "Start your phone number with +"),
    ("+31 6 12", "8 to 15 digits"),
    ("+1234567890123456", "8 to 15 digits"),
    ("+31 6 1234 567a", "8 to 15 digits"),
    ("", "Start your phone number with +"),
])
def test_phone_rejected_with_a_clear_message(raw, fragment):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as excinfo:
        normalise_phone(raw)
    assert fragment in excinfo.value.messages[0]


# --- Cart quantities and totals (no database) -------------------------------------------------------

@pytest.mark.parametrize("value, minimum, expected", [("1", 1, 1), (5, 1, 5), ("0", 0, 0), (MAX_QUANTITY, 1, MAX_QUANTITY)])
def test_quantity_accepts_whole_numbers_in_range(value, minimum, expected):
    assert Cart._quantity(value, minimum=minimum) == expected


@pytest.mark.parametrize("value, minimum", [
    ("abc", 1), ("1.5", 1), (None, 1), ("", 1), ("0", 1), ("-1", 0), (MAX_QUANTITY + 1, 1),
])
def test_quantity_rejects_bad_input(value, minimum):
    with pytest.raises(CartError):
        Cart._quantity(value, minimum=minimum)


def _physical(price, vat_bp=2100):
    return Product(name="Mug", sku="MUG", price=price, vat_rate_bp=vat_bp, kind="physical")


def _subscription(price, vat_bp=900):
    return Product(name="Beans", sku="BEANS", price=price, vat_rate_bp=vat_bp, kind="subscription",
                   interval="month", interval_count=1)


def test_totals_with_physical_goods_add_shipping(settings):
    settings.SHOP_SHIPPING_FEE = 495
    settings.SHOP_SHIPPING_VAT_BP = 2100
    lines = [CartLine(_physical(1850), 2), CartLine(_physical(2495, 900), 1)]
    totals = Cart(FakeSession()).totals(lines)
    assert totals.subtotal == 1850 * 2 + 2495
    assert totals.shipping_fee == 495
    assert totals.shipping_vat_rate_bp == 2100
    assert totals.total == totals.subtotal + 495
    assert totals.tax == vat_included(3700, 2100) + vat_included(2495, 900) + vat_included(495, 2100)
    assert totals.currency == settings.SHOP_CURRENCY


def test_subscription_only_cart_ships_free(settings):
    settings.SHOP_SHIPPING_FEE = 495
    totals = Cart(FakeSession()).totals([CartLine(_subscription(1650), 1)])
    assert totals.shipping_fee == 0
    assert totals.shipping_vat_rate_bp == 0
    assert totals.total == 1650
    assert totals.tax == vat_included(1650, 900)


def test_mixed_cart_pays_shipping_once(settings):
    settings.SHOP_SHIPPING_FEE = 495
    totals = Cart(FakeSession()).totals([CartLine(_subscription(1650), 1), CartLine(_physical(1000), 3)])
    assert totals.shipping_fee == 495
    assert totals.total == 1650 + 3000 + 495


def test_line_vat_is_computed_on_the_line_total_not_per_unit():
    line = CartLine(_physical(1), 3)  # per unit 0.17 → 0 each, on the total 0.52 → 1
    assert line.total == 3
    assert line.tax == 1


def test_session_garbage_is_ignored():
    session = FakeSession(cart={"1": 2, "x": 3, "2": 0, "3": -1})
    assert Cart(session).count == 2


# --- Cart changes (these look products up) ----------------------------------------------------------

@pytest.fixture
def mug(db):
    from tests.factories import make_product

    return make_product(price=1850)


def test_add_accumulates_and_counts(mug):
    session = FakeSession()
    cart = Cart(session)
    cart.add(mug.pk, 2)
    cart.add(str(mug.pk), "3")
    assert cart.count == 5
    assert session["cart"] == {str(mug.pk): 5}
    assert session.modified
    assert Cart(session).lines()[0].quantity == 5


def test_the_session_is_changed_only_when_the_cart_is(mug):
    session = FakeSession()
    Cart(session).clear()  # the confirmation page empties an empty cart on every visit
    assert not session.modified
    cart = Cart(session)
    cart.add(mug.pk, 2)
    assert session.modified and session["cart"] == {str(mug.pk): 2}
    session.modified = False
    cart.set(mug.pk, 2)
    assert not session.modified
    cart.add(mug.pk, 1)  # the cart keeps changing after a save: the stored copy follows
    assert session.modified and session["cart"] == {str(mug.pk): 3}
    session.modified = False
    Cart(session).clear()
    assert session.modified and session["cart"] == {}
    session.modified = False
    Cart(session).clear()
    assert not session.modified


def test_add_refuses_more_than_the_limit(mug):
    cart = Cart(FakeSession())
    cart.add(mug.pk, MAX_QUANTITY)
    with pytest.raises(CartError, match="at most"):
        cart.add(mug.pk, 1)
    assert cart.count == MAX_QUANTITY


@pytest.mark.parametrize("product_id", [999999, "nope", None, ""])
def test_add_unknown_product(db, product_id):
    cart = Cart(FakeSession())
    with pytest.raises(CartError, match="not available"):
        cart.add(product_id, 1)
    assert cart.count == 0


def test_add_inactive_product_is_refused(mug):
    mug.is_active = False
    mug.save()
    with pytest.raises(CartError):
        Cart(FakeSession()).add(mug.pk, 1)


def test_add_non_integer_quantity(mug):
    cart = Cart(FakeSession())
    with pytest.raises(CartError, match="whole number"):
        cart.add(mug.pk, "two")
    assert cart.count == 0


def test_set_replaces_and_zero_removes(mug):
    cart = Cart(FakeSession())
    cart.add(mug.pk, 2)
    cart.set(mug.pk, 7)
    assert cart.count == 7
    cart.set(mug.pk, 0)
    assert cart.count == 0
    assert not cart


def test_set_out_of_range_keeps_the_line(mug):
    cart = Cart(FakeSession())
    cart.add(mug.pk, 2)
    for bad in ("-1", MAX_QUANTITY + 1, "x"):
        with pytest.raises(CartError):
            cart.set(mug.pk, bad)
    assert cart.count == 2


def test_remove_and_clear(mug):
    from tests.factories import make_product

    other = make_product()
    cart = Cart(FakeSession())
    cart.add(mug.pk, 1)
    cart.add(other.pk, 1)
    cart.remove(mug.pk)
    cart.remove(123456)  # unknown ids are simply not there
    assert [line.product for line in cart.lines()] == [other]
    cart.clear()
    assert cart.count == 0


def test_withdrawn_product_leaves_the_cart(mug):
    cart = Cart(FakeSession())
    cart.add(mug.pk, 1)
    Product.objects.filter(pk=mug.pk).update(is_active=False)
    assert cart.lines() == []
