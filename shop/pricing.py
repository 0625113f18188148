"""VAT arithmetic on VAT-inclusive prices, in integer minor units.

The VAT contained in a gross amount is gross × rate / (1 + rate), rounded half up to the cent, computed
on each line total (not per unit) so that line VAT differs from the exact figure by at most half a cent.
"""
from payments.providers.money import format_minor  # noqa: F401  (money display is shared with admin)


def vat_included(gross: int, rate_bp: int) -> int:
    """VAT contained in `gross` (minor units) at `rate_bp` basis points, rounded half up."""
    if gross < 0 or rate_bp < 0:
        raise ValueError("amounts and rates are never negative")
    # Integer half-up rounding of gross*rate/(10000+rate): no floats touch money.
    numerator = gross * rate_bp * 2 + (10000 + rate_bp)
    return numerator // ((10000 + rate_bp) * 2)
