"""Small builders for catalog and orders: real rows through the real services."""
import itertools
from datetime import date

from shop.models import Order, OrderLine, Product
from shop.pricing import vat_included

_seq = itertools.count(1)

ADDRESS = {
    "email": "anna@example.com", "phone": "+31612345678", "first_name": "Anna", "last_name": "Jansen",
    "shipping_line1": "Keizersgracht 1", "shipping_line2": "", "shipping_city": "Amsterdam",
    "shipping_postcode": "1015 CJ", "shipping_country": "NL", "billing_same_as_shipping": True,
}


def make_product(*, price=2500, vat_rate_bp=2100, kind="physical", interval="", interval_count=None, **extra):
    n = next(_seq)
    defaults = dict(name=f"Product {n}", slug=f"product-{n}", sku=f"SKU-{n}", price=price,
                    vat_rate_bp=vat_rate_bp, kind=kind, interval=interval, interval_count=interval_count,
                    next_product_id=1000 + n, currency="EUR")
    defaults.update(extra)
    return Product.objects.create(**defaults)


def make_order(*, items=None, shipping_fee=495, email=None, route="next", **customer):
    """An unpaid order; `items` is a list of (product, quantity). Placed from a (documentation range) IP
    address, with the details some routes ask for (`customer` overrides them)."""
    items = items or [(make_product(), 2)]
    subtotal = sum(p.price * q for p, q in items)
    tax = sum(vat_included(p.price * q, p.vat_rate_bp) for p, q in items) + vat_included(shipping_fee, 2100)
    details = dict(ADDRESS, email=email or ADDRESS["email"], birthday=date(1985, 4, 23), gender="female",
                   ip_address="203.0.113.10")
    details.update(customer)
    order = Order(route=route, currency="EUR", subtotal=subtotal, shipping_fee=shipping_fee,
                  shipping_vat_rate_bp=2100 if shipping_fee else 0, tax_total=tax,
                  total=subtotal + shipping_fee, **details)
    order.save_with_number()
    for product, quantity in items:
        OrderLine.objects.create(
            order=order, product=product, sku=product.sku, name=product.name, quantity=quantity,
            unit_price=product.price, vat_rate_bp=product.vat_rate_bp, total=product.price * quantity,
            tax=vat_included(product.price * quantity, product.vat_rate_bp),
            next_product_id=product.next_product_id, interval=product.interval,
            interval_count=product.interval_count,
        )
    return order
