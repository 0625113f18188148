"""Reads for the storefront pages: what the views show, fetched in as few queries as the page needs."""
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.paginator import Page, Paginator
from django.db import transaction
from django.db.models import Prefetch
from django.utils.functional import cached_property

from .links import order_number_from_token
from .models import Order, OrderLine, Product


def products_for_sale():
    """Active products priced in the shop's currency. Checkout charges SHOP_CURRENCY whatever a product says,
    so one stored with another (before Product.clean_fields refused it) is not sold: it would be shown as
    '$ 10.00' and charged EUR 10.00."""
    return Product.objects.filter(is_active=True, currency=settings.SHOP_CURRENCY)


# Products per catalog page: a page costs one LIMIT query (on the catalog's index) and renders this many
# tiles, whether the shop sells ten products or ten thousand.
CATALOG_PAGE_SIZE = 24

# The pager's "of N pages" needs the catalog's size, and COUNT(*) reads every active product: 1.4 ms at
# 10,000 on PostgreSQL, the one part of a catalog page that grew with the catalog (bench/pages.py: 366
# against 590 requests/s at 24 products). The size is kept in the cache (Redis in production, shared by
# every process) and forgotten whenever a product is saved or deleted. A per-process cache (make run's
# local memory) only hears its own process's changes, so the size is also read again after at most
# CATALOG_COUNT_TTL seconds. Bulk writes that send no signals (QuerySet.update, bulk_create) call
# forget_catalog_count themselves.
CATALOG_COUNT_KEY = "shop:catalog-count"
CATALOG_COUNT_TTL = 60


def forget_catalog_count() -> None:
    cache.delete(CATALOG_COUNT_KEY)
    # Once more at commit: a page served meanwhile may have cached the size the transaction's readers saw.
    transaction.on_commit(lambda: cache.delete(CATALOG_COUNT_KEY))


class _CatalogPaginator(Paginator):
    @cached_property
    def count(self):
        return cache.get_or_set(CATALOG_COUNT_KEY, products_for_sale().count, CATALOG_COUNT_TTL)


def catalog_page(number) -> Page:
    """One page of the catalog in its usual order (kind, name, then id so pages never overlap). A number
    that is not a page (text, 0, past the end) gives the first or the last page, never an error."""
    products = products_for_sale().order_by("kind", "name", "id")
    return _CatalogPaginator(products, CATALOG_PAGE_SIZE).get_page(number)


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


@dataclass(frozen=True)
class OrderRefund:
    """What the merchant refunded of an order's payments (minor units), for the shopper's order page."""

    amount: int
    in_full: bool


def order_refund(order) -> OrderRefund | None:
    """The refund of the payments that paid `order` (from its attempts, prefetched by order_for_token's
    with_attempts), or None when nothing was refunded. In full when every such payment is refunded. A
    duplicate payment undone by a refund is not one that paid the order, so it does not count."""
    from payments.states import SUCCESSFUL, Status

    paying = [a for a in order.payment_attempts.all() if a.status in SUCCESSFUL and a.duplicate_of_id is None]
    refunded = sum(a.refunded_amount for a in paying)
    if not refunded:
        return None
    return OrderRefund(amount=refunded, in_full=all(a.status == Status.REFUNDED for a in paying))
