"""Checkout and retry forms, and the form fields merchants type money and rates into.

The forms only validate and normalise what the shopper typed; placing the order and starting the
payment are services (shop.orders, payments.services). Routes are passed in by the view so the form
never decides which payment methods the merchant enabled.
"""
import re
from datetime import date

from django import forms
from django.conf import settings

from common.fields import MoneyField, PercentField  # noqa: F401  (used by shop and payments admin)
from payments.providers.types import Address
from payments.selectors import route_detail_problems

from .addresses import COUNTRY_NAMES, check_city, check_line2, check_name, check_street, normalise_postcode

# Separators people type inside phone numbers; they carry no meaning in E.164.
PHONE_SEPARATORS = re.compile(r"[\s\-./()]")
E164 = re.compile(r"^\+[1-9]\d{7,14}$")
PHONE_HELP = "With country code, e.g. +31 6 1234 5678."
ADULT_AGE = 18

BILLING_REQUIRED = (
    "billing_first_name", "billing_last_name", "billing_line1", "billing_city", "billing_postcode",
    "billing_country",
)
BILLING_FIELDS = BILLING_REQUIRED + ("billing_line2",)


def country_choices():
    return [(code, COUNTRY_NAMES.get(code, code)) for code in settings.SHOP_COUNTRIES]


def normalise_phone(raw: str) -> str:
    """'+31 6 1234 5678' → '+31612345678'. Raises ValidationError when it cannot be E.164.

    Klarna and 29 Next both want E.164; asking for the country code up front is kinder than a
    provider rejection after the shopper has been redirected.
    """
    compact = PHONE_SEPARATORS.sub("", raw or "")
    if not compact.startswith("+"):
        raise forms.ValidationError(
            "Start your phone number with + and the country code, e.g. +31 6 1234 5678.",
            code="phone_no_plus",
        )
    if not E164.match(compact):
        raise forms.ValidationError(
            "Enter a phone number of 8 to 15 digits after the +, e.g. +31 6 1234 5678.",
            code="phone_invalid",
        )
    return compact


def check_address(form, cleaned, prefix, name_fields):
    """Check the names, street, city and postcode of one address on `form` (shop.addresses) against the
    country chosen with it, each problem on its own field; the postcode is stored in the country's
    canonical form. Shared by checkout and the order admin, so customer service cannot type in what
    checkout refuses."""
    country = cleaned.get(f"{prefix}_country")
    checks = [(name, check_name) for name in name_fields]
    checks += [(f"{prefix}_city", check_city), (f"{prefix}_line1", lambda line: check_street(line, country)),
               (f"{prefix}_line2", check_line2)]
    for name, check in checks:
        if cleaned.get(name):
            try:
                check(cleaned[name])
            except forms.ValidationError as exc:
                form.add_error(name, exc)
    postcode = cleaned.get(f"{prefix}_postcode")
    if postcode and country:
        try:
            cleaned[f"{prefix}_postcode"] = normalise_postcode(postcode, country)
        except forms.ValidationError as exc:
            form.add_error(f"{prefix}_postcode", exc)


