"""Placing an order: the cart becomes an Order with its number before any payment is started."""
from django.db import transaction

from .cart import Cart, CartError
from .models import Order, OrderLine

ADDRESS_FIELDS = (
    "email", "phone", "first_name", "last_name", "shipping_line1", "shipping_line2", "shipping_city",
    "shipping_postcode", "shipping_country", "billing_same_as_shipping", "billing_first_name",
    "billing_last_name", "billing_line1", "billing_line2", "billing_city", "billing_postcode",
    "billing_country",
)


def order_place(*, cart: Cart, details: dict, route: str) -> Order:
    """Create an Order and its lines from the cart and the checkout form's cleaned data.

    Prices come from the catalog at this moment and are frozen on the lines. Runs in one transaction,
    so an order never exists without its lines. Raises CartError for an empty cart.
    """
    lines = cart.lines()
    if not lines:
        raise CartError("Your cart is empty.")
    totals = cart.totals(lines)
    with transaction.atomic():
        order = Order(
            route=route, currency=totals.currency, subtotal=totals.subtotal,
            shipping_fee=totals.shipping_fee, shipping_vat_rate_bp=totals.shipping_vat_rate_bp,
            tax_total=totals.tax, total=totals.total,
            **{field: details.get(field, "") for field in ADDRESS_FIELDS if field in details},
        )
        order.save_with_number()
        OrderLine.objects.bulk_create(
            OrderLine(
                order=order, product=line.product, sku=line.product.sku, name=line.product.name,
                quantity=line.quantity, unit_price=line.product.price,
                vat_rate_bp=line.product.vat_rate_bp, total=line.total, tax=line.tax,
                next_product_id=line.product.next_product_id,
                interval=line.product.interval, interval_count=line.product.interval_count,
            )
            for line in lines
        )
    return order
