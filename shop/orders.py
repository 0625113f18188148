"""Placing an order: the cart becomes an Order with its number before any payment is started."""
from dataclasses import dataclass

from django.db import transaction

from common.db import bulk_create_with_pks
from payments.exceptions import PaymentError

from .cart import Cart, CartError
from .models import Order, OrderLine

ADDRESS_FIELDS = (
    "email", "phone", "first_name", "last_name", "shipping_line1", "shipping_line2", "shipping_city",
    "shipping_postcode", "shipping_country", "billing_same_as_shipping", "billing_first_name",
    "billing_last_name", "billing_line1", "billing_line2", "billing_city", "billing_postcode",
    "billing_country", "birthday", "gender", "ip_address",
)


def order_place(*, cart: Cart, details: dict, route: str, then=None):
    """Create an Order and its lines from the cart and the checkout form's cleaned data; returns the order
    and what `then(order, lines)` returned.

    Prices come from the catalog at this moment and are frozen on the lines. Runs in one transaction,
    so an order never exists without its lines; `then` runs in that transaction too (the checkout opens the
    order's first payment attempt there, so both commit together). The (astronomically rare) clash of a new
    order number rolls the whole transaction back and tries another number. Raises CartError for an empty
    cart.
    """
    lines, totals = _cart_contents(cart)
    order = _fill(Order(), totals=totals, details=details, route=route)

    def write():
        order.save(force_insert=True)
        written = _write_lines(order, lines)
        return then(order, written) if then else None

    return order, order.with_fresh_number(write)


def _cart_contents(cart: Cart):
    lines = cart.lines()
    if not lines:
        raise CartError("Your cart is empty.")
    return lines, cart.totals(lines)


def _fill(order: Order, *, totals, details: dict, route: str) -> Order:
    """Set an order's totals, route and the address fields the form gave (not saved)."""
    order.route, order.currency, order.subtotal = route, totals.currency, totals.subtotal
    order.shipping_fee, order.shipping_vat_rate_bp = totals.shipping_fee, totals.shipping_vat_rate_bp
    order.tax_total, order.total = totals.tax, totals.total
    for field in ADDRESS_FIELDS:
        if field in details:
            setattr(order, field, details[field])
    return order


def _write_lines(order: Order, cart_lines) -> list[OrderLine]:
    return OrderLine.objects.bulk_create(
        OrderLine(order=order, product=line.product, sku=line.product.sku, name=line.product.name,
                  quantity=line.quantity, unit_price=line.product.price, vat_rate_bp=line.product.vat_rate_bp,
                  total=line.total, tax=line.tax, next_product_id=line.product.next_product_id,
                  interval=line.product.interval, interval_count=line.product.interval_count)
        for line in cart_lines
    )


def order_add_upsell_line(*, order_id, product_id, name, sku, quantity, unit_price, vat_rate_bp,
                          provider_product_id) -> OrderLine:
    """Add a charged upsell to a paid order and raise its totals, in one locked transaction.

    Called once per upsell, when its payment is confirmed; the order row lock keeps concurrent
    upsells on the same order from losing each other's totals.
    """
    from .pricing import vat_included

    total = unit_price * quantity
    tax = vat_included(total, vat_rate_bp)
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        line = OrderLine.objects.create(
            order=order, product_id=product_id, sku=sku, name=name, quantity=quantity, unit_price=unit_price,
            vat_rate_bp=vat_rate_bp, total=total, tax=tax, next_product_id=provider_product_id,
            is_upsell=True,
        )
        order.subtotal += total
        order.tax_total += tax
        order.total += total
        order.save(update_fields=["subtotal", "tax_total", "total", "updated_at"])
    return line


def order_create_renewal(*, initial: Order, billing_cycle: int, amount: int, provider_lines, schedule=None) -> Order:
    """The shop order for one paid renewal: the subscriber's address, the renewed lines, `amount`.

    Lines are the provider's renewal lines at the prices it charged (`line_total` in minor units), matched by
    provider product id to the initial order's lines as sold, else to our catalog; whatever they do not account
    for is shipping. Falls back to the initial order's subscription lines of `schedule` ((interval, count); all
    of them when None). Runs inside the caller's transaction.
    """
    sold = list(initial.lines.filter(is_upsell=False))
    wanted = _provider_lines(provider_lines, sold) or _schedule_lines(sold, schedule)
    order, lines = _renewal(initial, billing_cycle, amount, wanted)
    with transaction.atomic():
        order.save_with_number()
        for line in lines:
            line.order = order
        OrderLine.objects.bulk_create(lines)
    return order