class RouteSelect(forms.RadioSelect):
    """Radio buttons whose options also carry the route's description (as `radio.data.description`) and
    the shopper details the route asks for (`data-asks`, which the page uses to show those fields)."""

    def __init__(self, *args, descriptions=None, asks=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.descriptions = descriptions or {}
        self.asks = asks or {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        option["description"] = self.descriptions.get(value, "")
        if self.asks.get(value):
            option["attrs"]["data-asks"] = " ".join(sorted(self.asks[value]))
        return option


class RouteFormMixin:
    """Adds the `route` radio field over the adapters the view passes in."""

    def add_route_field(self, routes):
        self.routes = {route.key: route for route in routes}
        choices = [(route.key, route.display_name) for route in routes]
        field = forms.ChoiceField(
            label="Payment method", choices=choices,
            widget=RouteSelect(descriptions={route.key: _route_note(route) for route in routes},
                               asks={route.key: route.customer_fields for route in routes}),
            error_messages={
                "required": "Choose how you want to pay.",
                "invalid_choice": "That payment method is not available. Please choose another one.",
            },
        )
        # With a single route there is nothing to choose; preselect it so one click is enough.
        if len(choices) == 1:
            field.initial = choices[0][0]
        self.fields["route"] = field


def _route_note(route) -> str:
    """The route's description, plus the shop countries it cannot take the shop's currency from, so the
    shopper knows before choosing."""
    missing = [COUNTRY_NAMES.get(code, code) for code in settings.SHOP_COUNTRIES if not route.serves_country(code)]
    if not missing:
        return route.description
    return f"{route.description} Not available for billing addresses in {', '.join(missing)}."


def check_route_serves(form, cleaned, country):
    """The chosen route must take the shop's currency from the billing country (Klarna takes each country
    only in its own currency): a clear error on the form, never a request the provider refuses."""
    route = getattr(form, "routes", {}).get(cleaned.get("route"))
    if route is not None and country and not route.serves_country(country):
        form.add_error("route", f"{route.display_name} cannot take payments in {settings.SHOP_CURRENCY} from "
                                f"{COUNTRY_NAMES.get(country, country)}. Please choose another payment method.")


def check_customer_fields(form, cleaned):
    """The shopper details the chosen route needs (RouteChoice.customer_fields) are required; those it does
    not need are dropped, so the order keeps no personal data it has no use for."""
    route = getattr(form, "routes", {}).get(cleaned.get("route"))
    needed = route.customer_fields if route is not None else frozenset()
    for name, empty in (("birthday", None), ("gender", "")):
        if name not in needed:
            cleaned[name] = empty
            form.errors.pop(name, None)
        elif not cleaned.get(name) and name not in form.errors:
            form.add_error(name, f"{route.display_name} needs this. Fill it in or choose another payment method.")


# The form field holding each detail of the two addresses (payments Address; DetailProblem.address, .field).
DETAIL_FIELDS = {
    "shipping": {"first_name": "first_name", "last_name": "last_name", "line1": "shipping_line1",
                 "line2": "shipping_line2", "city": "shipping_city", "postcode": "shipping_postcode",
                 "country": "shipping_country"},
    "billing": {"first_name": "billing_first_name", "last_name": "billing_last_name", "line1": "billing_line1",
                "line2": "billing_line2", "city": "billing_city", "postcode": "billing_postcode",
                "country": "billing_country"},
    "customer": {"email": "email"},
}


def _form_address(cleaned, names) -> Address:
    return Address(**{field: cleaned.get(name) or "" for field, name in names.items()})


def check_route_details(form, cleaned, *, same_billing: bool):
    """What the chosen route's provider cannot take of the addresses and e-mail (a one-letter name, a street
    line in which it finds no house number, a line longer than its spec allows), said on the field, so the
    form and the route agree and no order is placed that the route would then refuse (probe G F6, F7; I I5)."""
    route = getattr(form, "routes", {}).get(cleaned.get("route"))
    if route is not None:
        check_details_for_route(form, cleaned, route.key, same_billing=same_billing)


def check_details_for_route(form, cleaned, route_key: str, *, same_billing: bool, only=None):
    """check_route_details for the route `route_key`; `only`: the form fields to judge (admin judges only the
    details it changes), None for all."""
    shipping = _form_address(cleaned, DETAIL_FIELDS["shipping"])
    billing = shipping if same_billing else _form_address(cleaned, DETAIL_FIELDS["billing"])
    for problem in route_detail_problems(route_key, shipping=shipping, billing=billing,
                                         email=cleaned.get("email") or ""):
        # With one address for both, a billing problem is the shipping field's.
        where = "shipping" if same_billing and problem.address == "billing" else problem.address
        name = DETAIL_FIELDS[where][problem.field]
        if name not in form.errors and (only is None or name in only):
            form.add_error(name, problem.message)


def check_birthday(value):
    """A real date of birth of an adult (Klarna lends only to people of 18 and over)."""
    today = date.today()
    if value > today or value.year < 1900:
        raise forms.ValidationError("Enter your date of birth, e.g. 1985-04-23.", code="birthday_invalid")
    if (today.year - value.year - ((today.month, today.day) < (value.month, value.day))) < ADULT_AGE:
        raise forms.ValidationError(f"You must be {ADULT_AGE} or older to pay later.", code="birthday_minor")
    return value


def _text(label, max_length, *, required=True, autocomplete=None, **attrs):
    if autocomplete:
        attrs["autocomplete"] = autocomplete
    return forms.CharField(
        label=label, max_length=max_length, required=required, strip=True,
        widget=forms.TextInput(attrs=attrs),
    )


class CheckoutForm(RouteFormMixin, forms.Form):
    email = forms.EmailField(
        label="Email", max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "inputmode": "email"}),
        error_messages={"required": "Enter your email address so we can send the receipt.",
                        "invalid": "Enter a valid email address, e.g. name@example.com."},
    )
    phone = forms.CharField(
        label="Phone", max_length=32, help_text=PHONE_HELP,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel"}),
        error_messages={"required": "Enter your phone number, e.g. +31 6 1234 5678."},
    )
    first_name = _text("First name", 60, autocomplete="given-name")
    last_name = _text("Last name", 60, autocomplete="family-name")
    shipping_line1 = _text("Street and number", 120, autocomplete="shipping address-line1")
    shipping_line2 = _text("Apartment, floor (optional)", 120, required=False,
                           autocomplete="shipping address-line2")
    shipping_postcode = _text("Postcode", 16, autocomplete="shipping postal-code")
    shipping_city = _text("City", 80, autocomplete="shipping address-level2")
    shipping_country = forms.ChoiceField(
        label="Country", choices=(),
        widget=forms.Select(attrs={"autocomplete": "shipping country"}),
    )
    billing_same_as_shipping = forms.BooleanField(
        label="Billing address is the same as shipping", required=False, initial=True,
    )
    billing_first_name = _text("First name", 60, required=False, autocomplete="billing given-name")
    billing_last_name = _text("Last name", 60, required=False, autocomplete="billing family-name")
    billing_line1 = _text("Street and number", 120, required=False, autocomplete="billing address-line1")
    billing_line2 = _text("Apartment, floor (optional)", 120, required=False,
                          autocomplete="billing address-line2")
    billing_postcode = _text("Postcode", 16, required=False, autocomplete="billing postal-code")
    billing_city = _text("City", 80, required=False, autocomplete="billing address-level2")
    billing_country = forms.ChoiceField(
        label="Country", choices=(), required=False,
        widget=forms.Select(attrs={"autocomplete": "billing country"}),
    )

    # Shown and required only when the chosen route asks for them (see check_customer_fields).
    birthday = forms.DateField(
        label="Date of birth", required=False, validators=[check_birthday],
        widget=forms.DateInput(attrs={"type": "date", "autocomplete": "bday"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter your date of birth, e.g. 1985-04-23."},
    )
    gender = forms.ChoiceField(
        label="Title", required=False, choices=[("", "Choose"), ("female", "Ms"), ("male", "Mr")],
        widget=forms.Select(attrs={"autocomplete": "honorific-prefix"}),
    )

    def __init__(self, *args, routes, **kwargs):
        super().__init__(*args, **kwargs)
        countries = country_choices()
        self.fields["shipping_country"].choices = countries
        self.fields["billing_country"].choices = [("", "Choose a country")] + countries
        self.add_route_field(routes)

    def clean_phone(self):
        return normalise_phone(self.cleaned_data["phone"])

    def clean(self):
        cleaned = super().clean()
        check_customer_fields(self, cleaned)
        if cleaned.get("billing_same_as_shipping"):
            # Stale billing fields from an earlier attempt must not end up on the order.
            for name in BILLING_FIELDS:
                cleaned[name] = ""
            check_address(self, cleaned, "shipping", ("first_name", "last_name"))
            check_route_serves(self, cleaned, cleaned.get("shipping_country"))
            check_route_details(self, cleaned, same_billing=True)
            return cleaned
        for name in BILLING_REQUIRED:
            if not cleaned.get(name) and name not in self.errors:
                self.add_error(name, "Required when the billing address is different.")
        check_address(self, cleaned, "shipping", ("first_name", "last_name"))
        check_address(self, cleaned, "billing", ("billing_first_name", "billing_last_name"))
        check_route_serves(self, cleaned, cleaned.get("billing_country"))
        check_route_details(self, cleaned, same_billing=False)
        return cleaned

    def details(self) -> dict:
        """The cleaned address details without the route: what the session remembers for next time (a date
        as its ISO text, so the session can store it)."""
        return {name: value.isoformat() if isinstance(value, date) else value
                for name, value in self.cleaned_data.items() if name != "route"}

    def customer_fields(self):
        return [self["birthday"], self["gender"]]

    def shipping_fields(self):
        return [self[name] for name in (
            "shipping_line1", "shipping_line2", "shipping_postcode", "shipping_city", "shipping_country")]

    def billing_fields(self):
        return [self[name] for name in (
            "billing_first_name", "billing_last_name", "billing_line1", "billing_line2",
            "billing_postcode", "billing_city", "billing_country")]


class RetryForm(RouteFormMixin, forms.Form):
    """Try the payment of an existing order again, possibly with another route."""

    def __init__(self, *args, routes, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_route_field(routes)
