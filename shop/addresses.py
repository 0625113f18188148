"""What a real address looks like, per country: postcode formats and the least a street and city need.

Klarna and 29 Next take whatever we send and either refuse it late (after the shopper was redirected)
or, worse, accept postcode "!!", street "x", city "y" and leave the merchant with a parcel that cannot be
delivered. These checks run in the checkout form, where the shopper can still fix a typo.

Postcodes follow each country's national postal format (the postal operators' published formats, as
collected in the UPU's addressing guides). What the shopper typed is normalised where the format makes
the meaning unambiguous: case, spaces and hyphens are the operator's canonical ones ("1015cj" →
"1015 CJ", "12345" → "123 45" in Sweden), and a leading country prefix ("D-10115", "NL-1015 CJ") is
dropped. Countries without an entry get a lenient generic check, so adding one to SHOP_COUNTRIES never
turns checkout away.
"""
import re
import unicodedata
from dataclasses import dataclass

from django.core.exceptions import ValidationError

# English names for the countries a shop is likely to sell to; an unknown code is shown as itself,
# so adding a country to SHOP_COUNTRIES never needs a code change here.
COUNTRY_NAMES = {
    "AT": "Austria", "BE": "Belgium", "CH": "Switzerland", "CZ": "Czechia", "DE": "Germany",
    "DK": "Denmark", "ES": "Spain", "FI": "Finland", "FR": "France", "GB": "United Kingdom",
    "GR": "Greece", "IE": "Ireland", "IT": "Italy", "NL": "Netherlands", "NO": "Norway",
    "PL": "Poland", "PT": "Portugal", "SE": "Sweden", "US": "United States",
}


@dataclass(frozen=True)
class PostcodeFormat:
    """`pattern` matches the postcode with spaces and hyphens removed; its groups, joined by `joiner`
    (skipping an absent optional group), are the canonical form."""

    pattern: re.Pattern
    joiner: str
    what: str      # "a Dutch postcode"
    example: str
    shape: str     # how it is built, for the error message


def _fmt(pattern, joiner, what, example, shape):
    return PostcodeFormat(re.compile(pattern), joiner, what, example, shape)


POSTCODES = {
    # 4 digits (no leading 0) and 2 letters; PostNL never issues SA, SD or SS.
    "NL": _fmt(r"^([1-9][0-9]{3})((?!SA|SD|SS)[A-Z]{2})$", " ", "a Dutch postcode", "1015 CJ",
               "four digits and two letters"),
    "DE": _fmt(r"^((?!00)[0-9]{5})$", "", "a German postcode", "10115", "five digits"),
    "AT": _fmt(r"^([1-9][0-9]{3})$", "", "an Austrian postcode", "1010", "four digits"),
    "BE": _fmt(r"^([1-9][0-9]{3})$", "", "a Belgian postcode", "1000", "four digits"),
    "CH": _fmt(r"^([1-9][0-9]{3})$", "", "a Swiss postcode", "8001", "four digits"),
    "DK": _fmt(r"^([0-9]{4})$", "", "a Danish postcode", "1050", "four digits"),
    "NO": _fmt(r"^([0-9]{4})$", "", "a Norwegian postcode", "0150", "four digits"),
    "FI": _fmt(r"^([0-9]{5})$", "", "a Finnish postcode", "00100", "five digits"),
    "SE": _fmt(r"^([1-9][0-9]{2})([0-9]{2})$", " ", "a Swedish postcode", "114 55",
               "five digits, written 123 45"),
    # The first two digits are the province, 01 to 52.
    "ES": _fmt(r"^((?:0[1-9]|[1-4][0-9]|5[0-2])[0-9]{3})$", "", "a Spanish postcode", "28013",
               "five digits starting with the province number 01 to 52"),
    "IT": _fmt(r"^([0-9]{5})$", "", "an Italian postcode (CAP)", "00184", "five digits"),
    "FR": _fmt(r"^((?!00)[0-9]{5})$", "", "a French postcode", "75008", "five digits"),
    "CZ": _fmt(r"^([1-7][0-9]{2})([0-9]{2})$", " ", "a Czech postcode", "110 00",
               "five digits, written 123 45"),
    "GR": _fmt(r"^([1-8][0-9]{2})([0-9]{2})$", " ", "a Greek postcode", "105 57",
               "five digits, written 123 45"),
    "PL": _fmt(r"^([0-9]{2})([0-9]{3})$", "-", "a Polish postcode", "00-950", "five digits, written 12-345"),
    "PT": _fmt(r"^([1-9][0-9]{3})([0-9]{3})$", "-", "a Portuguese postcode", "1100-148",
               "seven digits, written 1234-567"),
    # Outward code (area, district) and inward code (sector digit, unit letters); GIR 0AA is Girobank's.
    "GB": _fmt(r"^([A-Z]{1,2}[0-9][A-Z0-9]?|GIR)([0-9][A-Z]{2})$", " ", "a UK postcode", "SW1A 1AA",
               "like SW1A 1AA or M1 1AE"),
    # Eircode: routing key (letter and two digits, or D6W) and a four-character unique identifier.
    "IE": _fmt(r"^([AC-FHKNPRTV-Y][0-9]{2}|D6W)([0-9AC-FHKNPRTV-Y]{4})$", " ", "an Irish Eircode", "D02 X285",
               "seven characters like D02 X285"),
    "US": _fmt(r"^([0-9]{5})([0-9]{4})?$", "-", "a US ZIP code", "10001", "five digits, or ZIP+4 like 10001-1234"),
}

