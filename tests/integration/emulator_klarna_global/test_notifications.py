"""The emulated Klarna notification API (`/v2/notification/...`): signing keys and webhooks as the notes
(reference §2) list them: create, list, read, update, delete, simulate; wrong JSON types are a 400 naming
the parameter, a verb a path does not serve a 405 in the v2 error body, and a signing key a webhook still
signs with cannot be deleted."""
from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import quote

import pytest

from .test_authorize_and_requests import call, stepped_up

COMPLETED = "payment.request.state-change.completed"


@pytest.fixture
def key(emulator):
    answer = call(emulator, "POST", "/v2/notification/signing-keys", {})
    assert answer.status_code == 201
    return answer.json()


@pytest.fixture
def hook(emulator, receiver, key):
    emulator.control("PATCH", "/_emulator/config", {"klarna_global": {"webhook_target": ""}})
    answer = call(emulator, "POST", "/v2/notification/webhooks", {
        "url": receiver.url, "event_types": ["payment.request.state-change.*"], "event_version": "v2",
        "signing_key_id": key["signing_key_id"], "status": "ENABLED"})
    assert answer.status_code == 201, answer.text
    return answer.json()


def hook_path(hook_or_id, tail=""):
    webhook_id = hook_or_id if isinstance(hook_or_id, str) else hook_or_id["webhook_id"]
    return f"/v2/notification/webhooks/{quote(webhook_id, safe='')}{tail}"


def assert_validation(answer, parameter):
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert (body["error_type"], body["error_code"]) == ("INPUT_ERROR", "VALIDATION_ERROR"), body
    assert parameter in {e["parameter"] for e in body["validation_errors"]}, body


WRONG_TYPES = [
    ("signing_key_id", []), ("signing_key_id", {"a": 1}), ("signing_key_id", 7), ("signing_key_id", True),
    ("url", ["https://x.example/"]), ("url", {"u": 1}), ("url", 5),
    ("event_types", "payment.*"), ("event_types", {"a": 1}), ("event_types", [1]), ("event_types", [["x"]]),
    ("event_types", [{"x": 1}]),
    ("status", []), ("status", {"s": 1}), ("status", 1),
    ("event_version", []), ("event_version", {"v": 2}), ("event_version", 2), ("event_version", "v9"),
]


@pytest.mark.parametrize("field,value", WRONG_TYPES)
def test_create_webhook_refuses_wrong_types_with_a_400(emulator, receiver, key, field, value):
    body = {"url": receiver.url, "event_types": [COMPLETED], "event_version": "v2",
            "signing_key_id": key["signing_key_id"], field: value}
    assert_validation(call(emulator, "POST", "/v2/notification/webhooks", body), field)


@pytest.mark.parametrize("field,value", WRONG_TYPES + [("event_types", []), ("signing_key_id", "nope")])
def test_update_webhook_refuses_wrong_types_with_a_400(emulator, hook, field, value):
    assert_validation(call(emulator, "PATCH", hook_path(hook), {field: value}), field)
    assert call(emulator, "GET", hook_path(hook)).json() == hook  # unchanged


@pytest.mark.parametrize("body", [[], [1], "x", 5])
def test_bodies_that_are_not_objects_are_refused(emulator, hook, body):
    for method, path in [("POST", "/v2/notification/signing-keys"), ("POST", "/v2/notification/webhooks"),
                         ("PATCH", hook_path(hook)), ("POST", hook_path(hook, "/simulate"))]:
        assert_validation(call(emulator, method, path, body), "body")


def test_list_read_update_and_delete_webhooks(emulator, receiver, key, hook):
    listed = call(emulator, "GET", "/v2/notification/webhooks")
    assert listed.status_code == 200
    assert listed.json() == {"webhooks": [hook]}
    assert call(emulator, "GET", hook_path(hook)).json() == hook

    updated = call(emulator, "PATCH", hook_path(hook), {"status": "DISABLED", "event_types": [COMPLETED]})
    assert updated.status_code == 200, updated.text
    assert updated.json() == {**hook, "status": "DISABLED", "event_types": [COMPLETED]}
    assert call(emulator, "GET", hook_path(hook)).json() == updated.json()
    stepped_up(emulator)
    assert receiver.deliveries == []  # disabled: nothing sent

    moved = call(emulator, "PATCH", hook_path(hook), {"status": "ENABLED", "url": receiver.url + "moved/",
                                                      "event_types": ["payment.request.*"]})
    assert moved.status_code == 200 and moved.json()["url"] == receiver.url + "moved/"
    stepped_up(emulator)
    assert [json.loads(body)["metadata"]["webhook_id"] for _, body in receiver.deliveries] == [hook["webhook_id"]]

    assert call(emulator, "DELETE", hook_path(hook)).status_code == 204
    for method in ("GET", "PATCH", "DELETE"):
        gone = call(emulator, method, hook_path(hook), {} if method == "PATCH" else None)
        assert gone.status_code == 404 and gone.json()["error_code"] == "RESOURCE_NOT_FOUND"
    assert call(emulator, "GET", "/v2/notification/webhooks").json() == {"webhooks": []}


