"""VAT arithmetic on VAT-inclusive prices, in integer minor units, and the wording of prices and
billing intervals that shoppers and merchants read.

The VAT contained in a gross amount is gross × rate / (1 + rate), rounded half up to the cent, computed
on each line total (not per unit) so that line VAT differs from the exact figure by at most half a cent.
"""


def vat_included(gross: int, rate_bp: int) -> int:
    """VAT contained in `gross` (minor units) at `rate_bp` basis points, rounded half up."""
    if gross < 0 or rate_bp < 0:
        raise ValueError("amounts and rates are never negative")
    # Integer half-up rounding of gross*rate/(10000+rate): no floats touch money.
    numerator = gross * rate_bp * 2 + (10000 + rate_bp)
    return numerator // ((10000 + rate_bp) * 2)


def format_minor(amount: int, currency: str) -> str:
    """'€ 12.34'-style display string for shoppers and admin."""
    symbols = {"EUR": "€", "USD": "$", "GBP": "£", "SEK": "kr", "NOK": "kr", "DKK": "kr"}
    sign = "-" if amount < 0 else ""
    major, minor = divmod(abs(amount), 100)
    symbol = symbols.get(currency, currency)
    return f"{sign}{symbol}\u00a0{major:,}.{minor:02d}"


def format_interval(interval: str, count=1) -> str:
    """How often something renews, in words: ('month', 1) → 'every month', ('month', 3) → 'every 3 months',
    ('week', 2) → 'every 2 weeks'. Empty for one-off goods (no interval).

    The one wording for every page and admin list, so the product page, cart, confirmation and manage
    page can never disagree about a subscription's frequency. Units arrive in either case ("MONTH" from
    Klarna); a missing or zero count means 1 (rows made before the count was stored); a unit we do not
    know is shown as it is rather than hidden.
    """
    unit = (interval or "").strip().lower()
    if not unit:
        return ""
    count = int(count or 1)
    if count == 1:
        return f"every {unit}"
    return f"every {count} {unit}s"
