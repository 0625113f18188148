"""Parsing a MultiSafepay notification: identity for dedupe, GET and pretransaction calls, bad input."""
import json

import pytest

from payments.providers.multisafepay.notifications import NotificationError, parse_notification

BODY = json.dumps({"order_id": "SO-1-1", "status": "completed", "financial_status": "uncleared"}).encode()


def test_post_identity_is_order_status_pair_and_timestamp():
    note = parse_notification(method="post", query={"transactionid": "SO-1-1", "timestamp": "1700000000"}, body=BODY)
    assert (note.method, note.status, note.financial_status) == ("POST", "completed", "uncleared")
    assert note.identity == "SO-1-1:completed/uncleared:1700000000" and not note.ignorable
    again = parse_notification(method="POST", query={"transactionid": "SO-1-1", "timestamp": "1700000900"}, body=BODY)
    assert again.identity != note.identity  # a resend is a new delivery; applying it changes nothing
    assert note.payload["order_id"] == "SO-1-1"


def test_get_notifications_have_no_body_and_read_back():
    note = parse_notification(method="GET", query={"transactionid": "SO-1-1", "timestamp": "17"}, body=b"")
    assert (note.method, note.status, note.identity) == ("GET", "", "SO-1-1:get:17")


@pytest.mark.parametrize("query", [{"transactionid": "SO-1-1", "timestamp": "1", "payload_type": "pretransaction"},
                                   {"transactionid": "SO-1-1"}])
def test_pretransaction_and_timestampless_calls_are_ignorable(query):
    assert parse_notification(method="POST", query=query, body=BODY).ignorable


@pytest.mark.parametrize("method,query,body", [
    ("GET", {"timestamp": "1"}, b""),
    ("POST", {"transactionid": "SO-1-1", "timestamp": "1"}, b"not json"),
    ("POST", {"transactionid": "SO-1-1", "timestamp": "1"}, b"[1]"),
    ("POST", {"transactionid": "SO-9-9", "timestamp": "1"}, BODY),
    ("POST", {"timestamp": "1"}, b"{}"),
])
def test_unattributable_notifications_are_refused(method, query, body):
    with pytest.raises(NotificationError):
        parse_notification(method=method, query=query, body=body)