def test_simulate_sends_a_signed_test_notification_to_the_webhook(emulator, receiver, key, hook):
    answer = call(emulator, "POST", hook_path(hook, "/simulate"), {"event_type": COMPLETED, "event_version": "v2"})
    assert 200 <= answer.status_code < 300, answer.text
    assert len(receiver.deliveries) == 1
    headers, body = receiver.deliveries[0]
    assert headers["klarna-signing-key-id"] == key["signing_key_id"]
    assert headers["klarna-signature"] == hmac.new(key["signing_key"].encode(), body, hashlib.sha256).hexdigest()
    envelope = json.loads(body)
    assert envelope["metadata"]["event_type"] == COMPLETED
    assert envelope["metadata"]["event_version"] == "v2"
    assert envelope["metadata"]["webhook_id"] == hook["webhook_id"]
    assert envelope["payload"]["state"] == "COMPLETED"
    assert envelope["payload"]["payment_request_id"]

    for bad in ({"event_type": 5}, {"event_type": ["x"]}, {"event_type": "no.such.event"}, {},
                {"event_type": COMPLETED, "event_version": []}):
        field = "event_version" if "event_version" in bad else "event_type"
        assert_validation(call(emulator, "POST", hook_path(hook, "/simulate"), bad), field)
    missing = call(emulator, "POST", hook_path("krn:nope", "/simulate"), {"event_type": COMPLETED})
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_NOT_FOUND"
    assert len(receiver.deliveries) == 1


@pytest.mark.parametrize("method,path,allowed", [
    ("PUT", "/v2/notification/webhooks/{id}", "DELETE, GET, PATCH"),
    ("POST", "/v2/notification/webhooks/{id}", "DELETE, GET, PATCH"),
    ("GET", "/v2/notification/webhooks/{id}/simulate", "POST"),
    ("PUT", "/v2/notification/webhooks", "GET, POST"),
    ("PATCH", "/v2/notification/signing-keys/{id}", "DELETE, GET"),
])
def test_a_verb_a_path_does_not_serve_is_a_405_in_the_v2_body(emulator, hook, method, path, allowed):
    answer = call(emulator, method, path.format(id=quote(hook["webhook_id"], safe="")), {})
    assert answer.status_code == 405
    body = answer.json()
    assert (body["error_type"], body["error_code"]) == ("INPUT_ERROR", "METHOD_NOT_ALLOWED"), body
    assert body["error_id"] and method in body["error_message"]
    assert answer.headers["Allow"] == allowed
    assert answer.headers["Klarna-Correlation-Id"]


def test_a_signing_key_a_webhook_signs_with_cannot_be_deleted(emulator, receiver, key, hook):
    key_path = f"/v2/notification/signing-keys/{quote(key['signing_key_id'], safe='')}"
    refused = call(emulator, "DELETE", key_path)
    assert refused.status_code == 409, refused.text
    assert (refused.json()["error_type"], refused.json()["error_code"]) == ("RESOURCE_ERROR", "RESOURCE_CONFLICT")
    assert hook["webhook_id"] in refused.json()["error_message"]
    assert call(emulator, "GET", key_path).status_code == 200  # still there, still signing
    stepped_up(emulator)
    assert len(receiver.deliveries) == 1

    other = call(emulator, "POST", "/v2/notification/signing-keys", {}).json()
    moved = call(emulator, "PATCH", hook_path(hook), {"signing_key_id": other["signing_key_id"]})
    assert moved.status_code == 200 and moved.json()["signing_key_id"] == other["signing_key_id"]
    assert call(emulator, "DELETE", key_path).status_code == 204  # no webhook names it any more
    assert call(emulator, "GET", key_path).status_code == 404
