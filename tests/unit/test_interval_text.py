"""Billing frequency wording (issue 8, item 2): one formatter for pages and admin."""
import pytest
from django.template import Context, Template

from payments.models import Subscription
from shop.models import OrderLine, Product
from shop.pricing import format_interval


@pytest.mark.parametrize("interval, count, expected", [
    ("month", 1, "every month"),
    ("month", 3, "every 3 months"),
    ("year", 1, "every year"),
    ("year", 2, "every 2 years"),
    ("week", 1, "every week"),
    ("week", 2, "every 2 weeks"),
    ("day", 1, "every day"),
    ("day", 10, "every 10 days"),
    ("MONTH", 6, "every 6 months"),      # Klarna's spelling
    ("month", None, "every month"),      # rows from before the count was stored
    ("month", 0, "every month"),
    ("", 3, ""),                         # one-off goods
    (None, None, ""),
])
def test_format_interval(interval, count, expected):
    assert format_interval(interval, count) == expected


def test_every_filter_reads_products_lines_and_subscriptions_alike():
    template = Template("{% load money %}[{{ item|every }}]")
    items = [Product(kind="subscription", interval="month", interval_count=3),
             OrderLine(interval="month", interval_count=3),
             Subscription(interval="month", interval_count=3)]
    assert {template.render(Context({"item": item})) for item in items} == {"[every 3 months]"}
    assert template.render(Context({"item": Product(kind="physical")})) == "[]"


def test_no_template_states_an_interval_by_hand():
    """Every page that states a frequency goes through the `every` filter: no '× per' or hand-made
    plural is left in the templates."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "templates"
    offenders = [str(path.relative_to(root)) for path in root.rglob("*.html")
                 if "× per" in path.read_text() or "interval }}s" in path.read_text()]
    assert offenders == []
