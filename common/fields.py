"""The form fields merchants type money and rates into: text in, exact integers out."""
from django import forms
from django.conf import settings

from .money import AmountError, format_minor, format_minor_input, format_percent_input, parse_amount, parse_percent


class _TypedNumberField(forms.Field):
    """Text in, an integer out, through the subclass's `parse(text)`, which raises AmountError with the
    message the form shows.

    Not a CharField: its length validators would run on the cleaned integer. Length is checked here on
    the text instead, and NUL or other control characters are refused by the parsers."""

    max_text = 32

    def to_python(self, value):
        text = "" if value is None else str(value).strip()
        if text in self.empty_values:
            return None
        if len(text) > self.max_text:
            raise forms.ValidationError(f"Enter at most {self.max_text} characters.", code="too_long")
        try:
            return self.parse(text)
        except AmountError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from None

    def has_changed(self, initial, data):
        try:
            return self.to_python(data) != initial
        except forms.ValidationError:
            return True


class MoneyField(_TypedNumberField):
    """An amount typed in currency ('19.90') and cleaned to integer minor units (1990) of `currency`.

    Every place a merchant types money uses this field, so admin never asks for cents and never rounds:
    shop.pricing.parse_amount converts exactly or refuses with a sentence (too many decimals, negative,
    junk). The currency is often the object's (a payment's, a product's), so it may be set after the
    form is built (`form.fields[name].currency = ...`). An empty optional field cleans to None.
    """

    def __init__(self, *, currency=None, min_minor=0, **kwargs):
        self.currency = currency or settings.SHOP_CURRENCY
        self.min_minor = min_minor
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off",
                                                           "size": 12}))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        # Stored minor units are shown as the merchant would type them; what they typed is kept as typed.
        if isinstance(value, int) and not isinstance(value, bool):
            return format_minor_input(value, self.currency)
        return value

    def parse(self, text):
        amount = parse_amount(text, self.currency)
        if amount < self.min_minor:
            raise AmountError(f"Enter at least {format_minor(self.min_minor, self.currency)}.")
        return amount


class PercentField(_TypedNumberField):
    """A rate typed as a percentage ('21', '5.5 %') and cleaned to basis points (2100, 550), exactly."""

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "decimal", "size": 6}))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, int) and not isinstance(value, bool):
            return format_percent_input(value)
        return value

    def parse(self, text):
        return parse_percent(text)
