"""The one interface through which payments talks to the shop's orders (DESIGN rule 1).

payments never imports the shop: it asks the OrderBook named by settings.PAYMENTS_ORDER_BOOK (the shop's
implementation is shop.payment_orders.ShopOrderBook) to read an order's payable contents, lock it, set its
route, derive its status, add a charged upsell line and create the order of a paid renewal. Everything
crosses as the dataclasses below or plain ids, so either side can change its tables freely.
"""
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from .providers.types import Address, CheckoutLine, Customer


class OrderPaymentStatus(StrEnum):
    """An order's status as far as money goes; derived by payments.states from the order's attempts."""

    PENDING = "pending"
    PAID = "paid"
    PAYMENT_FAILED = "payment_failed"
    CANCELLED = "cancelled"


class OrderPage(StrEnum):
    STATUS = "status"
    CONFIRMATION = "confirmation"
    FAILED = "failed"


@dataclass(frozen=True)
class OrderDetails:
    """What a payment needs to know of an order: the checkout lines (upsells excluded), who and where."""

    id: int
    number: str
    status: OrderPaymentStatus
    total: int
    currency: str
    lines: tuple[CheckoutLine, ...]
    shipping_fee: int
    shipping_vat_rate_bp: int
    customer: Customer
    shipping_address: Address
    billing_address: Address


@dataclass(frozen=True)
class OfferLine:
    """The line an accepted upsell offer adds, at the offer's price."""

    offer_id: int
    product_id: int
    sku: str
    name: str
    provider_product_id: int | None
    unit_price: int
    vat_rate_bp: int


@dataclass(frozen=True)
class RenewalLine:
    """A line of a paid renewal as the provider charged it (provider product id, quantity, total)."""

    provider_product_id: int | None
    quantity: int
    line_total: int


class OrderBook(ABC):
    @abstractmethod
    def details(self, order_id: int, *, order=None) -> OrderDetails:
        """The order's payable contents, read now; `order` is the order's row when the caller has just read
        it (only its lines are read then)."""

    def details_many(self, orders: list) -> dict[int, OrderDetails]:
        """details() of many orders whose rows the caller has just read, by order id (the shop reads all
        their lines in one query)."""
        return {order.pk: self.details(order.pk, order=order) for order in orders}

    @abstractmethod
    def lock(self, order_id: int) -> OrderDetails:
        """Lock the order row (select_for_update) in the caller's transaction and read it."""

    @abstractmethod
    def payment_started(self, order_id: int, route: str) -> None:
        """A payment on `route` was started for the unpaid order (under the lock() lock): remember the route
        the shopper chose last, and the order now waits for that payment (pending)."""

    @abstractmethod
    def lock_status(self, order_id: int) -> OrderPaymentStatus:
        """Lock the order row in the caller's transaction and return its status. payments.states takes
        this lock before deriving the status, so two attempts finishing at once decide one after the other."""

    def lock_status_of_attempt(self, attempt_id) -> OrderPaymentStatus:
        """lock_status() of the order a payment attempt belongs to (the shop: one statement)."""
        from .models import PaymentAttempt

        return self.lock_status(PaymentAttempt.objects.values_list("order_id", flat=True).get(pk=attempt_id))

    def lock_many(self, order_ids: list[int]) -> None:
        """lock_status() for many orders, in pk order (the shop: one SELECT … FOR UPDATE)."""
        for order_id in sorted(order_ids):
            self.lock_status(order_id)

    @abstractmethod
    def set_payment_status(self, order_id: int, status: OrderPaymentStatus) -> None:
        """Store the derived status (and when the order was first paid), under the lock_status lock."""

    @abstractmethod
    def mark_paid(self, order_id: int, *, while_attempt: tuple | None = None) -> bool:
        """A payment of the order succeeded: the order is paid (and when it first was is kept). One
        conditional UPDATE in the caller's transaction, which takes the order's row lock; True when the
        order was not paid before this call. `while_attempt` (attempt pk, status): only while that attempt
        still stands in that status (payments.states marks the order before it moves the attempt)."""

    def mark_paid_many(self, order_ids: list[int]) -> int:
        """mark_paid() for many orders (the shop: one UPDATE), taking their row locks in the caller's
        transaction; returns how many were not paid before."""
        return sum(self.mark_paid(order_id) for order_id in order_ids)

    @abstractmethod
    def upsell_offers(self, order_id: int, *, now: datetime) -> list:
        """Offers open to this order now (its window, its trigger products), not yet accepted."""

    @abstractmethod
    def offer_line(self, offer) -> OfferLine:
        """The line one offer (as returned by upsell_offers) adds."""

    @abstractmethod
    def add_upsell_line(self, order_id: int, line: OfferLine, *, quantity: int) -> None:
        """Add a charged upsell to the paid order and raise its totals, in one locked transaction."""

    @abstractmethod
    def create_renewal(self, *, initial_order_id: int, billing_cycle: int, amount: int,
                       provider_lines: list[RenewalLine], schedule: tuple[str, int] | None = None) -> int:
        """Create the shop order for one renewal of `initial_order_id` totalling `amount`; returns its id.
        Without provider lines, the renewal holds the initial order's subscription lines of `schedule`
        (interval, count): a subscription renews only its own lines. Runs inside the caller's transaction."""

    @abstractmethod
    def create_renewals(self, renewals: list[tuple[int, int, int, tuple[str, int]]]) -> list[int]:
        """Create the orders of many renewals at once, each (initial order id, billing cycle, amount, schedule),
        holding the initial order's subscription lines of that schedule; returns their ids in the same order.
        Runs inside the caller's transaction in a fixed number of statements; raises IntegrityError when
        the batch must be run again (a clash of new order numbers)."""

    @abstractmethod
    def subscription_schedules(self, order_id: int) -> list[tuple[str, int, int]]:
        """The order's subscription lines grouped by schedule: (interval, interval count, amount per cycle)."""

    @abstractmethod
    def page_url(self, order_id: int, page: OrderPage, *, order=None) -> str:
        """The path of a signed link to one of the order's pages (status, confirmation, failure); `order`
        is the order's row when the caller has it already (it saves reading it again)."""


@cache
def _book() -> OrderBook:
    return import_string(settings.PAYMENTS_ORDER_BOOK)()


def order_book() -> OrderBook:
    return _book()
