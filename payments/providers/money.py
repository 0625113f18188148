"""Money as the shop and the providers write it: integer minor units, providers' decimal strings, and the
one display format shoppers and merchants read (used by both shop and payments admin)."""
import re
from decimal import Decimal, InvalidOperation

DECIMAL_RE = re.compile(r"^-?\d{0,10}(?:\.\d{0,2})?$")


def to_decimal_string(amount: int) -> str:
    """1999 → '19.99' (29 Next money format)."""
    if not isinstance(amount, int):
        raise TypeError("money is an int in minor units")
    sign = "-" if amount < 0 else ""
    major, minor = divmod(abs(amount), 100)
    return f"{sign}{major}.{minor:02d}"


def from_decimal_string(value) -> int:
    """'19.99' → 1999. Raises ValueError on anything that is not an exact 2-decimal amount."""
    text = str(value).strip()
    if not text or not DECIMAL_RE.match(text) or text in {"-", ".", "-."}:
        raise ValueError(f"not a money amount: {value!r}")
    try:
        cents = Decimal(text) * 100
    except InvalidOperation:
        raise ValueError(f"not a money amount: {value!r}") from None
    if cents != cents.to_integral_value():
        raise ValueError(f"more than two decimals: {value!r}")
    return int(cents)


def format_minor(amount: int, currency: str) -> str:
    """'€ 12.34'-style display string for shoppers and admin."""
    symbols = {"EUR": "€", "USD": "$", "GBP": "£", "SEK": "kr", "NOK": "kr", "DKK": "kr"}
    sign = "-" if amount < 0 else ""
    major, minor = divmod(abs(amount), 100)
    symbol = symbols.get(currency, currency)
    return f"{sign}{symbol}\u00a0{major:,}.{minor:02d}"
