"""Template filters for showing money, VAT rates, subscription intervals and countries to shoppers."""
from django import template

from ..forms import COUNTRY_NAMES
from ..pricing import format_interval, format_minor, format_percent

register = template.Library()


@register.filter
def money(amount, currency):
    """`{{ order.total|money:order.currency }}` → '€ 12.34'. Empty for a missing amount."""
    if amount is None or amount == "":
        return ""
    return format_minor(int(amount), currency)


@register.filter
def every(item):
    """`{{ product|every }}` → 'every month', 'every 3 months' for anything with `interval` and
    `interval_count` (a Product, an OrderLine, a Subscription); empty for one-off goods.
    The wording is shop.pricing.format_interval, shared with admin."""
    return format_interval(getattr(item, "interval", ""), getattr(item, "interval_count", None))


@register.filter
def percent(basis_points):
    """VAT rate in basis points as shoppers read it: 2100 → '21 %', 550 → '5.5 %'."""
    return format_percent(basis_points)


@register.filter
def country_name(code):
    """'NL' → 'Netherlands'; a code without a known name is shown as it is."""
    return COUNTRY_NAMES.get(code, code)
