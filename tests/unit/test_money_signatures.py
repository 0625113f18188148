import hashlib
import hmac
import json

import pytest

from payments.providers.money import from_decimal_string, to_decimal_string
from payments.providers.next import signatures


@pytest.mark.parametrize("minor,text", [(0, "0.00"), (1, "0.01"), (1999, "19.99"), (100000, "1000.00"),
                                        (-250, "-2.50")])
def test_decimal_strings_round_trip(minor, text):
    assert to_decimal_string(minor) == text
    assert from_decimal_string(text) == minor


@pytest.mark.parametrize("text,minor", [("19.9", 1990), ("19", 1900), (".5", 50), ("  7.00 ", 700)])
def test_decimal_strings_accept_short_forms(text, minor):
    assert from_decimal_string(text) == minor


@pytest.mark.parametrize("bad", ["", "abc", "1.234", "1e3", "--1", "1,00", None, "NaN", "Infinity"])
def test_decimal_strings_reject_garbage(bad):
    with pytest.raises(ValueError):
        from_decimal_string(bad)


def test_money_is_never_a_float():
    with pytest.raises(TypeError):
        to_decimal_string(19.99)


SECRET = "s3cret"


def test_signature_over_raw_body():
    body = b'{"event_id":"e1","event_type":"order.created"}'
    good = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert signatures.verify(SECRET, body, good)
    assert signatures.verify(SECRET, body, good.upper())  # hex case is not significant


def test_signature_over_docs_reserialisation():
    # The docs sign json.dumps(json.loads(body)); a compact body must still verify that way.
    body = b'{"event_id":"e1","data":{"a":1}}'
    docs_way = hmac.new(SECRET.encode(), json.dumps(json.loads(body)).encode(), hashlib.sha256).hexdigest()
    assert signatures.verify(SECRET, body, docs_way)


@pytest.mark.parametrize("signature", [None, "", "00" * 32, "not-hex"])
def test_bad_signatures_fail(signature):
    assert not signatures.verify(SECRET, b'{"event_id": "e1"}', signature)


def test_wrong_secret_or_tampered_body_fails():
    body = b'{"event_id": "e1", "amount": "10.00"}'
    sig = signatures.sign(SECRET, body)
    assert not signatures.verify("other", body, sig)
    assert not signatures.verify(SECRET, body.replace(b"10.00", b"99.00"), sig)
    assert not signatures.verify("", body, sig)


def test_a_non_ascii_signature_header_is_simply_invalid():
    from payments.providers.next.signatures import verify

    assert verify("secret", b"{}", "\x80\u00e9") is False
