"""Postcodes per country and the least an address needs (issue 8, item 5)."""
import pytest
from django.core.exceptions import ValidationError

from shop.addresses import POSTCODES, check_city, check_name, check_street, normalise_postcode

# (country, as typed, stored): real addresses, typed the way shoppers type them.
GOOD_POSTCODES = [
    ("NL", "1015 CJ", "1015 CJ"), ("NL", "1015cj", "1015 CJ"), ("NL", " 1015  cj ", "1015 CJ"),
    ("NL", "NL-1015 CJ", "1015 CJ"),
    ("DE", "10115", "10115"), ("DE", "01067", "01067"), ("DE", "D-10115", "10115"), ("DE", "DE-80331", "80331"),
    ("AT", "1010", "1010"), ("AT", "A-6020", "6020"),
    ("BE", "1000", "1000"), ("CH", "8001", "8001"),
    ("FI", "00100", "00100"), ("FI", "FIN-00100", "00100"),
    ("SE", "114 55", "114 55"), ("SE", "11455", "114 55"), ("SE", "S-114 55", "114 55"), ("SE", "SE-11455", "114 55"),
    ("DK", "1050", "1050"), ("DK", "DK-8000", "8000"), ("NO", "0150", "0150"),
    ("ES", "28013", "28013"), ("ES", "08001", "08001"), ("ES", "52001", "52001"),
    ("IT", "00184", "00184"), ("FR", "75008", "75008"), ("FR", "20000", "20000"),
    ("CZ", "110 00", "110 00"), ("CZ", "11000", "110 00"), ("GR", "10557", "105 57"),
    ("PL", "00-950", "00-950"), ("PL", "00950", "00-950"), ("PT", "1100148", "1100-148"),
    ("GB", "sw1a1aa", "SW1A 1AA"), ("GB", "M1 1AE", "M1 1AE"), ("GB", "EC1A 1BB", "EC1A 1BB"),
    ("IE", "d02x285", "D02 X285"), ("IE", "D6W 1234", "D6W 1234"),
    ("US", "10001", "10001"), ("US", "10001-1234", "10001-1234"), ("US", "100011234", "10001-1234"),
    ("LU", "L-1855", "L-1855"),  # no format on file: kept as typed (upper case), generic check only
]


@pytest.mark.parametrize("country, typed, stored", GOOD_POSTCODES)
def test_real_postcodes_are_accepted_in_the_national_form(country, typed, stored):
    assert normalise_postcode(typed, country) == stored


JUNK_POSTCODES = [
    ("NL", "!!"), ("NL", "1015"), ("NL", "0123 AB"), ("NL", "1015 SS"), ("NL", "1015 C"), ("NL", "10155 CJ"),
    ("DE", "1011"), ("DE", "101155"), ("DE", "00123"), ("DE", "ABCDE"), ("DE", "1015 CJ"),
    ("AT", "0100"), ("AT", "10100"), ("BE", "999"), ("CH", "0800"),
    ("FI", "0010"), ("SE", "012 34"), ("SE", "1234"), ("DK", "12345"), ("NO", "150"),
    ("ES", "53001"), ("ES", "00100"), ("IT", "0018"), ("FR", "00100"), ("FR", "7500"),
    ("CZ", "81000"), ("GR", "90000"), ("PL", "0-950"), ("PT", "1100-14"),
    ("GB", "SW1A"), ("GB", "12345"), ("IE", "B02 X285"), ("US", "1000"), ("US", "10001-12"),
    ("NL", "1015\x00CJ"), ("SE", "１１４５５"),  # NUL byte; full-width digits
    ("LU", "!!"), ("LU", "x"),
]


@pytest.mark.parametrize("country, typed", JUNK_POSTCODES)
def test_junk_postcodes_are_refused_with_the_countrys_format(country, typed):
    with pytest.raises(ValidationError) as refused:
        normalise_postcode(typed, country)
    message = refused.value.messages[0]
    spec = POSTCODES.get(country)
    assert spec is None or spec.example in message or "letters and digits only" in message


def test_the_message_names_the_format():
    with pytest.raises(ValidationError, match=r"Enter a Dutch postcode: four digits and two letters, e.g. 1015 CJ."):
        normalise_postcode("!!", "NL")
    with pytest.raises(ValidationError, match=r"five digits, written 123 45, e.g. 114 55"):
        normalise_postcode("1234", "SE")


@pytest.mark.parametrize("line, country", [
    ("Keizersgracht 1", "NL"), ("Hauptstraße 5a", "DE"), ("12 rue de la Paix", "FR"), ("Calle Mayor 5, 3º", "ES"),
    ("Storgatan 12", "SE"), ("Q7 5", "DE"), ("N 1, 12", "DE"), ("Rose Cottage, High Street", "GB"),
    ("Via Roma 10", "IT"), ("Åkersgata 1", "NO"), ("Οδός Αθηνάς 12", "GR"),
])
def test_real_street_lines_pass(line, country):
    check_street(line, country)


@pytest.mark.parametrize("line, country, code", [
    ("x", "NL", "street_invalid"), ("!!", "NL", "street_invalid"), ("12", "DE", "street_invalid"),
    ("x 1", "SE", "street_invalid"), ("Keizersgracht", "NL", "house_number_missing"),
    ("Hauptstraße", "DE", "house_number_missing"), ("!!", "GB", "street_invalid"),
    ("Keizersgracht\x1b 1", "NL", "street_invalid"), ("Q7 5", "NL", "street_invalid"),
])
def test_junk_street_lines_fail(line, country, code):
    with pytest.raises(ValidationError) as refused:
        check_street(line, country)
    assert refused.value.code == code


@pytest.mark.parametrize("city", ["Amsterdam", "'s-Hertogenbosch", "Frankfurt (Oder)", "Malmö", "Paris 15",
                                  "Saint-Étienne", "Αθήνα", "Ål", "Halle/Saale"])
def test_real_cities_pass(city):
    check_city(city)


@pytest.mark.parametrize("city", ["y", "!!", "12345", "Amsterdam!!", "<script>", "Ams\x00terdam", "a1"])
def test_junk_cities_fail(city):
    with pytest.raises(ValidationError, match="city or town"):
        check_city(city)


def test_names_need_a_letter():
    for name in ("Anna", "O'Neil", "Zoë", "李"):
        check_name(name)
    for junk in ("!!", "1", "--"):
        with pytest.raises(ValidationError):
            check_name(junk)
