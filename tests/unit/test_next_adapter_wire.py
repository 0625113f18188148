"""29 Next adapter: what goes on the wire and how returns and orders are read (no network)."""
import json

import pytest

from payments.exceptions import InvalidReturn, ProviderRequestError
from payments.providers.next.adapter import NextAdapter, parse_return
from payments.providers.types import Address, AttemptRef, CheckoutLine, CheckoutRequest, Customer, InboundMessage


class NoClient:
    """The adapter is built with a client; these tests never reach it."""


@pytest.fixture
def adapter():
    return NextAdapter(client=NoClient())


def checkout_request(**overrides):
    address = Address("Anna", "Jansen", "Keizersgracht 1", "", "Amsterdam", "1015 CJ", "NL")
    values = dict(
        reference="pa_1", order_number="SO-1", amount=5495, currency="EUR",
        lines=(CheckoutLine(sku="MUG", name="Mug", quantity=2, unit_price=2500, total=5000, tax=868,
                            vat_rate_bp=2100, provider_product_id=101),),
        shipping_fee=495, customer=Customer("anna@example.com", "Anna", "Jansen", "+31612345678"),
        shipping_address=address, billing_address=address, return_url="http://shop/return/x/",
    )
    values.update(overrides)
    return CheckoutRequest(**values)


def test_order_body_is_a_klarna_redirect_order(adapter):
    body = adapter.order_body(checkout_request())
    assert body["payment_method"] == "klarna"
    assert body["payment_details"]["payment_return_url"] == "http://shop/return/x/"
    assert body["currency"] == "EUR"
    assert body["lines"] == [{"product_id": 101, "quantity": 2, "price": "25.00",
                              "metadata": {"sku": "MUG", "title": "Mug"}}]
    assert body["shipping_price"] == "4.95"
    assert body["metadata"]["shop_reference"] == "pa_1"
    assert body["tags"] == ["shop-pa_1"]
    assert body["shipping_address"]["line4"] == "Amsterdam"
    assert body["user"]["phone_number"] == "+31612345678"


def test_subscription_lines_carry_their_interval(adapter):
    line = CheckoutLine(sku="BEANS", name="Beans", quantity=1, unit_price=1500, total=1500, tax=124,
                        vat_rate_bp=900, provider_product_id=201, interval="month", interval_count=1)
    body = adapter.order_body(checkout_request(lines=(line,), shipping_fee=0, amount=1500))
    assert body["lines"][0]["subscription"] == {"interval": "month", "interval_count": 1}
    assert "shipping_price" not in body


def test_line_without_provider_product_is_refused(adapter):
    line = CheckoutLine(sku="X", name="X", quantity=1, unit_price=100, total=100, tax=17, vat_rate_bp=2100)
    with pytest.raises(ProviderRequestError):
        adapter.order_body(checkout_request(lines=(line,)))


def returned(params, *, method="POST", content_type="application/x-www-form-urlencoded"):
    bound = AttemptRef(reference="pa_1", provider_reference="", amount=100, currency="EUR")
    return InboundMessage(channel="return", method=method, body=b"", headers={}, params=params,
                          content_type=content_type, bound=bound)


def test_empty_response_means_no_order():
    assert parse_return(returned({"response": "{}"})) == ""


def test_order_response_names_the_order():
    assert parse_return(returned({"response": json.dumps({"number": "100001"})})) == "100001"


def test_return_identity_is_stable_and_differs_by_outcome(adapter):
    paid = returned({"response": json.dumps({"number": "100001"})})
    assert adapter.identify(paid) == adapter.identify(paid)
    assert adapter.identify(paid) != adapter.identify(returned({"response": "{}"}))


@pytest.mark.parametrize("data", [
    {},                                         # no field
    {"response": "not json"},
    {"response": "[1, 2]"},                     # not an object
    {"response": '"text"'},
    {"response": json.dumps({"lines": []})},    # no number
    {"response": json.dumps({"number": True})},
    {"response": json.dumps({"number": "  "})},
    {"response": "{" + " " * (600 * 1024) + "}"},  # too large
    {"response": "[" * 100_000},                # nested beyond any order: refused before json.loads
    {"response": {"number": "1"}},              # not a string (a JSON body's object)
    {"response": 5},
])
def test_malformed_returns_are_invalid(data):
    with pytest.raises(InvalidReturn):
        parse_return(returned(data))


@pytest.mark.parametrize("method, content_type", [("POST", "application/json"), ("GET", "")])
def test_only_a_form_post_is_a_29_next_return(method, content_type):
    with pytest.raises(InvalidReturn):
        parse_return(returned({"response": "{}"}, method=method, content_type=content_type))


