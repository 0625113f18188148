"""MultiSafepay `shopping_cart`, `checkout_options.tax_tables` and `amount` from the shop's lines (DESIGN rule 7).

MultiSafepay refuses an order (error 1027) unless the cart total equals `amount`, computed by its rounding
rule (reference notes §3, docs `content/developer/rounding-rule.md`):

    items_total = round_half_up(Σ unit_price × quantity, 2)
    vat_total   = round_half_up(Σ unit_price × quantity × rate, 2)
    amount      = (items_total + vat_total) × 100

where `unit_price` is the price per unit EXCLUDING VAT in major units (a JSON number, many decimals allowed)
and `rate` the fraction of the item's tax table. The shop prices lines VAT-included in minor units, so this
module is the one place that turns one into the other; tests/unit/test_multisafepay_cart.py proves the rule
over random carts.

Choices where the docs are silent (also in emulator/README.md, MultiSafepay section):
- Each item's `unit_price` is its exact net (line total / (1 + rate) / quantity) rounded half-even to at most
  10 decimals, and to at most 15 significant digits so the JSON float carries exactly that decimal.
- "Half up" is read as PHP's round(): half away from zero (it matters only for discount lines).
- MultiSafepay does not say whether it sums in decimal or binary floating point. We evaluate the rule in exact
  decimal arithmetic on the very values we send and also demand that neither sum lies within
  `TIE_MARGIN` of a half cent, so float summation on their side cannot round differently.
- Should the exact nets land on (or too near) a half cent, one cent of VAT-included price moves from a line
  at one rate to a line at another rate: the amount is unchanged, each rate's VAT moves by under a cent.
  With a single rate that is impossible, and some totals have no cart at all (e.g. at 20 % every total of
  6n + 3 minor units rounds to 6n + 2 or 6n + 4, whatever the unit prices): `CartRoundingError`, raised before
  any call, so such a cart is never sent.
- One alternate tax table per rate, named after the rate as the Python SDK does (`"0.21"`), `standalone`
  false; `default` carries the shipping rate with `shipping_taxed` true (every item names its table, so the
  default only matters to MultiSafepay's own display). Shipping is an item with `merchant_item_id`
  `msp-shipping`, as documented. Currencies are assumed to have two decimals (all of Klarna's on MSP do).
"""
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from fractions import Fraction

from ..types import CheckoutLine

SHIPPING_ITEM_ID = "msp-shipping"
MAX_DECIMALS = 10
MAX_SIGNIFICANT = 15  # a binary double carries any decimal of up to 15 significant digits exactly
TIE_MARGIN = Decimal("0.0000001")  # major units (a hundred-thousandth of a cent) away from a half cent
CENT = Decimal("0.01")


class CartRoundingError(ValueError):
    """No MultiSafepay cart of these lines totals the shop's amount under MultiSafepay's rounding rule."""


@dataclass(frozen=True)
class MultiSafepayCart:
    amount: int  # minor units: Σ line totals + shipping, what the shopper pays
    shopping_cart: dict
    tax_tables: dict

    @property
    def checkout_options(self) -> dict:
        return {"tax_tables": self.tax_tables}


@dataclass(frozen=True)
class _Item:
    name: str
    merchant_item_id: str
    quantity: int
    gross: int  # VAT-included line total in minor units (after any discount)
    rate_bp: int


def rate_fraction(rate_bp: int) -> Decimal:
    """2100 → Decimal('0.21'), 0 → Decimal('0'): the `rate` of a tax table."""
    return (Decimal(rate_bp) / 10000).normalize() if rate_bp else Decimal(0)


def table_name(rate_bp: int) -> str:
    return format(rate_fraction(rate_bp), "f")


