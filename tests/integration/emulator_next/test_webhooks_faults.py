"""29 Next emulator contract: rate limiting, injected faults, and signed webhook delivery with retries."""
from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from tests.integration.emulator_next.helpers import (
    ADMIN,
    VERSION,
    call,
    create_checkout,
    order_body,
    place_order,
    signature,
)


# --- rate limit and faults ---------------------------------------------------------------------
def test_rate_limit_throttles_past_four_per_second_and_can_be_switched_off(emulator):
    emulator.control("PATCH", "/_emulator/config", {"next": {"rate_limit": True}})
    answers = [call(emulator, "GET", "/orders/") for _ in range(6)]
    throttled = [a for a in answers if a.status_code == 429]
    assert [a.status_code for a in answers[:4]] == [200] * 4 and throttled
    assert throttled[0].headers["Retry-After"] == "1"
    assert throttled[0].json() == {"detail": "Request was throttled. Expected available in 1 second."}
    assert call(emulator, "GET", "/orders/", token="second-token").status_code == 200  # per token
    time.sleep(1.05)
    assert call(emulator, "GET", "/orders/").status_code == 200
    emulator.control("PATCH", "/_emulator/config", {"next": {"rate_limit": False}})
    assert all(call(emulator, "GET", "/orders/").status_code == 200 for _ in range(8))


def checkouts(emulator) -> int:
    return len(emulator.control("GET", "/_emulator/next/orders")["checkouts"])


def add_fault(emulator, **fault):
    emulator.control("POST", "/_emulator/faults", {"method": "POST", "path": f"{ADMIN}/orders/", **fault})


def test_error_fault_before_and_after(emulator):
    add_fault(emulator, kind="error", status=503, when="before")
    failed = call(emulator, "POST", "/orders/", order_body())
    assert failed.status_code == 503 and failed.json() == {"detail": "A server error occurred."}
    assert checkouts(emulator) == 0
    add_fault(emulator, kind="error", status=500, when="after")
    assert call(emulator, "POST", "/orders/", order_body()).status_code == 500
    assert checkouts(emulator) == 1  # processed, answer lost: the unknown outcome
    assert call(emulator, "POST", "/orders/", order_body()).status_code == 201  # times=1 by default


def test_timeout_faults(emulator):
    add_fault(emulator, kind="timeout", seconds=3, when="before")
    with pytest.raises(requests.Timeout):
        call(emulator, "POST", "/orders/", order_body(), timeout=0.5)
    assert checkouts(emulator) == 0
    add_fault(emulator, kind="timeout", seconds=3, when="after")
    with pytest.raises(requests.Timeout):
        call(emulator, "POST", "/orders/", order_body(), timeout=0.5)
    assert checkouts(emulator) == 1


def test_latency_rate_limit_faults_and_global_latency(emulator):
    add_fault(emulator, kind="latency", latency_ms=300, times=2)
    started = time.monotonic()
    assert call(emulator, "POST", "/orders/", order_body()).status_code == 201
    assert time.monotonic() - started >= 0.3
    add_fault(emulator, method="GET", path=f"{ADMIN}/orders/100", kind="rate_limit")
    assert call(emulator, "GET", "/orders/").status_code == 200  # prefix does not match
    limited = call(emulator, "GET", "/orders/100001/")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    emulator.control("DELETE", "/_emulator/faults")
    emulator.control("PATCH", "/_emulator/config", {"latency_ms": 250})
    started = time.monotonic()
    assert call(emulator, "GET", "/orders/").status_code == 200
    assert time.monotonic() - started >= 0.25


def test_the_configured_latency_is_the_answer_time_with_the_work_done_inside_it(emulator):
    """`latency_ms` is how long the provider takes to answer, counted from arrival: the order exists while
    the answer is still on its way (as with a real provider), and the emulator's own processing is not
    added on top. A latency fault adds its delay to that answer time."""
    emulator.control("PATCH", "/_emulator/config", {"latency_ms": 600})
    answer = {}
    caller = threading.Thread(target=lambda: answer.update(r=call(emulator, "POST", "/orders/", order_body())))
    started = time.monotonic()
    caller.start()
    deadline = started + 0.45
    while checkouts(emulator) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert checkouts(emulator) == 1 and "r" not in answer  # done, answer not sent yet
    caller.join()
    assert answer["r"].status_code == 201 and time.monotonic() - started >= 0.6
    add_fault(emulator, kind="latency", latency_ms=300)
    started = time.monotonic()
    assert call(emulator, "POST", "/orders/", order_body()).status_code == 201
    assert time.monotonic() - started >= 0.9


