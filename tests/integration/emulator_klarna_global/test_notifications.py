"""The emulated Klarna notification API (`/v2/notification/...`): signing keys and webhooks as the notes
(reference §2) list them: create, list, read, update, delete, simulate; wrong JSON types are a 400 naming
the parameter, a verb a path does not serve a 405 in the v2 error body, and a signing key a webhook still
signs with cannot be deleted."""
from __future__ import annotations

from urllib.parse import quote

import pytest

from .test_authorize_and_requests import call

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


@pytest.mark.parametrize("body", [[], [1], "x", 5])
def test_bodies_that_are_not_objects_are_refused(emulator, hook, body):
    for method, path in [("POST", "/v2/notification/signing-keys"), ("POST", "/v2/notification/webhooks")]:
        assert_validation(call(emulator, method, path, body), "body")
