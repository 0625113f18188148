"""The terms an upsell offer is shown on, signed into its accept form, so a click charges exactly what the
shopper saw (DESIGN rule 4: never trust the browser).

The confirmation page signs each offer's terms (order, offer, product, quantity, unit price, currency) into
a hidden field. Accepting unsigns them and compares them with the offer's terms now, under the order lock
(payments.services.upsells.upsell_accept). Only the server can sign, so a shopper cannot post a lower price;
a merchant who edits the offer between showing and clicking makes the terms differ, and then nothing is
charged and the page shows the offer as it is now, to be accepted again.
"""
from dataclasses import asdict, dataclass

from django.core import signing

from common.money import format_minor

from ..exceptions import PaymentError
from ..orders import OfferLine, order_book
from ..selectors import upsell_offers_for

SALT = "payments.upsell-terms"
# One click adds one of the offer's product.
QUANTITY = 1


class UpsellNotAvailable(PaymentError):
    shopper_message = "This offer is no longer available for your order. Nothing was charged."


class UpsellOrderCaptured(UpsellNotAvailable):
    """The order was charged in full, and its route adds an upsell only to money still authorized."""

    shopper_message = ("Your order has already been charged in full, so extras can no longer be added to it. "
                       "Nothing was charged.")


class UpsellOfferChanged(UpsellNotAvailable):
    """The offer's terms differ from the ones the shopper's page showed (or the page sent none)."""

    def __init__(self, message, *, shown: "OfferTerms | None", now: "OfferTerms"):
        super().__init__(message)
        was = f" (it was {shown.money(shown.total)}, it is now {now.money(now.total)})" \
            if shown is not None and shown.total != now.total else ""
        self.shopper_message = (f"This offer changed since your page showed it{was}. Nothing was charged: "
                                "check the offer below and add it again if you still want it.")


@dataclass(frozen=True)
class OfferTerms:
    """What a click on one offer charges for one order."""

    order_id: int
    offer_id: int
    product_id: int
    quantity: int
    unit_price: int
    currency: str

    @property
    def total(self) -> int:
        return self.unit_price * self.quantity

    def money(self, amount: int) -> str:
        return format_minor(amount, self.currency)

    def sign(self) -> str:
        return signing.dumps(asdict(self), salt=SALT, compress=True)

    @classmethod
    def unsign(cls, value: str) -> "OfferTerms | None":
        """The terms a signed value names; None when it is missing, altered or not ours."""
        try:
            return cls(**signing.loads(value or "", salt=SALT))
        except (signing.BadSignature, TypeError):
            return None


@dataclass(frozen=True)
class ShownOffer:
    """One offer as the confirmation page shows it: the offer (name, pitch), its terms and their signature."""

    offer: object
    terms: OfferTerms
    signed: str


def offer_terms(*, order_id: int, currency: str, line: OfferLine) -> OfferTerms:
    return OfferTerms(order_id=order_id, offer_id=line.offer_id, product_id=line.product_id,
                      quantity=QUANTITY, unit_price=line.unit_price, currency=currency)


def upsell_offers_shown(order) -> list[ShownOffer]:
    """The offers open to the order now, each with the signed terms its accept form posts back."""
    offers = upsell_offers_for(order)
    if not offers:
        return []
    book = order_book()
    currency = book.details(order.pk, order=order).currency
    shown = []
    for offer in offers:
        terms = offer_terms(order_id=order.pk, currency=currency, line=book.offer_line(offer))
        shown.append(ShownOffer(offer=offer, terms=terms, signed=terms.sign()))
    return shown


def terms_check(*, signed: str, now: OfferTerms) -> None:
    """Raises UpsellOfferChanged unless `signed` names exactly the terms `now`."""
    shown = OfferTerms.unsign(signed)
    if shown != now:
        raise UpsellOfferChanged(f"offer {now.offer_id} of order {now.order_id}: shown {shown}, now {now}",
                                 shown=shown, now=now)