# --- webhooks ----------------------------------------------------------------------------------
def test_signed_webhooks_are_delivered_in_order(emulator, receiver):
    order = place_order(emulator)
    deliveries = receiver.wait_for(2)
    assert [json.loads(body)["event_type"] for _, body in deliveries] == ["order.created", "transaction.created"]
    for headers, body in deliveries:
        expected = signature("emulator-webhook-secret", body)
        assert headers["x-29next-signature"] == expected
        assert signature("emulator-webhook-secret", json.dumps(json.loads(body)).encode()) == expected
        assert headers["content-type"] == "application/json"
    created, transaction = (json.loads(body) for _, body in deliveries)
    assert created["api_version"] == VERSION and created["object"] == "order" and created["data"] == order
    assert created["webhook"] == {"id": 0, "store": "emulator", "events": created["webhook"]["events"],
                                  "target": receiver.url}
    assert transaction["object"] == "transaction" and transaction["data"]["order"] == "100001"
    assert transaction["data"]["type"] == "debit" and transaction["data"]["amount"] == "49.93"
    assert created["event_id"] != transaction["event_id"]
    records = emulator.control("GET", "/_emulator/webhooks")["deliveries"]
    assert [r["state"] for r in records] == ["delivered", "delivered"] and records[0]["last_status"] == 200


def test_declined_checkout_sends_no_webhook(emulator, receiver):
    emulator.complete_checkout(create_checkout(emulator), "decline")
    assert receiver.wait_for(1, timeout=0.3) == []


def test_registered_webhook_with_own_secret(emulator, receiver):
    emulator.control("PATCH", "/_emulator/config", {"next": {"webhook_target": ""}})
    bad = call(emulator, "POST", "/webhooks/", {"events": ["order.created"]})
    assert bad.status_code == 400 and bad.json() == {"target": ["This field is required."]}
    unknown = call(emulator, "POST", "/webhooks/", {"target": receiver.url, "events": ["order.exploded"]})
    assert unknown.status_code == 400
    created = call(emulator, "POST", "/webhooks/", {"name": "shop", "target": receiver.url,
                                                    "events": ["transaction.created"], "secret_key": "s3cret"})
    assert created.status_code == 201
    hook = created.json()
    assert hook["active"] is True and hook["warning_count"] == 0 and hook["id"] == 1
    assert call(emulator, "GET", "/webhooks/").json()["results"] == [hook]
    place_order(emulator)
    [(headers, body)] = receiver.wait_for(1)
    assert json.loads(body)["event_type"] == "transaction.created"
    assert json.loads(body)["webhook"]["id"] == 1
    assert headers["x-29next-signature"] == signature("s3cret", body)


def test_duplicate_and_drop_modes(emulator, receiver):
    emulator.control("POST", "/_emulator/webhooks/mode", {"mode": "duplicate"})
    place_order(emulator)
    events = [json.loads(body) for _, body in receiver.wait_for(4)]
    assert [e["event_type"] for e in events] == ["order.created", "order.created",
                                                  "transaction.created", "transaction.created"]
    assert events[0]["event_id"] == events[1]["event_id"]
    emulator.control("POST", "/_emulator/webhooks/mode", {"mode": "drop", "times": 1})
    place_order(emulator)
    events = [json.loads(body) for _, body in receiver.wait_for(5)]
    assert [e["event_type"] for e in events[4:]] == ["transaction.created"]  # only the first event dropped
    states = [r["state"] for r in emulator.control("GET", "/_emulator/webhooks")["deliveries"]]
    assert states.count("dropped") == 1


def test_failed_delivery_is_retried(emulator, receiver):
    emulator.control("PATCH", "/_emulator/config", {"next": {"webhook_target": ""}})
    call(emulator, "POST", "/webhooks/", {"target": receiver.url, "events": ["order.created"]})
    receiver.statuses[:] = [500, 201]  # only 200 counts as delivered
    place_order(emulator)
    deliveries = receiver.wait_for(3, timeout=6)  # backoff 0.5 s, then 1 s
    assert len({body for _, body in deliveries}) == 1 and len(deliveries) == 3
    [record] = emulator.control("GET", "/_emulator/webhooks")["deliveries"]
    assert [a["status"] for a in record["attempts"]] == [500, 201, 200] and record["state"] == "delivered"


def test_gone_answer_disables_the_webhook(emulator, receiver):
    emulator.control("PATCH", "/_emulator/config", {"next": {"webhook_target": ""}})
    call(emulator, "POST", "/webhooks/", {"target": receiver.url, "events": ["order.created"]})
    receiver.statuses[:] = [410]
    place_order(emulator)
    assert len(receiver.wait_for(1)) == 1
    assert call(emulator, "GET", "/webhooks/").json()["results"][0]["active"] is False
    place_order(emulator)
    assert len(receiver.wait_for(2, timeout=0.3)) == 1
