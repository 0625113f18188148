"""One street line as MultiSafepay wants it: `address1` (the street), `house_number` and what is left over.

MultiSafepay (and Klarna behind it) takes the street and the house number as separate fields, while our
checkout asks for one "Street and number" line, typed the way each country writes it:

    NL/DE/AT/BE/ES  Keizersgracht 1-3 hs · Hauptstr. 12a · Mariahilfer Straße 12/3/5 · Grote Markt 1 bus 3
                    Calle Mayor 5, 2º B · Am Markt 3, 2. OG
    FR/GB           12 bis rue de la Paix · 221B Baker Street · Flat 3, 12 High Street

The number is the digits with what is written onto them (a letter, a range, "bis", NL's "hs"); floors,
doors, boxes and flats ("2º B", "bus 3", "Flat 3") are not part of it and come back as `extra`, which the
adapter sends in `address2` so nothing the shopper typed is dropped. A line in which no house number can
be told apart gives number '' and the route refuses it on the checkout form.
"""
import re
from typing import NamedTuple

# The spec's limit on the delivery address's house number (Apartment.yaml: 9; the customer's is 10).
MAX_NUMBER = 9

# A house number as one token: digits, a letter or three written onto them (12a, 12bis, 221B), ranges and
# Austrian stair/door numbers (1-3, 12/3/5, 123-H, 12-III).
NUMBER = re.compile(r"\d{1,5}[^\W\d_]{0,3}(?:[-/][^\W_]{1,4})*")
# Digits that count floors, not houses: 2e, 2hg, 1º, 3ª, 2. (German "2. OG"), 1er, 2ème.
ORDINAL = re.compile(r"\d+(?:e|de|ste|hg|er|ème|eme|[º°ª.])", re.IGNORECASE)
# Words written after the number that belong to it: a letter (12 a), bis/ter/quater, NL's hs (huis),
# Roman floor numbers some Dutch write there (12 III).
SUFFIX = re.compile(r"[^\W\d_]|bis|ter|quater|hs|huis|[IVX]{1,4}", re.IGNORECASE)
# Words that make the number after them a flat, floor, door or box, not the house, and the words for a
# floor or side that never start a street (EN, NL, DE, FR, ES, BE).
UNIT_WORDS = frozenset("""
    flat apartment apt unit suite room floor level block building bldg
    bus box postbus hoog verdieping etage stock og eg dg stiege stg top tür tuer whg wohnung
    hinterhaus vorderhaus links rechts
    app appt appartement bât bat bâtiment batiment bte boîte boite étage esc escalier porte gauche droite
    piso planta puerta pta escalera portal bloque local bajo ático atico izq izquierda dcha derecha centro
""".split())
# Words written after a number that make it a floor: "2 hoog", "3 Stock", "2 OG", "1 piso".
FLOOR_WORDS = frozenset("hoog verdieping etage étage stock og eg dg floor piso planta".split())
# "Calle Mayor nº 5", "Hauptstr. Nr. 5": the word saying a number follows, not part of the street.
NUMBER_MARKERS = frozenset("nº n° no nr num número numero #".split())


class Street(NamedTuple):
    street: str
    number: str  # '' when the line has no house number MultiSafepay could take
    extra: str   # floor, door, flat or building typed on the same line ('' when none)


class _Token(NamedTuple):
    text: str
    start: int
    end: int
    after_comma: bool  # a comma separates it from the token before


def split_street(line: str) -> Street:
    """(street, house number, extra) of one address line. Tried in order, first fit wins:
    the number ends the line ("Straße des 17. Juni 135"), starts it or a comma-separated part after a
    flat or building ("Flat 3, 12 High Street"), or is followed by a floor or door ("Calle Mayor 5, 2º B")."""
    line = " ".join(line.split())
    tokens = _tokens(line)
    for attempt in (_number_before_floor, _number_last, _number_first, _number_then_unit):
        found = attempt(line, tokens)
        if found is not None and found.number:
            return _fitted(found)
    return Street(line, "", "")


def _tokens(line: str) -> list[_Token]:
    tokens = []
    for match in re.finditer(r"[^\s,]+", line):
        gap = line[tokens[-1].end:match.start()] if tokens else ""
        tokens.append(_Token(match.group(), match.start(), match.end(), "," in gap))
    return tokens


def _is_number(token: _Token) -> bool:
    return bool(NUMBER.fullmatch(token.text)) and not ORDINAL.fullmatch(token.text)


def _word(token: _Token) -> str:
    return token.text.lower().rstrip(".:")


def _house_number_at(tokens: list[_Token], index: int) -> bool:
    """A number token not owned by a flat/floor word before it ("bus 3", "Flat 3")."""
    if not _is_number(tokens[index]):
        return False
    return index == 0 or tokens[index].after_comma or _word(tokens[index - 1]) not in UNIT_WORDS