def orders_create_renewals(renewals) -> list[int]:
    """The orders of many renewals at once (the shop-run beat opens due cycles by the batch): each of
    `renewals` is (initial order id, billing cycle, amount, schedule) and its order holds the initial order's
    subscription lines of that schedule. Three reads and two INSERTs however many renewals; returns the
    new orders' ids in the order given. Runs inside the caller's transaction: a clash of order numbers
    (astronomically rare) raises IntegrityError and the caller runs the batch again."""
    initial_ids = {initial_id for initial_id, *_ in renewals}
    initials = Order.objects.in_bulk(initial_ids)
    lines_of = {}
    for line in OrderLine.objects.filter(order_id__in=initial_ids, is_upsell=False):
        lines_of.setdefault(line.order_id, []).append(line)
    built = [_renewal(initials[initial_id], cycle, amount,
                      _schedule_lines(lines_of.get(initial_id, []), schedule))
             for initial_id, cycle, amount, schedule in renewals]
    orders = [order for order, _ in built]
    for order in orders:
        order.number = Order.new_number()
    bulk_create_with_pks(Order, orders, unique="number")
    lines = []
    for order, order_lines in built:
        for line in order_lines:
            line.order = order
            lines.append(line)
    OrderLine.objects.bulk_create(lines)
    return [order.pk for order in orders]


@dataclass(frozen=True)
class _Renewed:
    """A line a renewal bills, as it was sold: copied from the initial order's line, whose product the catalog
    may no longer hold (OrderLine.product is SET_NULL). A deleted product renews as before; dropping its line
    billed the goods as shipping, at the shipping VAT rate (probe H F5)."""

    product_id: int | None
    sku: str
    name: str
    vat_rate_bp: int
    next_product_id: int | None
    interval: str
    interval_count: int | None
    quantity: int
    total: int

    @classmethod
    def of(cls, item, quantity, total, *, product_id):
        """From an order line or a catalog product (both carry the fields a line is sold with)."""
        return cls(product_id, item.sku, item.name, item.vat_rate_bp, item.next_product_id, item.interval,
                   item.interval_count, quantity, total)


def _provider_lines(provider_lines, sold) -> list[_Renewed]:
    """The provider's renewal lines at the prices it charged, each matched by provider product id to the line
    sold (copied there, so a product deleted since still matches), else to the catalog product."""
    from .models import Product

    ids = [line.get("product_id") for line in provider_lines]
    as_sold = {line.next_product_id: line for line in sold if line.next_product_id is not None and line.interval}
    in_catalog = {p.next_product_id: p
                  for p in Product.objects.filter(next_product_id__in=[i for i in ids if i not in as_sold])}
    wanted = []
    for line in provider_lines:
        pid = line.get("product_id")
        if pid in as_sold:
            item = as_sold[pid]
            wanted.append(_Renewed.of(item, line["quantity"], line["line_total"], product_id=item.product_id))
        elif pid in in_catalog:
            item = in_catalog[pid]
            wanted.append(_Renewed.of(item, line["quantity"], line["line_total"], product_id=item.pk))
    return wanted


def _schedule_lines(initial_lines, schedule) -> list[_Renewed]:
    return [_Renewed.of(line, line.quantity, line.total, product_id=line.product_id) for line in initial_lines
            if line.interval and (schedule is None or (line.interval, line.interval_count or 1) == tuple(schedule))]