# Where an address line without a house number is an ordinary address (named houses in the UK and
# Ireland); everywhere else a street line carries a number, and Klarna expects it there.
NO_HOUSE_NUMBER_NEEDED = {"GB", "IE"}

# Mannheim's city-centre squares are addressed by block and number ("Q7 5", "N 1, 12"): one letter only.
_MANNHEIM_SQUARE = re.compile(r"^[A-Ua-u]\s?[0-9]{1,2},?\s+[0-9]+[A-Za-z]?$")
_CITY_PUNCTUATION = set(" -'’.,()/&")
_SEPARATORS = re.compile(r"[\s\-]+")


def _letters(text):
    return sum(1 for ch in text if ch.isalpha())


# Bidirectional overrides, embeddings and isolates: invisible, and they make a label or a log line read in
# another order than it is written.
_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _has_control_characters(text):
    return any(unicodedata.category(ch) == "Cc" or ch in _BIDI_CONTROLS for ch in text)


def normalise_postcode(raw: str, country: str) -> str:
    """The postcode in `country`'s canonical form ('1015cj', 'NL' → '1015 CJ'), or ValidationError
    (code 'postcode_invalid') whose message shows the country's format with an example."""
    text = (raw or "").strip().upper()
    if _has_control_characters(text):
        raise ValidationError("Enter the postcode with letters and digits only.", code="postcode_invalid")
    spec = POSTCODES.get(country)
    # A country prefix as written on European envelopes ("NL-1015 CJ", "D-10115"): the selected country
    # already says it.
    prefixes = {country, {"DE": "D", "AT": "A", "FI": "FIN", "SE": "S", "CH": "CH", "NO": "N", "IT": "I",
                          "FR": "F", "BE": "B", "ES": "E", "DK": "DK"}.get(country, country)}
    for prefix in prefixes:
        if re.match(rf"^{prefix}\s*-\s*\S", text):
            text = text.split("-", 1)[1]
            break
    compact = _SEPARATORS.sub("", text)
    if spec is None:
        if 2 <= len(compact) <= 10 and compact.isascii() and compact.isalnum() and any(c.isdigit() for c in compact):
            return re.sub(r"\s+", " ", text).strip()
        raise ValidationError("Enter the postcode with letters and digits, e.g. 12345.", code="postcode_invalid")
    match = spec.pattern.match(compact)
    if not match:
        raise ValidationError(f"Enter {spec.what}: {spec.shape}, e.g. {spec.example}.", code="postcode_invalid")
    return spec.joiner.join(group for group in match.groups() if group)


def check_street(line: str, country: str) -> None:
    """ValidationError unless `line` looks like a street address: some letters (a street name) and, where
    the country writes one, a house number. 'x', '!!' and '12' are not streets."""
    if _has_control_characters(line):
        raise ValidationError("Remove the special characters from the street.", code="street_invalid")
    if _letters(line) < 2 and not (country == "DE" and _MANNHEIM_SQUARE.match(line.strip())):
        raise ValidationError("Enter the street name and house number, e.g. Keizersgracht 1.",
                              code="street_invalid")
    if country not in NO_HOUSE_NUMBER_NEEDED and not any(ch.isdigit() for ch in line):
        raise ValidationError("Add the house number to the street, e.g. Keizersgracht 1.",
                              code="house_number_missing")


def check_line2(line: str) -> None:
    """ValidationError when the optional second address line holds characters no label should print."""
    if _has_control_characters(line):
        raise ValidationError("Remove the special characters from this address line.", code="line2_invalid")


def check_city(city: str) -> None:
    """ValidationError unless `city` is a place name: at least two letters, and nothing but letters,
    digits (Paris 15), spaces and the punctuation place names use ('s-Hertogenbosch, Frankfurt (Oder))."""
    if (_letters(city) < 2 or _has_control_characters(city)
            or any(not (ch.isalnum() or unicodedata.category(ch).startswith("M") or ch in _CITY_PUNCTUATION)
                   for ch in city)):
        raise ValidationError("Enter the name of your city or town, e.g. Amsterdam.", code="city_invalid")


def check_name(name: str) -> None:
    """ValidationError unless a person's name contains a letter (Klarna checks names against the
    shopper's identity; '!!' or '1' would only fail there)."""
    if not any(ch.isalpha() for ch in name) or _has_control_characters(name):
        raise ValidationError("Enter your name as it appears on your ID.", code="name_invalid")