def test_order_json_becomes_a_provider_payment(adapter):
    payment = adapter.to_payment({
        "number": "100001", "payment_status": "paid", "total_incl_tax": "54.95", "currency": "EUR",
        "metadata": {"shop_reference": "pa_1"}, "supports_post_purchase_upsells": True,
        "lines": [{"product_id": 101, "quantity": 2}, {"product_id": 7, "quantity": 1, "is_upsell": True}],
    })
    assert payment.status == "captured" and payment.amount == 5495 and payment.reference == "pa_1"
    assert payment.lines == ((101, 2),) and payment.supports_upsell


def test_authorized_orders_are_authorized_not_paid(adapter):
    payment = adapter.to_payment({"number": "1", "payment_status": "authorized", "total_incl_tax": "1.00",
                                  "lines": []})
    assert payment.status == "authorized"


@pytest.mark.parametrize("order", [
    {"number": "1", "payment_status": "paid", "total_incl_tax": "1.00"},                     # no lines
    {"number": "1", "payment_status": "paid", "total_incl_tax": "1.00", "lines": {"a": 1}},  # not a list
    {"number": "1", "payment_status": "paid", "total_incl_tax": "1.00",
     "lines": [{"product_id": "abc", "quantity": 1}]},
    {"number": "1", "payment_status": "paid", "total_incl_tax": "1.00",
     "lines": [{"product_id": 1, "quantity": "x"}]},
    {"number": "1", "payment_status": "paid", "total_incl_tax": "1.00", "lines": [],
     "subscriptions": [{"id": 1, "billing_cycle": "z"}]},
])
def test_orders_without_readable_lines_fail_verification(adapter, order):
    with pytest.raises(InvalidReturn):
        adapter.to_payment(order)


def test_unreadable_total_is_invalid(adapter):
    with pytest.raises(InvalidReturn):
        adapter.to_payment({"number": "1", "payment_status": "paid", "total_incl_tax": "lots"})


def test_subscription_page_keeps_only_the_cursor_of_the_next_link():
    from payments.providers.next.wire import to_subscription_page

    item = {"id": 7, "status": "active", "interval": "month", "interval_count": 1, "total": "16.50",
            "currency": "EUR", "next_renewal_date": "2030-01-01T00:00:00+00:00", "orders": []}
    page = to_subscription_page({"next": "http://elsewhere.example/api/admin/subscriptions/?status=active&cursor=cj0w",
                                 "previous": None, "results": [item]})
    assert page.next_cursor == "cj0w" and [i.provider_id for i in page.infos] == ["7"]
    assert to_subscription_page({"next": None, "results": []}).next_cursor is None
    for bad in ({"next": None}, {"next": "http://x/?status=active", "results": []}, []):
        with pytest.raises(InvalidReturn):
            to_subscription_page(bad)


def upsell_order(payment_status, *transactions):
    line = {"product_id": 7, "quantity": 1, "price_incl_tax": "12.90", "is_upsell": True,
            "metadata": {"shop_upsell": "up_1"}}
    return {"number": "100001", "payment_status": payment_status, "lines": [line],
            "transactions": [{"id": i, "status": "succeeded", "type": kind, "amount": amount, "parent_id": parent}
                             for i, (kind, amount, parent) in enumerate(transactions, start=1)]}


@pytest.mark.parametrize("payment_status, transactions, expected", [
    ("paid", [("debit", "23.45", None), ("debit", "12.90", None)], "captured"),
    ("authorized", [("authorize", "23.45", None), ("authorize", "12.90", None)], "authorized"),
    ("paid", [("authorize", "23.45", None), ("authorize", "12.90", None),
              ("capture", "23.45", 1), ("capture", "12.90", 2)], "captured"),
    ("voided", [("authorize", "23.45", None), ("authorize", "12.90", None),
                ("void", "23.45", 1), ("void", "12.90", 2)], "cancelled"),
    # No transaction of the line's amount: the order's payment_status decides, as for the checkout.
    ("authorized", [("authorize", "36.35", None)], "authorized"),
    ("paid", [("debit", "36.35", None)], "captured"),
    ("partially_paid", [], "authorized"),
])
def test_an_upsell_line_is_as_authorized_or_captured_as_its_transaction(payment_status, transactions, expected):
    from payments.providers.next.wire import find_upsell_line

    found = find_upsell_line(upsell_order(payment_status, *transactions), "up_1")
    assert (found.amount, found.status) == (1290, expected)
