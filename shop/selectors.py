"""Reads for the storefront pages: what the views show, fetched in as few queries as the page needs."""
from django.core.paginator import Page, Paginator
from django.db.models import Prefetch

from .links import order_number_from_token
from .models import Order, OrderLine, Product


def products_for_sale():
    return Product.objects.filter(is_active=True)


# Products per catalog page: a page costs one COUNT and one LIMIT query and renders this many tiles,
# whether the shop sells ten products or ten thousand.
CATALOG_PAGE_SIZE = 24


def catalog_page(number) -> Page:
    """One page of the catalog in its usual order (kind, name, then id so pages never overlap). A number
    that is not a page (text, 0, past the end) gives the first or the last page, never an error."""
    products = products_for_sale().order_by("kind", "name", "id")
    return Paginator(products, CATALOG_PAGE_SIZE).get_page(number)


def product_for_sale(slug: str) -> Product | None:
    return products_for_sale().filter(slug=slug).first()


def order_for_token(token: str, *, with_attempts: bool = False) -> Order | None:
    """The order a signed link points to, or None for a forged, malformed or unknown token.

    The token is the only credential the order pages ask for, so a bad one must look exactly like a
    missing order (the caller answers 404 for both).
    """
    number = order_number_from_token(token)
    if not number:
        return None
    queryset = Order.objects.prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("id")))
    if with_attempts:
        queryset = queryset.prefetch_related("payment_attempts")
    return queryset.filter(number=number).first()


def subscription_lines(subscription):
    """The order lines a subscription renews: those of its own schedule (an order may hold a monthly and a
    quarterly product, each its own subscription). Picked from `order.lines.all()`, so a batch that
    prefetched the orders' lines (the renewal receipts) reads no row again."""
    return [line for line in subscription.order.lines.all()
            if line.interval == subscription.interval and line.interval_count == subscription.interval_count]


def payment_in_progress(order) -> bool:
    """Whether a payment of the order is still in between (created, at the provider, in review)."""
    from payments.states import IN_BETWEEN

    return order.payment_attempts.filter(status__in=IN_BETWEEN).exists()
