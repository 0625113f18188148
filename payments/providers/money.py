"""Conversions between our integer minor units and providers' decimal strings (display: common.money)."""
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
