"""Money and rates as people read and type them, in integer minor units, and billing intervals in words.

Shared by the storefront (prices, cart, confirmation) and payments admin (captures, refunds), so a merchant
and a shopper always see an amount written the same way.
"""
import re

CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "SEK": "kr", "NOK": "kr", "DKK": "kr"}
# ISO 4217 minor-unit exponents that differ from the usual 2 (cents): a yen has no minor unit, a
# Kuwaiti dinar has 1000 fils. Everything else the shop may meet has 2.
CURRENCY_EXPONENTS = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0,
                      "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3}
# The largest amount a PositiveIntegerField holds on every database we run on.
MAX_MINOR = 2_147_483_647


def minor_exponent(currency: str) -> int:
    """How many decimals `currency` has: 2 for EUR (cents), 0 for JPY, 3 for KWD."""
    return CURRENCY_EXPONENTS.get((currency or "").upper(), 2)


def format_minor(amount: int, currency: str) -> str:
    """'€ 12.34'-style display string for shoppers and admin."""
    sign = "-" if amount < 0 else ""
    symbol = CURRENCY_SYMBOLS.get(currency, currency)
    return f"{sign}{symbol}\u00a0{_grouped(abs(amount), currency)}"


def format_minor_input(amount: int, currency: str) -> str:
    """1990 → '19.90': an amount as a merchant types it (no symbol, no grouping), so a form shows stored
    minor units in the same form parse_amount reads back."""
    exponent = minor_exponent(currency)
    major, minor = divmod(abs(amount), 10 ** exponent)
    sign = "-" if amount < 0 else ""
    return f"{sign}{major}.{minor:0{exponent}d}" if exponent else f"{sign}{major}"


def _grouped(amount: int, currency: str) -> str:
    exponent = minor_exponent(currency)
    major, minor = divmod(amount, 10 ** exponent)
    return f"{major:,}.{minor:0{exponent}d}" if exponent else f"{major:,}"


class AmountError(ValueError):
    """Typed text that is not an amount of the currency; str() is the message for the form."""


# Digits are ASCII only: Python's \d and int() also accept other scripts' digits, which no merchant means.
_PLAIN = re.compile(r"^(?P<major>[0-9]*)(?:(?P<sep>[.,])(?P<minor>[0-9]*))?$")
# '1,234.56' as format_minor writes it (comma groups, point decimals), pasted back from a list page.
_GROUPED = re.compile(r"^(?P<major>[0-9]{1,3}(?:,[0-9]{3})+)(?:\.(?P<minor>[0-9]*))?$")


def parse_amount(text, currency: str) -> int:
    """'19.90' (or '19,90', '€ 19.90', '1,234.50', '19') → 1990 minor units of `currency`, exactly.

    Raises AmountError for anything that is not a non-negative amount with at most the currency's
    decimals: junk, NUL or other control characters, a minus sign, '12.345' in euros, a comma followed by
    exactly three digits ('1,234' could mean 1234 or 1.234, so neither is guessed), or more than
    MAX_MINOR. Integer arithmetic only, so no amount is ever rounded.
    """
    exponent = minor_exponent(currency)
    raw = "" if text is None else str(text)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in raw):
        raise AmountError("Enter the amount as plain text, e.g. 12.90.")
    compact = raw.replace("\u00a0", " ").strip()
    for mark in sorted({CURRENCY_SYMBOLS.get(currency, ""), (currency or "").upper()} - {""}, key=len,
                       reverse=True):
        if compact.upper().startswith(mark.upper()):
            compact = compact[len(mark):]
        elif compact.upper().endswith(mark.upper()):
            compact = compact[:-len(mark)]
    compact = compact.strip()
    if compact.startswith("-") or compact.startswith("\u2212"):
        raise AmountError("Enter an amount of zero or more; negative amounts are not possible here.")
    if not compact:
        raise AmountError("Enter an amount, e.g. 12.90.")
    match = _GROUPED.match(compact)
    # Comma groups count only with a decimal point after them (as format_minor writes) or in a currency
    # without decimals; otherwise '1,234' is the ambiguous case below.
    if match and (match["minor"] is not None or exponent == 0):
        major, minor = match["major"].replace(",", ""), match["minor"] or ""
    else:
        match = _PLAIN.match(compact)
        if not match or not (match["major"] or match["minor"]):
            raise AmountError(f"Enter an amount in {currency} with digits and at most one decimal point, "
                              f"e.g. {format_minor_input(1290, currency)}.")
        major, minor = match["major"], match["minor"] or ""
        if match["sep"] == "," and len(minor) == 3 and 0 < exponent < 3:
            raise AmountError(f"'{compact}' could be read two ways: use a point for decimals (e.g. 12.90) "
                              "and no thousands separator.")
    if len(minor) > exponent:
        raise AmountError(f"{currency} amounts have at most {exponent} decimal{'s' if exponent != 1 else ''}."
                          if exponent else f"{currency} amounts have no decimals.")
    if len(major.lstrip("0")) > 12:
        raise AmountError(f"Enter an amount of at most {format_minor(MAX_MINOR, currency)}.")
    value = int(major or "0") * 10 ** exponent + int(minor.ljust(exponent, "0") or "0")
    if value > MAX_MINOR:
        raise AmountError(f"Enter an amount of at most {format_minor(MAX_MINOR, currency)}.")
    return value


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


def format_percent(basis_points: int) -> str:
    """A rate in basis points as people read it: 2100 → '21 %', 550 → '5.5 %', 1225 → '12.25 %'."""
    whole, rest = divmod(int(basis_points), 100)
    if not rest:
        return f"{whole}\u00a0%"
    return f"{whole}.{rest:02d}".rstrip("0") + "\u00a0%"


def format_percent_input(basis_points: int) -> str:
    """2100 → '21', 550 → '5.5': a rate as a merchant types it into a form."""
    return format_percent(basis_points).removesuffix("\u00a0%")


_PERCENT = re.compile(r"^(?P<whole>[0-9]{1,3})(?:[.,](?P<part>[0-9]*))?$")


def parse_percent(text) -> int:
    """'21' (or '21 %', '5,5', '12.25') → basis points (2100, 550, 1225), exactly.

    Raises AmountError for junk, control characters, negatives, more than two decimals (a basis point
    is the smallest step a VAT rate takes) and rates above 100 %."""
    raw = "" if text is None else str(text)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in raw):
        raise AmountError("Enter the rate as plain text, e.g. 21.")
    compact = raw.replace("\u00a0", " ").strip().removesuffix("%").strip()
    if compact.startswith("-") or compact.startswith("\u2212"):
        raise AmountError("A rate cannot be negative.")
    match = _PERCENT.match(compact)
    if not match:
        raise AmountError("Enter the rate as a percentage, e.g. 21 or 5.5.")
    part = match["part"] or ""
    if len(part) > 2:
        raise AmountError("Enter the rate with at most two decimals, e.g. 5.5 or 12.25.")
    basis_points = int(match["whole"]) * 100 + int(part.ljust(2, "0"))
    if basis_points > 10000:
        raise AmountError("A rate is at most 100 %.")
    return basis_points