def _has_letters(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def _suffixes_from(tokens: list[_Token], index: int) -> int:
    """The index past the number at `index` and the suffix words written onto it."""
    end = index + 1
    while end < len(tokens) and not tokens[end].after_comma and SUFFIX.fullmatch(tokens[end].text):
        end += 1
    return end


def _street_before(line: str, tokens: list[_Token], index: int) -> str:
    """The street written before token `index`, without a trailing "nº"."""
    words = tokens[:index]
    while words and _word(words[-1]) in NUMBER_MARKERS:
        words = words[:-1]
    return line[:words[-1].end].strip(" ,") if words else ""


def _number_before_floor(line: str, tokens: list[_Token]) -> Street | None:
    """"Calle Mayor 5, 3 B", "Carrer de Balmes 150, 3r 2a", "Rua Augusta 10, 2 Esq", "Keizersgracht 1, 2 hoog":
    a street and its number, then after a comma a part that starts with digits, is the floor and door (as
    Spain, Catalonia, Portugal and Italy write them, often with no ordinal mark), never a second house
    number. Not after a flat or building ("Flat 3, 12 High Street")."""
    comma = next((i for i, token in enumerate(tokens) if token.after_comma), None)
    if comma is None or comma < 2 or not tokens[comma].text[0].isdigit() or _word(tokens[0]) in UNIT_WORDS:
        return None
    for index in range(comma - 1, 0, -1):
        if _house_number_at(tokens, index) and _suffixes_from(tokens, index) == comma:
            street = _street_before(line, tokens, index)
            if _has_letters(street):
                return Street(street, line[tokens[index].start:tokens[comma - 1].end], line[tokens[comma].start:])
            return None
    return None


def _number_last(line: str, tokens: list[_Token]) -> Street | None:
    """"Keizersgracht 1-3 hs", "Rue de Rivoli 4 bis", "Straße des 17. Juni 135", "Q7 5" (Mannheim)."""
    for index in range(len(tokens) - 1, 0, -1):
        if _house_number_at(tokens, index) and _suffixes_from(tokens, index) == len(tokens):
            street = _street_before(line, tokens, index)
            if _has_letters(street):
                return Street(street, line[tokens[index].start:], "")
    return None


def _number_first(line: str, tokens: list[_Token]) -> Street | None:
    """"12 High Street", "12 bis rue de la Paix", "12, rue de la Paix", and after a flat or building
    ("Flat 3, 12 High Street", "Flat 3 12 High Street", "Bât. A, 12 rue de la Paix"), which is kept as
    extra, as is a flat after the street ("12 High Street, Flat 3")."""
    for index, token in enumerate(tokens):
        prefix = tokens[:index]
        unit_prefix = len(prefix) == 2 and _word(prefix[0]) in UNIT_WORDS
        if not (index == 0 or token.after_comma or unit_prefix) or not _is_number(token):
            continue
        end = _suffixes_from(tokens, index)
        if end == len(tokens) or not tokens[end].text[0].isalpha() or _word(tokens[end]) in UNIT_WORDS:
            continue  # "Keizersgracht 1, 2 hoog": a floor after the comma, not a street
        street_end = end + 1
        while (street_end < len(tokens) and not tokens[street_end].after_comma
               and _word(tokens[street_end]) not in UNIT_WORDS):
            street_end += 1
        street = line[tokens[end].start:tokens[street_end - 1].end]
        extra = ", ".join(part for part in (line[:token.start].strip(" ,"),
                                            line[tokens[street_end - 1].end:].strip(" ,")) if part)
        return Street(street, line[token.start:tokens[end - 1].end], extra)
    return None


def _number_then_unit(line: str, tokens: list[_Token]) -> Street | None:
    """"Calle Mayor 5, 2º B", "Grote Markt 1 bus 3", "Am Markt 3, 2. OG", "Hauptstraße 5 Hinterhaus": the
    last house number with a street before it; what follows it is the floor or door."""
    for index in range(len(tokens) - 1, 0, -1):
        end = _suffixes_from(tokens, index)
        if not _house_number_at(tokens, index) or end < len(tokens) and _word(tokens[end]) in FLOOR_WORDS:
            continue
        street = _street_before(line, tokens, index)
        if _has_letters(street):
            return Street(street, line[tokens[index].start:tokens[end - 1].end],
                          line[tokens[end - 1].end:].strip(" ,"))
    return None


def _fitted(found: Street) -> Street:
    """The number within MultiSafepay's length: suffix words that do not fit move to extra; a number
    that does not fit even alone is no number it can take."""
    number = found.number
    if len(number) <= MAX_NUMBER:
        return found
    core, _, rest = number.partition(" ")
    if len(core) > MAX_NUMBER:
        return Street(found.street, "", found.extra)
    return Street(found.street, core, ", ".join(part for part in (rest, found.extra) if part))
