"""The shopping cart, kept in the session as {product_id: quantity}.

The session holds only ids and quantities; prices are always read from the catalog, so a cart can never
carry a stale or tampered price into an order.
"""
from dataclasses import dataclass

from django.conf import settings

from .models import Product
from .pricing import vat_included
from .selectors import products_for_sale

SESSION_KEY = "cart"
MAX_QUANTITY = 99


class CartError(ValueError):
    """A cart change the shop refuses (unknown product, quantity out of range)."""


@dataclass(frozen=True)
class CartLine:
    product: Product
    quantity: int

    @property
    def total(self) -> int:
        return self.product.price * self.quantity

    @property
    def tax(self) -> int:
        return vat_included(self.total, self.product.vat_rate_bp)


@dataclass(frozen=True)
class CartTotals:
    currency: str
    subtotal: int
    shipping_fee: int
    shipping_vat_rate_bp: int
    tax: int
    total: int


class Cart:
    def __init__(self, session):
        self.session = session
        raw = session.get(SESSION_KEY) or {}
        self._items = {str(k): int(v) for k, v in raw.items() if str(k).isdigit() and int(v) > 0}
        self._lines = None

    def _save(self):
        self._lines = None
        if (self.session.get(SESSION_KEY) or {}) != self._items:
            # A copy: later changes to this cart must not reach the stored one unnoticed. Unchanged (an
            # empty cart cleared again on each visit of the confirmation page), the session is not written.
            self.session[SESSION_KEY] = dict(self._items)

    def add(self, product_id, quantity=1):
        product = self._product(product_id)
        new_quantity = self._items.get(str(product.pk), 0) + self._quantity(quantity, minimum=1)
        if new_quantity > MAX_QUANTITY:
            raise CartError(f"You can order at most {MAX_QUANTITY} of one product.")
        self._items[str(product.pk)] = new_quantity
        self._save()
        return product

    def set(self, product_id, quantity):
        """Set a line's quantity; 0 removes it."""
        quantity = self._quantity(quantity, minimum=0)
        if quantity == 0:
            self.remove(product_id)
            return
        product = self._product(product_id)
        self._items[str(product.pk)] = quantity
        self._save()

    def remove(self, product_id):
        self._items.pop(str(product_id), None)
        self._save()

    def clear(self):
        self._items = {}
        self._save()

    def settle(self, bought):
        """Take out what a paid order bought, (product id, quantity) pairs, leaving whatever was added since
        (another tab may have filled the cart again while the order was being paid)."""
        for product_id, quantity in bought:
            left = self._items.get(str(product_id), 0) - quantity
            if left > 0:
                self._items[str(product_id)] = left
            else:
                self._items.pop(str(product_id), None)
        self._save()

    def lines(self) -> list[CartLine]:
        """The cart's lines at today's catalog, read once per request (the cart is built per request and
        every change through it forgets the copy)."""
        if self._lines is None:
            # No ORDER BY: the lines keep the cart's order, so the catalog's sort would be work for nothing.
            products = products_for_sale().filter(pk__in=self._items.keys()).order_by()
            by_id = {str(p.pk): p for p in products}
            # A product withdrawn from sale since it was added (or priced in a currency the shop does not
            # charge) silently leaves the cart.
            self._lines = [CartLine(by_id[k], q) for k, q in self._items.items() if k in by_id]
        return list(self._lines)

    def totals(self, lines=None) -> CartTotals:
        lines = self.lines() if lines is None else lines
        subtotal = sum(line.total for line in lines)
        needs_shipping = any(not line.product.is_subscription for line in lines)
        shipping = settings.SHOP_SHIPPING_FEE if needs_shipping else 0
        shipping_rate = settings.SHOP_SHIPPING_VAT_BP if shipping else 0
        tax = sum(line.tax for line in lines) + vat_included(shipping, shipping_rate)
        return CartTotals(
            currency=settings.SHOP_CURRENCY, subtotal=subtotal, shipping_fee=shipping,
            shipping_vat_rate_bp=shipping_rate, tax=tax, total=subtotal + shipping,
        )

    @property
    def count(self) -> int:
        return sum(self._items.values())

    def __bool__(self):
        return bool(self._items)

    @staticmethod
    def _quantity(value, *, minimum):
        try:
            quantity = int(value)
        except (TypeError, ValueError):
            raise CartError("Quantity must be a whole number.") from None
        if not minimum <= quantity <= MAX_QUANTITY:
            raise CartError(f"Quantity must be between {minimum} and {MAX_QUANTITY}.")
        return quantity

    @staticmethod
    def _product(product_id):
        try:
            return products_for_sale().get(pk=int(product_id))
        except (TypeError, ValueError, Product.DoesNotExist):
            raise CartError("That product is not available.") from None
