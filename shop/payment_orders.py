"""The shop's side of payments.orders.OrderBook: how payments reads and changes orders.

payments never imports the shop; settings.PAYMENTS_ORDER_BOOK names this class. Everything here is the
shop's knowledge of its own tables (line fields, the 29 Next product id column, upsell offers' windows).
"""
from django.conf import settings
from django.db.models import Exists, F, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from payments.models import PaymentAttempt
from payments.orders import OfferLine, OrderBook, OrderDetails, OrderPage, OrderPaymentStatus, RenewalLine
from payments.providers.types import Address, CheckoutLine, Customer

from .links import order_url
from .models import Order, OrderLine, Product, UpsellOffer
from .orders import order_add_upsell_line, order_create_renewal, orders_create_renewals

PAGES = {OrderPage.STATUS: "shop:order_status", OrderPage.CONFIRMATION: "shop:order_confirmation",
         OrderPage.FAILED: "shop:order_failed"}


def _address(data: dict) -> Address:
    return Address(first_name=data["first_name"], last_name=data["last_name"], line1=data["line1"],
                   line2=data["line2"], city=data["city"], postcode=data["postcode"], country=data["country"])


def order_details(order: Order, lines=None) -> OrderDetails:
    """What payments needs of `order`; `lines`, when the caller has just written them, saves reading them."""
    if lines is None:
        lines = order.lines.filter(is_upsell=False).order_by("id")
    return OrderDetails(
        id=order.pk, number=order.number, status=OrderPaymentStatus(order.status), total=order.total,
        currency=order.currency,
        lines=tuple(
            CheckoutLine(sku=line.sku, name=line.name, quantity=line.quantity, unit_price=line.unit_price,
                         total=line.total, tax=line.tax, vat_rate_bp=line.vat_rate_bp,
                         provider_product_id=line.next_product_id, interval=line.interval,
                         interval_count=line.interval_count)
            for line in lines
        ),
        shipping_fee=order.shipping_fee, shipping_vat_rate_bp=order.shipping_vat_rate_bp,
        customer=Customer(email=order.email, first_name=order.first_name, last_name=order.last_name,
                          phone=order.phone, birthday=order.birthday, gender=order.gender,
                          ip_address=order.ip_address or ""),
        shipping_address=_address(order.shipping_address), billing_address=_address(order.billing_address),
    )


