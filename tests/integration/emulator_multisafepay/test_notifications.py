"""MultiSafepay emulator contract: the payment page and its redirects, personas and scenarios, and the
signed notifications (verified with the shop's own verifier), resent late or out of order, POST and GET."""
from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

from payments.providers.multisafepay.signatures import verify
from tests.integration.emulator_multisafepay.helpers import (
    API_KEY,
    SESSION,
    complete,
    create,
    get_order,
    order_body,
)


def _click(payment_url: str, action: str):
    page = SESSION.get(payment_url, timeout=5)
    assert page.status_code == 200 and f'id="msp-{action}"' in page.text
    return SESSION.post(payment_url, data={"action": action}, timeout=5, allow_redirects=False)


def test_approving_on_the_page_redirects_by_get_and_sends_a_signed_notification(emulator, receiver):
    data = create(emulator, receiver)
    answer = _click(data["payment_url"], "approve")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "https://shop.example/return/msp/?t=abc&transactionid=SO-1001-1"
    order = get_order(emulator, "SO-1001-1")
    assert (order["status"], order["financial_status"]) == ("completed", "uncleared")
    [delivery] = receiver.wait_for(1)
    assert delivery["method"] == "POST" and delivery["headers"]["content-type"] == "application/json"
    assert delivery["query"]["transactionid"] == "SO-1001-1"
    checked = verify(API_KEY, delivery["body"], delivery["headers"]["auth"], tolerance=600)
    assert checked.ok and str(checked.timestamp) == delivery["query"]["timestamp"]
    assert json.loads(delivery["body"]) == order | {"modified": json.loads(delivery["body"])["modified"]}
    assert b", " not in delivery["body"]  # compact JSON, the bytes that were signed
    # A second click changes nothing and goes where the first one went.
    assert _click(data["payment_url"], "decline").headers["Location"].startswith("https://shop.example/return/")
    assert len(receiver.wait_for(2, timeout=0.3)) == 1


def test_decline_and_cancel_go_to_the_cancel_url(emulator, receiver):
    data = create(emulator, receiver)
    assert _click(data["payment_url"], "decline").headers["Location"] == \
        "https://shop.example/cancel/msp/?transactionid=SO-1001-1"
    assert get_order(emulator, "SO-1001-1")["status"] == "declined"
    create(emulator, receiver, order_id="SO-1001-2")
    assert complete(emulator, "SO-1001-2", "cancel")["redirect_url"].endswith("?transactionid=SO-1001-2")
    assert get_order(emulator, "SO-1001-2")["status"] == "cancelled"
    assert receiver.statuses() == ["declined", "cancelled"]


def test_personas_and_scripted_outcomes(emulator, receiver):
    denied = order_body()["customer"] | {"email": "customer+denied@example.com"}
    create(emulator, receiver, customer=denied)
    assert complete(emulator, "SO-1001-1")["status"] == "declined"
    pending = order_body()["customer"] | {"email": "customer+pending@example.com"}
    create(emulator, receiver, order_id="SO-2", customer=pending)
    assert complete(emulator, "SO-2")["status"] == "uncleared"
    emulator.control("POST", "/_emulator/multisafepay/orders/SO-2/status", {"status": "completed"})
    assert get_order(emulator, "SO-2")["status"] == "completed"
    emulator.control("POST", "/_emulator/multisafepay/scenario", {"outcome": "decline"})
    create(emulator, receiver, order_id="SO-3")
    assert complete(emulator, "SO-3")["status"] == "declined"
    create(emulator, receiver, order_id="SO-4")
    assert complete(emulator, "SO-4")["status"] == "completed"  # the scenario was used up
    assert receiver.statuses() == ["declined", "uncleared", "completed", "declined", "completed"]


def test_an_old_notification_can_be_resent_late_and_out_of_order(emulator, receiver):
    create(emulator, receiver, customer=order_body()["customer"] | {"email": "c+pending@example.com"})
    complete(emulator, "SO-1001-1")
    emulator.control("POST", "/_emulator/multisafepay/orders/SO-1001-1/status", {"status": "completed"})
    emulator.control("POST", "/_emulator/multisafepay/orders/SO-1001-1/notify", {"index": 0, "times": 2})
    deliveries = receiver.wait_for(4)
    assert receiver.statuses() == ["uncleared", "completed", "uncleared", "uncleared"]
    assert all(verify(API_KEY, d["body"], d["headers"]["auth"]).ok for d in deliveries)
    assert get_order(emulator, "SO-1001-1")["status"] == "completed"  # resending changes nothing


def test_an_unanswered_notification_is_retried_until_acknowledged(emulator, receiver):
    emulator.control("PATCH", "/_emulator/config", {"multisafepay": {"notifications_sync": False}})
    receiver.answers = [(500, "ng: database down")]
    create(emulator, receiver)
    complete(emulator, "SO-1001-1")
    deliveries = receiver.wait_for(2)
    assert len(deliveries) == 2 and deliveries[0]["body"] == deliveries[1]["body"]
    deadline = time.monotonic() + 5  # the sender records the answer just after the receiver has it
    while True:
        [record] = emulator.control("GET", "/_emulator/webhooks?provider=multisafepay")["deliveries"]
        if record["state"] == "delivered" or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert record["state"] == "delivered" and [a["status"] for a in record["attempts"]] == [500, 200]


def test_get_notifications_carry_no_body_and_want_ok(emulator, receiver):
    body = order_body(receiver)
    body["payment_options"]["notification_method"] = "GET"
    body["payment_options"]["notification_url"] = receiver.url + "?route=msp"
    create(emulator, **{"payment_options": body["payment_options"]})
    receiver.answers = [(200, "received")]  # 200 without OK is not an acknowledgement
    complete(emulator, "SO-1001-1")
    first, second = receiver.wait_for(2)
    assert first["method"] == second["method"] == "GET" and first["body"] == b"" and "auth" not in first["headers"]
    assert first["query"]["route"] == "msp" and first["query"]["transactionid"] == "SO-1001-1"
    [listed] = emulator.control("GET", "/_emulator/multisafepay/orders")["orders"]
    assert [d["acknowledged"] for d in listed["get_deliveries"]] == [False, True]


def test_without_a_notification_url_nothing_is_sent(emulator, receiver):
    create(emulator)
    complete(emulator, "SO-1001-1")
    assert receiver.wait_for(1, timeout=0.3) == []


def test_unknown_payment_links_and_bad_actions(emulator):
    assert SESSION.get(f"{emulator.url}/multisafepay/connect/nope/", timeout=5).status_code == 404
    data = create(emulator)
    assert SESSION.post(data["payment_url"], data={"action": "steal"}, timeout=5).status_code == 400
    assert parse_qs(urlsplit(data["payment_url"]).query) == {"lang": ["nl_NL"]}


def test_the_shops_parser_reads_what_the_emulator_sends(emulator, receiver):
    from payments.providers.multisafepay.notifications import parse_notification

    create(emulator, receiver)
    complete(emulator, "SO-1001-1")
    emulator.control("POST", "/_emulator/multisafepay/orders/SO-1001-1/notify", {})
    first, resent = (parse_notification(method=d["method"], query=d["query"], body=d["body"])
                     for d in receiver.wait_for(2))
    assert (first.order_id, first.status, first.financial_status) == ("SO-1001-1", "completed", "uncleared")
    assert first.identity.startswith("SO-1001-1:completed/uncleared:") and not first.ignorable
    assert resent.payload == first.payload