def round_half_up(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def rule_amount(items: Iterable[dict], rates: dict[str, Decimal]) -> int:
    """MultiSafepay's cart total in minor units, evaluated exactly on the values as sent (`rates` maps a
    tax table name to its fraction). Also used by the adapter to predict a refund's amount."""
    net = vat = Decimal(0)
    for item in items:
        line = Decimal(str(item["unit_price"])) * int(item["quantity"])
        net += line
        vat += line * rates[item["tax_table_selector"]]
    return int((round_half_up(net) + round_half_up(vat)) * 100)


def _unit_price(gross: int, quantity: int, rate_bp: int) -> Decimal:
    exact = Fraction(gross * 10000, (10000 + rate_bp) * quantity) / 100  # major units, excluding VAT
    value = Decimal(exact.numerator) / Decimal(exact.denominator)
    whole_digits = len(str(abs(int(value)))) if int(value) else 0
    places = max(2, min(MAX_DECIMALS, MAX_SIGNIFICANT - whole_digits))
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def _near_half_cent(value: Decimal) -> bool:
    remainder = (value / CENT) % 1  # Decimal % keeps the sign of the dividend
    return abs(abs(remainder) - Decimal("0.5")) * CENT < TIE_MARGIN


def _render(items: Sequence[_Item]) -> list[dict]:
    return [{
        "name": item.name,
        "description": "",
        "unit_price": float(_unit_price(item.gross, item.quantity, item.rate_bp)),
        "quantity": item.quantity,
        "merchant_item_id": item.merchant_item_id,
        "tax_table_selector": table_name(item.rate_bp),
    } for item in items]


def _acceptable(rendered: list[dict], rates: dict[str, Decimal], amount: int) -> bool:
    if rule_amount(rendered, rates) != amount:
        return False
    net = sum((Decimal(str(i["unit_price"])) * i["quantity"] for i in rendered), Decimal(0))
    vat = sum((Decimal(str(i["unit_price"])) * i["quantity"] * rates[i["tax_table_selector"]]
               for i in rendered), Decimal(0))
    return not (_near_half_cent(net) or _near_half_cent(vat))


def _one_cent_moves(items: Sequence[_Item]):
    """Candidate carts that move one cent of gross between two lines of different rates, biggest lines
    first (the cent is least visible there). A line may take a cent whatever its size, but never gives
    away its last one: no line becomes free or changes sign."""
    order = sorted(range(len(items)), key=lambda i: -abs(items[i].gross))
    for a in order:
        for b in order:
            if items[a].rate_bp == items[b].rate_bp:
                continue
            for cent in (1, -1):
                gave, took = items[a].gross - cent, items[b].gross + cent
                if gave * items[a].gross <= 0 or took * items[b].gross <= 0:
                    continue
                moved = list(items)
                moved[a] = replace(items[a], gross=gave)
                moved[b] = replace(items[b], gross=took)
                yield moved


def build_cart(lines: Sequence[CheckoutLine], *, shipping_fee: int = 0, shipping_vat_rate_bp: int = 0,
               shipping_name: str = "Shipping") -> MultiSafepayCart:
    """The cart, tax tables and amount for `POST /orders`. Pure; raises CartRoundingError for an empty cart,
    a bad rate or quantity, a negative total, or a total MultiSafepay's rule cannot express."""
    items = []
    for line in lines:
        if line.quantity < 0 or not 0 <= line.vat_rate_bp <= 10000:
            raise CartRoundingError(f"line {line.sku}: negative quantity or bad VAT rate")
        if line.quantity:
            items.append(_Item(line.name[:200] or line.sku, line.sku[:50], line.quantity, line.total,
                               line.vat_rate_bp))
    if shipping_fee:
        if not 0 <= shipping_vat_rate_bp <= 10000:
            raise CartRoundingError("bad shipping VAT rate")
        items.append(_Item(shipping_name, SHIPPING_ITEM_ID, 1, shipping_fee, shipping_vat_rate_bp))
    if not items:
        raise CartRoundingError("an order needs at least one line")
    amount = sum(item.gross for item in items)
    if amount < 1:
        raise CartRoundingError("MultiSafepay takes amounts of at least one minor unit")
    rates = {table_name(item.rate_bp): rate_fraction(item.rate_bp) for item in items}
    tax_tables = {
        "default": {"shipping_taxed": True, "rate": float(rate_fraction(shipping_vat_rate_bp))},
        "alternate": [{"name": name, "standalone": False, "rules": [{"rate": float(rate)}]}
                      for name, rate in sorted(rates.items(), key=lambda kv: kv[1])],
    }
    for candidate in (items, *_one_cent_moves(items)):
        rendered = _render(candidate)
        if _acceptable(rendered, rates, amount):
            return MultiSafepayCart(amount=amount, shopping_cart={"items": rendered}, tax_tables=tax_tables)
    raise CartRoundingError(f"no cart of these lines totals {amount} under MultiSafepay's rounding rule")


def refund_items(original_items: Sequence[dict], quantities: dict[str, int]) -> list[dict]:
    """`checkout_data.items` for a BNPL refund: every original item unchanged, then for each refunded
    `merchant_item_id` a copy with the refunded quantity and a NEGATIVE `unit_price` (the spec's
    `refundBNPL.json` and both SDKs; the Klarna page's negative quantity is the other reading, not used).
    Raises CartRoundingError for an unknown item or more than was bought."""
    by_id = {str(item.get("merchant_item_id")): item for item in original_items}
    refund_lines = []
    for item_id, quantity in quantities.items():
        original = by_id.get(str(item_id))
        if original is None or not 0 < quantity <= int(original["quantity"]):
            raise CartRoundingError(f"cannot refund {quantity} of item {item_id}")
        price = Decimal(str(original["unit_price"]))
        refund_lines.append({**original, "quantity": quantity, "unit_price": float(-price)})
    return [dict(item) for item in original_items] + refund_lines
