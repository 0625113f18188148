"""A subscription whose product the merchant deleted from the catalog (OrderLine.product is SET_NULL) renews the
line as it was sold: name, SKU, unit price, VAT rate, quantity, schedule. It was billed as shipping at 0 % VAT
with no item (probe H F5)."""
# ruff: noqa: F811 - `klarna` and `smtp` are fixtures, imported from other tests and named by each test
import json

import pytest

from payments import tasks
from payments.models import Subscription
from payments.orders import RenewalLine, order_book
from payments.services.renewals import subscription_charge
from shop.models import Order, OrderLine
from shop.pricing import vat_included
from tests.factories import make_order, make_product
from tests.integration.klarna_flow import pay_with_klarna
from tests.integration.test_emails import smtp  # noqa: F401
from tests.integration.test_klarna_renewals import klarna, make_due, token_orders  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)
TAX = vat_included(2 * 1650, 900)
SOLD = {"product": None, "name": "Coffee beans", "sku": "BEANS-1", "quantity": 2, "unit_price": 1650,
        "vat_rate_bp": 900, "total": 3300, "tax": TAX, "interval": "month", "interval_count": 1, "is_upsell": False}


def sold_beans():
    """Two bags of monthly coffee and a one-off mug, shipping paid: the order a subscription starts from."""
    beans = make_product(name="Coffee beans", sku="BEANS-1", kind="subscription", interval="month", interval_count=1,
                         price=1650, vat_rate_bp=900)
    return beans, [(beans, 2), (make_product(name="Mug", price=1200), 1)]


def renewal_lines(order):
    return [{field: getattr(line, field) for field in SOLD} | {"product": line.product_id}
            for line in order.lines.all()]


def by_the_beat(sub):
    tasks.charge_due_subscriptions()  # opens the cycle by the batch (orders_create_renewals), then charges it


def one_by_one(sub):
    assert subscription_charge(subscription_id=sub.pk) == "paid"  # order_create_renewal without provider lines


@pytest.mark.parametrize("renew", [by_the_beat, one_by_one])
def test_a_deleted_product_renews_as_it_was_sold(klarna, client, smtp, renew):
    beans, items = sold_beans()
    pay_with_klarna(klarna, client, make_order(items=items, email="sam@example.com"))
    sub = Subscription.objects.get()
    beans.delete()  # what admin's delete does
    make_due(sub)
    renew(sub)

    charge = sub.charges.select_related("attempt__order").get(billing_cycle=1)
    assert charge.outcome == "paid"
    renewal = charge.attempt.order
    assert renewal_lines(renewal) == [SOLD]
    assert (renewal.subtotal, renewal.shipping_fee, renewal.total, renewal.tax_total) == (3300, 0, 3300, TAX)

    sent = json.loads(token_orders(klarna)[-1]["body"])
    assert [(line["type"], line["reference"], line["name"], line["quantity"], line["unit_price"], line["tax_rate"],
             line["total_amount"], line["total_tax_amount"]) for line in sent["order_lines"]] == [
        ("physical", "BEANS-1", "Coffee beans", 2, 1650, 900, 3300, TAX)]
    assert (sent["order_amount"], sent["order_tax_amount"]) == (3300, TAX)

    receipt = smtp.text(smtp.to("sam@example.com")[-1])
    assert "2 x Coffee beans (every month)   €\u00a033.00" in receipt
    assert "Shipping   Free" in receipt
    assert f"Total      €\u00a033.00 (including VAT €\u00a0{TAX // 100}.{TAX % 100:02d})" in receipt


def test_a_provider_renewal_of_a_deleted_product_keeps_its_line():
    """29 Next renews on its own and reports the lines it charged by its product id (copied on the order line):
    the line is found on the order that started the subscription, not in the catalog it left."""
    beans, items = sold_beans()
    initial = make_order(items=items)
    provider_id = beans.next_product_id
    beans.delete()
    book = order_book()
    # The provider also charged shipping on the renewal: that part, and only that, is shipping.
    renewal = Order.objects.get(pk=book.create_renewal(initial_order_id=initial.pk, billing_cycle=1, amount=3300 + 495,
                                                       provider_lines=[RenewalLine(provider_id, 2, 3300)]))
    assert renewal_lines_of(renewal.lines.all()) == [SOLD | {"next_product_id": provider_id}]
    assert (renewal.subtotal, renewal.shipping_fee, renewal.total) == (3300, 495, 3795)
    # No provider lines (the fallback): the subscription's own lines as sold.
    fallback = book.create_renewal(initial_order_id=initial.pk, billing_cycle=2, amount=3300, provider_lines=[],
                                   schedule=("month", 1))
    assert renewal_lines_of(OrderLine.objects.filter(order_id=fallback)) == [SOLD | {"next_product_id": provider_id}]


def renewal_lines_of(lines):
    return [{field: getattr(line, field) for field in SOLD} | {"product": line.product_id,
                                                               "next_product_id": line.next_product_id}
            for line in lines]