def _renewal(initial: Order, billing_cycle: int, amount: int, wanted: list[_Renewed]):
    """An unsaved renewal order of `initial` and its unsaved lines. What the lines do not account for of
    `amount` is shipping (a provider may charge it on renewals)."""
    from .pricing import vat_included

    subtotal = min(sum(item.total for item in wanted), amount)
    shipping = amount - subtotal
    order = Order(
        route=initial.route, currency=initial.currency, subtotal=subtotal, shipping_fee=shipping,
        shipping_vat_rate_bp=initial.shipping_vat_rate_bp if shipping else 0,
        tax_total=sum(vat_included(item.total, item.vat_rate_bp) for item in wanted)
        + vat_included(shipping, initial.shipping_vat_rate_bp if shipping else 0),
        total=amount, renewal_of=initial, billing_cycle=billing_cycle,
        **{field: getattr(initial, field) for field in ADDRESS_FIELDS},
    )
    lines = [OrderLine(product_id=item.product_id, sku=item.sku, name=item.name, quantity=item.quantity,
                       unit_price=item.total // item.quantity, vat_rate_bp=item.vat_rate_bp,
                       total=(item.total // item.quantity) * item.quantity, tax=vat_included(item.total, item.vat_rate_bp),
                       next_product_id=item.next_product_id, interval=item.interval,
                       interval_count=item.interval_count)
             for item in wanted]
    return order, lines


def order_revise(*, order_id: int, cart: Cart, details: dict, route: str) -> Order:
    """Rewrite an unpaid order from the current cart and details (the shopper went back and changed
    something), keeping its number. Locks the order; the caller has checked that it may be rewritten
    (payments' previous_order_read).

    Raises CartError for an empty cart. Lines are replaced and totals recomputed in one transaction.
    """
    lines, totals = _cart_contents(cart)
    with transaction.atomic():
        locked = _fill(Order.objects.select_for_update().get(pk=order_id), totals=totals, details=details,
                       route=route)
        locked.save()
        locked.lines.all().delete()
        _write_lines(locked, lines)
    return locked


# What a route asks the shopper for on top of who they are and where the order goes (MultiSafepay's Klarna:
# date of birth and title; the request's address): the form clears them for routes that do not ask. They
# do not make another order: the same cart for the same person switched to or from such a route is the same
# order, its details brought up to date, or two orders would both be paid (probe G F1).
ROUTE_DETAILS = ("birthday", "gender", "ip_address")


def _same_unpaid_order(number: str, cart: Cart, details: dict) -> Order | None:
    """The unpaid order `number` when it holds exactly what the cart and the form hold now (same products,
    quantities and prices, same person and addresses, whatever the route asks on top), else None. An order
    the shop withdrew is cancelled: not reused."""
    order = Order.objects.filter(number=number, status__in=[Order.Status.PENDING, Order.Status.PAYMENT_FAILED]).first()
    if order is None:
        return None
    lines, totals = _cart_contents(cart)
    wanted = sorted((line.product.pk, line.quantity, line.product.price) for line in lines)
    has = sorted(order.lines.filter(is_upsell=False).values_list("product_id", "quantity", "unit_price"))
    same_details = all(getattr(order, field) == details[field] for field in ADDRESS_FIELDS
                       if field in details and field not in ROUTE_DETAILS)
    if wanted != has or order.total != totals.total or not same_details:
        return None
    return order


def _with_route_details(order: Order, details: dict) -> Order:
    """The order with what the newly chosen route asks for on top (ROUTE_DETAILS) written onto it."""
    extras = {field: details[field] for field in ROUTE_DETAILS if field in details}
    if any(getattr(order, field) != value for field, value in extras.items()):
        Order.objects.filter(pk=order.pk).update(**extras)
        for field, value in extras.items():
            setattr(order, field, value)
    return order


def _previous_starts_learned(previous) -> None:
    """A changed cart becomes a new order while the shopper's previous one keeps its contents; but if that
    one's payment start went unanswered (probe A: approved at Klarna, the answer lost), the new order would
    charge the same goods again. Its answer is learned first, under the start's own key. `previous` is
    payments' PreviousOrder. Raises OrderAlreadyPaid when the previous order turns out paid (the shopper is
    sent to it), StartAnswerLost while it is still unknown; either carries that order as `exc.order`."""
    from payments.exceptions import OrderAlreadyPaid, PaymentError
    from payments.services.payment_start import unanswered_starts_learn

    order = Order.objects.get(payment_attempts__pk=previous.unanswered[0])
    try:
        unanswered_starts_learn(attempt_ids=previous.unanswered)
    except PaymentError as exc:
        exc.order = order
        raise
    order.refresh_from_db(fields=["status"])
    if order.is_paid:
        paid = OrderAlreadyPaid(f"order {order.number} was paid by a start whose answer had been lost")
        paid.shopper_message = (f"Your payment for order {order.number} went through after all, so nothing more "
                                "was charged. Anything else in your cart is still there.")
        paid.order = order
        raise paid


def checkout_submit(*, cart: Cart, details: dict, route: str, previous_number: str = ""):
    """The checkout form's one service: place the order (or rewrite the shopper's previous unpaid one, when
    no provider can still charge its old contents) and start its payment. Returns the payment attempt,
    whose redirect_url is where the shopper goes next.

    A new order and its first payment attempt commit in one transaction, before the provider is called.
    Raises CartError for an empty cart; a PaymentError from starting the payment carries the placed order
    as `exc.order`, so the shopper lands on that order's failure page with a retry.
    """
    from payments.services.payment_start import payment_begin, payment_send, payment_start, previous_order_read

    from .payment_orders import order_details

    previous = previous_order_read(Order.objects.filter(number=previous_number)) if previous_number else None
    previous_id = previous.revisable_id if previous else None
    again = None
    if previous_id is not None:
        again = order_revise(order_id=previous_id, cart=cart, details=details, route=route)
    elif previous_number:
        again = _same_unpaid_order(previous_number, cart, details)
        if again is not None:
            again = _with_route_details(again, details)
    if again is None and previous is not None and previous.unanswered:
        _previous_starts_learned(previous)
    if again is not None:
        # The shopper's previous unpaid order, rewritten, or submitted again unchanged (a second tab, the back
        # button): a new attempt on it supersedes the open one, and a page still paid in an old tab is undone
        # as a duplicate, instead of a second order charging the same cart again (probe F F4).
        try:
            attempt = payment_start(order=again, route=route)
        except PaymentError as exc:
            exc.order = again
            raise
        attempt.order = again
        return attempt

    def first_attempt(order, lines):
        payable = order_details(order, lines)
        try:
            return payment_begin(details=payable, route=route), payable
        except PaymentError as refused:  # raised before anything was written: the order stays, to retry
            return refused, payable

    order, (attempt, payable) = order_place(cart=cart, details=details, route=route, then=first_attempt)
    try:
        if isinstance(attempt, PaymentError):
            raise attempt
        attempt.order = order
        return payment_send(attempt, payable)
    except PaymentError as exc:
        exc.order = order
        raise