class ShopOrderBook(OrderBook):
    def details(self, order_id, *, order=None):
        return order_details(order if order is not None else Order.objects.get(pk=order_id))

    def details_many(self, orders):
        lines = {}
        for line in (OrderLine.objects.filter(order_id__in=[order.pk for order in orders], is_upsell=False)
                     .order_by("order_id", "id")):
            lines.setdefault(line.order_id, []).append(line)
        return {order.pk: order_details(order, lines=lines.get(order.pk, [])) for order in orders}

    def lock(self, order_id):
        return order_details(Order.objects.select_for_update().get(pk=order_id))

    def payment_started(self, order_id, route):
        Order.objects.filter(pk=order_id).update(route=route, status=OrderPaymentStatus.PENDING,
                                                 updated_at=timezone.now())

    def lock_status(self, order_id):
        return OrderPaymentStatus(Order.objects.select_for_update().values_list("status", flat=True).get(pk=order_id))

    def lock_status_of_attempt(self, attempt_id):
        of_attempt = PaymentAttempt.objects.filter(pk=attempt_id).values("order_id")[:1]
        return OrderPaymentStatus(Order.objects.select_for_update().filter(pk=Subquery(of_attempt))
                                  .values_list("status", flat=True).get())

    def lock_many(self, order_ids):
        list(Order.objects.select_for_update().filter(pk__in=order_ids).order_by("pk").values_list("pk", flat=True))

    def set_payment_status(self, order_id, status):
        now = timezone.now()
        paid_at = Coalesce("paid_at", Value(now)) if status == OrderPaymentStatus.PAID else F("paid_at")
        Order.objects.filter(pk=order_id).update(status=status, updated_at=now, paid_at=paid_at)

    # Paid from any status but paid and cancelled: a cancelled order was withdrawn (every later try starts by
    # making it pending again), and a payment that reaches it anyway is undone, not made its payer.
    NOT_PAYABLE = (OrderPaymentStatus.PAID, OrderPaymentStatus.CANCELLED)

    def mark_paid(self, order_id, *, while_attempt=None):
        now = timezone.now()
        orders = Order.objects.filter(pk=order_id).exclude(status__in=self.NOT_PAYABLE)
        if while_attempt is not None:
            attempt_id, status = while_attempt
            orders = orders.filter(Exists(PaymentAttempt.objects.filter(pk=attempt_id, status=status)))
        return bool(orders.update(status=OrderPaymentStatus.PAID, updated_at=now,
                                  paid_at=Coalesce("paid_at", Value(now))))

    def mark_paid_many(self, order_ids):
        now = timezone.now()
        return (Order.objects.filter(pk__in=order_ids).exclude(status__in=self.NOT_PAYABLE)
                .update(status=OrderPaymentStatus.PAID, updated_at=now, paid_at=Coalesce("paid_at", Value(now))))

    def upsell_offers(self, order_id, *, now):
        order = Order.objects.get(pk=order_id)
        bought = set(order.lines.filter(is_upsell=False).values_list("product_id", flat=True))
        taken = set(order.upsells.values_list("offer_id", flat=True))
        # Only a product the shop sells (shop.selectors.products_for_sale): one priced in another currency
        # would be charged on this order as that many minor units of the order's. Never a subscription: an
        # upsell adds a one-off line, so it would be sold once and no subscription would start.
        offers = (UpsellOffer.objects.filter(is_active=True, product__is_active=True,
                                             product__currency=settings.SHOP_CURRENCY)
                  .exclude(product__kind=Product.Kind.SUBSCRIPTION)
                  .filter(Q(starts_at__isnull=True) | Q(starts_at__lte=now))
                  .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
                  .exclude(pk__in=taken).select_related("product").prefetch_related("trigger_products"))
        result = []
        for offer in offers:
            triggers = {p.pk for p in offer.trigger_products.all()}
            if not triggers or triggers & bought:
                result.append(offer)
        return result

    def offer_line(self, offer):
        product = offer.product
        return OfferLine(offer_id=offer.pk, product_id=product.pk, sku=product.sku, name=product.name,
                         provider_product_id=product.next_product_id, unit_price=offer.price,
                         vat_rate_bp=product.vat_rate_bp)

    def add_upsell_line(self, order_id, line, *, quantity):
        order_add_upsell_line(order_id=order_id, product_id=line.product_id, name=line.name, sku=line.sku,
                              quantity=quantity, unit_price=line.unit_price, vat_rate_bp=line.vat_rate_bp,
                              provider_product_id=line.provider_product_id)

    def create_renewal(self, *, initial_order_id, billing_cycle, amount, provider_lines: list[RenewalLine],
                       schedule=None):
        order = order_create_renewal(
            initial=Order.objects.get(pk=initial_order_id), billing_cycle=billing_cycle, amount=amount,
            provider_lines=[{"product_id": line.provider_product_id, "quantity": line.quantity,
                             "line_total": line.line_total} for line in provider_lines], schedule=schedule)
        return order.pk

    def create_renewals(self, renewals):
        return orders_create_renewals(renewals)

    def subscription_schedules(self, order_id):
        schedules = {}
        for line in OrderLine.objects.filter(order_id=order_id, is_upsell=False).exclude(interval=""):
            key = (line.interval, line.interval_count or 1)
            schedules[key] = schedules.get(key, 0) + line.total
        return [(interval, count, amount) for (interval, count), amount in schedules.items()]

    def page_url(self, order_id, page, *, order=None):
        if order is None:
            order = Order.objects.only("number").get(pk=order_id)
        return order_url(order, PAGES[OrderPage(page)])
