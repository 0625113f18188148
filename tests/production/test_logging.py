"""Item 5 of issue 9: what the shop log holds, read from the real handler the settings configure.

A newline in input an attacker chose must not make a line that reads as a record of its own, and the
signed tokens of our links and Klarna's authorization tokens must not reach the log.
"""
import io
import json
import logging
import re

import pytest

from config.logging import CONTINUATION, MASK, JsonFormatter, RedactFilter, escape_controls
from shop.links import order_token, subscription_token
from tests.factories import make_order

# A record line as LineFormatter writes it: "2026-12-01 07:35:51,096 WARNING django.request ..."
RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")
FORGED = "\n2099-01-01 00:00:00,000 ERROR payments forged entry"


@pytest.fixture
def shop_log():
    """The text the configured console handler writes while the test runs."""
    handler = next(h for h in logging.getLogger().handlers
                   if any(isinstance(f, RedactFilter) for f in h.filters))
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


def records(stream) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if RECORD_START.match(line)]


@pytest.mark.django_db
def test_a_newline_in_logged_input_cannot_forge_a_record(client, shop_log):
    # What payments.views logs for a rejected return: text from the POST body, unescaped by the caller.
    logging.getLogger("payments.views").warning("return rejected: order %s", "SO-NOPE" + FORGED)
    # Django escapes request paths itself since 5.2.2; the handler must keep that one line too.
    response = client.get("/orders/SO-NOPE" + FORGED.replace(" ", "%20").replace("\n", "%0A") + "/")
    assert response.status_code == 404
    lines = shop_log.getvalue().splitlines()
    assert len(lines) == len(records(shop_log)) == 2, lines
    assert lines[0].endswith("return rejected: order SO-NOPE\\n2099-01-01 00:00:00,000 ERROR payments forged entry")
    assert "Not Found: /orders/SO-NOPE\\n2099-01-01" in lines[1]
    assert not any(line.startswith("2099") for line in lines)


@pytest.mark.django_db
def test_signed_order_and_subscription_links_are_masked_in_request_lines(client, shop_log):
    order = make_order()
    token = order_token(order)
    signature = token.split(":", 1)[1]
    assert client.get(f"/orders/{token}/retry/").status_code == 405  # Django logs 4xx with the full path
    logging.getLogger("django.server").warning('"%s" %s %s', f"GET /subscriptions/{token}/ HTTP/1.1", 404, 0)
    text = shop_log.getvalue()
    assert signature not in text
    assert f"/orders/{order.number}:{MASK}/retry/" in text  # the order number stays, for correlation
    assert f"/subscriptions/{order.number}:{MASK}/" in text
    assert len(records(shop_log)) == 2


def test_every_signed_route_is_masked(shop_log):
    class Sub:
        pk = 41
    token = subscription_token(Sub)
    paths = [f"/payments/return/next/{token}/", f"/payments/widget/klarna_payments/{token}/",
             f"/payments/notify/klarna_payments/{token}/", f"/subscriptions/{token}/cancel/",
             f"https://shop.example.com/orders/SO-1%3A{token.split(':')[-1]}/"]
    for path in paths:
        logging.getLogger("django.request").warning("Not Found: %s", path)
    text = shop_log.getvalue()
    assert token.split(":")[-1] not in text
    assert text.count(MASK) == len(paths)


def test_klarna_authorization_tokens_never_reach_the_log(emulator, shop_log):
    from payments.exceptions import ProviderError
    from payments.providers.http import ProviderHTTP

    token = "a1b2c3d4-0000-4000-8000-feedfacecafe"
    http = ProviderHTTP(name="klarna", base_url=emulator.url + "/klarna/", headers={}, max_retries=0)
    with pytest.raises(ProviderError):  # the emulator knows no such authorization: the line is logged anyway
        http.request("POST", f"payments/v1/authorizations/{token}/order", json={})
    logging.getLogger("payments.views").warning("callback %s", {"authorization_token": token})
    text = shop_log.getvalue()
    assert "payments/v1/authorizations/***/order" in text
    assert token not in text


def test_a_traceback_keeps_its_lines_but_none_reads_as_a_record(shop_log):
    try:
        raise ValueError("order number" + FORGED + f" /orders/SO-1:{'s' * 27}/")
    except ValueError:
        logging.getLogger("payments.services").exception("return for %s failed", "SO-1\r\nX")
    lines = shop_log.getvalue().splitlines()
    assert len(records(shop_log)) == 1
    assert lines[0].endswith("return for SO-1\\r\\nX failed")
    assert all(line.startswith(CONTINUATION) for line in lines[1:]) and len(lines) > 3
    assert f"/orders/SO-1:{MASK}/" in lines[-1] and "s" * 27 not in shop_log.getvalue()


def test_json_lines_hold_one_record_each_with_tokens_masked():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactFilter())
    logger = logging.getLogger("tests.json_lines")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("Not Found: %s", "/payments/return/next/ImF0dCI:1t:sig/" + FORGED)
        try:
            raise KeyError("x\ny")
        except KeyError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "WARNING" and first["logger"] == "tests.json_lines"
    assert first["message"].startswith(f"Not Found: /payments/return/next/ImF0dCI:{MASK}/\n2099")
    assert "KeyError" in second["exception"]


@pytest.mark.parametrize("raw, escaped", [
    ("a\nb", "a\\nb"), ("a\r\nb", "a\\r\\nb"), ("\x1b[2J", "\\x1b[2J"), ("x\u2028y", "x\\u2028y"),
    ("nul\x00", "nul\\x00"), ("\x85", "\\x85"), ("tab\tok", "tab\\tok"), ("plain ü €", "plain ü €"),
])
def test_control_characters_are_escaped(raw, escaped):
    assert escape_controls(raw) == escaped
