"""VAT arithmetic on VAT-inclusive prices, in integer minor units, and the wording of prices and
billing intervals that shoppers and merchants read.

The VAT contained in a gross amount is gross × rate / (1 + rate), rounded half up to the cent, computed
on each line total (not per unit) so that line VAT differs from the exact figure by at most half a cent.

Merchants type amounts as decimals ('19.90') and rates as percentages ('21'); parse_amount and
parse_percent turn them into the integers we store, exactly, or say in a sentence why they cannot.
"""
from common.money import (  # noqa: F401  (the shop's wording of money lives in common)
    CURRENCY_EXPONENTS,
    CURRENCY_SYMBOLS,
    MAX_MINOR,
    AmountError,
    format_interval,
    format_minor,
    format_minor_input,
    format_percent,
    format_percent_input,
    minor_exponent,
    parse_amount,
    parse_percent,
)


def vat_included(gross: int, rate_bp: int) -> int:
    """VAT contained in `gross` (minor units) at `rate_bp` basis points, rounded half up."""
    if gross < 0 or rate_bp < 0:
        raise ValueError("amounts and rates are never negative")
    # Integer half-up rounding of gross*rate/(10000+rate): no floats touch money.
    numerator = gross * rate_bp * 2 + (10000 + rate_bp)
    return numerator // ((10000 + rate_bp) * 2)

