"""Money and rates typed by merchants (issue 8, item 9): decimals in, exact minor units out, clear refusals."""
import pytest
from django import forms

from shop.forms import MoneyField, PercentField
from shop.pricing import (
    AmountError,
    format_minor,
    format_minor_input,
    format_percent_input,
    minor_exponent,
    parse_amount,
    parse_percent,
)


@pytest.mark.parametrize("text, currency, expected", [
    ("19.90", "EUR", 1990),
    ("19,90", "EUR", 1990),        # decimal comma, as typed in most of the EU
    ("19.9", "EUR", 1990),
    ("19", "EUR", 1900),
    ("19.", "EUR", 1900),
    (".5", "EUR", 50),
    ("0", "EUR", 0),
    ("0.01", "EUR", 1),
    (" 12.90 ", "EUR", 1290),
    ("€ 12.90", "EUR", 1290),      # pasted from a list page
    ("€\u00a01,234.56", "EUR", 123456),
    ("12.90 EUR", "EUR", 1290),
    ("kr 99.50", "SEK", 9950),
    ("1234567.89", "EUR", 123456789),
    ("21474836.47", "EUR", 2147483647),
    ("1500", "JPY", 1500),         # no minor unit
    ("1.234", "KWD", 1234),        # three decimals
    ("0.29", "EUR", 29),           # 0.29 * 100 is 28.999… in floats: never touched here
])
def test_parse_amount_is_exact(text, currency, expected):
    assert parse_amount(text, currency) == expected


@pytest.mark.parametrize("text, currency, message", [
    ("12.345", "EUR", "at most 2 decimals"),
    ("12.900", "EUR", "at most 2 decimals"),
    ("12.5", "JPY", "no decimals"),
    ("1.2345", "KWD", "at most 3 decimals"),
    ("-5", "EUR", "negative"),
    ("€ -5.00", "EUR", "negative"),
    ("\u22125", "EUR", "negative"),
    ("12\x0090", "EUR", "plain text"),
    ("12.90\n", "EUR", "plain text"),
    ("", "EUR", "Enter an amount"),
    ("€", "EUR", "Enter an amount"),
    ("abc", "EUR", "Enter an amount in EUR"),
    ("1e3", "EUR", "Enter an amount in EUR"),
    ("12.90.1", "EUR", "Enter an amount in EUR"),
    ("١٢", "EUR", "Enter an amount in EUR"),   # non-ASCII digits that int() would take
    ("$ 12", "EUR", "Enter an amount in EUR"),  # another currency's symbol
    ("NaN", "EUR", "Enter an amount in EUR"),
    ("1,234", "EUR", "could be read two ways"),
    ("1.234,56", "EUR", "Enter an amount in EUR"),
    ("21474836.48", "EUR", "at most"),
])
def test_parse_amount_refuses_with_a_sentence(text, currency, message):
    with pytest.raises(AmountError, match=message):
        parse_amount(text, currency)


@pytest.mark.parametrize("amount, currency", [(0, "EUR"), (1, "EUR"), (1990, "EUR"), (123456789, "SEK"),
                                              (1500, "JPY"), (1234, "KWD")])
def test_input_format_reads_back_to_the_same_amount(amount, currency):
    assert parse_amount(format_minor_input(amount, currency), currency) == amount
    assert parse_amount(format_minor(amount, currency), currency) == amount


def test_format_minor_follows_the_currency_exponent():
    assert minor_exponent("EUR") == 2 and minor_exponent("jpy") == 0 and minor_exponent("KWD") == 3
    assert format_minor(1500, "JPY") == "JPY\u00a01,500"
    assert format_minor(1234, "KWD") == "KWD\u00a01.234"
    assert format_minor_input(1990, "EUR") == "19.90" and format_minor_input(5, "EUR") == "0.05"


@pytest.mark.parametrize("text, expected", [("21", 2100), ("21 %", 2100), ("21%", 2100), ("5.5", 550),
                                            ("5,5", 550), ("12.25", 1225), ("0", 0), ("100", 10000),
                                            ("9\u00a0%", 900)])
def test_parse_percent(text, expected):
    assert parse_percent(text) == expected
    assert parse_percent(format_percent_input(expected)) == expected


@pytest.mark.parametrize("text, message", [("-21", "negative"), ("21.125", "two decimals"),
                                           ("101", "at most 100"), ("abc", "percentage"),
                                           ("2\x001", "plain text"), ("", "percentage")])
def test_parse_percent_refuses(text, message):
    with pytest.raises(AmountError, match=message):
        parse_percent(text)


class PriceForm(forms.Form):
    price = MoneyField(min_minor=1)
    discount = MoneyField(required=False)
    vat = PercentField()


def test_money_field_cleans_to_minor_units_and_shows_errors():
    form = PriceForm({"price": "19.90", "discount": "", "vat": "21 %"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data == {"price": 1990, "discount": None, "vat": 2100}

    form = PriceForm({"price": "0", "discount": "1.999", "vat": "abc"})
    assert not form.is_valid()
    assert form.errors["price"] == ["Enter at least €\u00a00.01."]
    assert form.errors["discount"] == ["EUR amounts have at most 2 decimals."]
    assert form.errors["vat"] == ["Enter the rate as a percentage, e.g. 21 or 5.5."]
    assert 'value="1.999"' in str(form["discount"])  # what was typed stays in the box

    too_long = PriceForm({"price": "1" * 40, "vat": "21"})
    assert too_long.errors["price"] == ["Enter at most 32 characters."]


def test_money_field_shows_stored_minor_units_as_currency_and_takes_the_objects_currency():
    form = PriceForm(initial={"price": 1990, "vat": 550})
    assert 'value="19.90"' in str(form["price"]) and 'value="5.5"' in str(form["vat"])
    form = PriceForm({"price": "1500", "vat": "10"})
    form.fields["price"].currency = "JPY"
    assert form.is_valid() and form.cleaned_data["price"] == 1500
    form = PriceForm({"price": "15.00", "vat": "10"})
    form.fields["price"].currency = "JPY"
    assert form.errors["price"] == ["JPY amounts have no decimals."]
