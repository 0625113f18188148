"""Signing keys and webhooks registry (reference §2, `/v2/notification/...`).

`POST /signing-keys` answers the key once; webhooks name a signing key id and event types (exact or
`prefix.*`), and receive the matching events (events.py) signed with that key. `simulate` sends one
sample event of the given type. Besides the registry, the configured target receives every event.
"""
from __future__ import annotations

import secrets
import uuid
from typing import TYPE_CHECKING

from ..routes import register_routes
from ..server import Request, Response, json_response
from .state import Webhook
from .wire import BASE, endpoint, invalid, json_body, not_found, param

if TYPE_CHECKING:
    from .provider import KlarnaGlobalProvider

MAX_SIGNING_KEYS = 50


def register(provider: "KlarnaGlobalProvider") -> None:
    register_routes(provider, BASE, [
        ("POST", "/v2/notification/signing-keys", create_key, True),
        ("GET", "/v2/notification/signing-keys/<key_id>", read_key, False),
        ("DELETE", "/v2/notification/signing-keys/<key_id>", delete_key, False),
        ("POST", "/v2/notification/webhooks", create_webhook, True),
        ("GET", "/v2/notification/webhooks/<webhook_id>", read_webhook, False),
        ("DELETE", "/v2/notification/webhooks/<webhook_id>", delete_webhook, False),
    ], wrap=endpoint)


def create_key(provider, request: Request) -> Response:
    json_body(request)  # no fields, but a body that is not a JSON object is still refused
    with provider.state.lock:
        if len(provider.state.signing_keys) >= MAX_SIGNING_KEYS:
            raise invalid(("signing_key", f"at most {MAX_SIGNING_KEYS} signing keys per account"))
        key_id = f"krn:partner:global:notification:signing-key:{uuid.uuid4()}"
        provider.state.signing_keys[key_id] = secrets.token_urlsafe(32)
        return json_response({"signing_key_id": key_id, "signing_key": provider.state.signing_keys[key_id]}, 201)


def read_key(provider, request: Request) -> Response:
    key_id = param(request, "key_id")
    if key_id not in provider.state.signing_keys:
        raise not_found("Signing key")
    return json_response({"signing_key_id": key_id})  # the key itself is shown only once


def delete_key(provider, request: Request) -> Response:
    if provider.state.signing_keys.pop(param(request, "key_id"), None) is None:
        raise not_found("Signing key")
    return Response(204, b"", {})


def _render(hook: Webhook) -> dict:
    return {"webhook_id": hook.id, "url": hook.url, "event_types": hook.event_types, "event_version": "v2",
            "signing_key_id": hook.signing_key_id, "status": hook.status}


STATUSES = ("ENABLED", "DISABLED")
EVENT_VERSIONS = ("v2",)  # the only version whose events the emulator sends


def _problems(provider, body: dict, *, partial: bool) -> list[tuple[str, str]]:
    """(parameter, reason) for every field of a webhook body that is missing (unless `partial`, as a PATCH
    is) or of the wrong JSON type or value. Types are checked before values are looked up, so a list or an
    object where a string belongs is a 400 naming the field, never a crash."""
    problems = []
    if not partial or "url" in body:
        url = body.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            problems.append(("url", "must be an http(s) URL"))
    if not partial or "event_types" in body:
        types = body.get("event_types")
        if not isinstance(types, list) or not types or not all(isinstance(t, str) and t for t in types):
            problems.append(("event_types", "must be a non-empty list of event types"))
    if not partial or "signing_key_id" in body:
        key_id = body.get("signing_key_id")
        if not isinstance(key_id, str):
            problems.append(("signing_key_id", "must be a signing key id (a string)"))
        elif key_id not in provider.state.signing_keys:
            problems.append(("signing_key_id", "unknown signing key"))
    if "status" in body and not (isinstance(body["status"], str) and body["status"] in STATUSES):
        problems.append(("status", "must be ENABLED or DISABLED"))
    if "event_version" in body and not (isinstance(body["event_version"], str)
                                        and body["event_version"] in EVENT_VERSIONS):
        problems.append(("event_version", "must be v2"))
    return problems


def create_webhook(provider, request: Request) -> Response:
    body = json_body(request)
    with provider.state.lock:
        problems = _problems(provider, body, partial=False)
        if problems:
            raise invalid(*problems)
        hook = Webhook(f"krn:partner:global:notification:webhook:{uuid.uuid4()}", body["url"],
                       list(body["event_types"]), body["signing_key_id"], body.get("status", "ENABLED"))
        provider.state.webhooks[hook.id] = hook
    return json_response(_render(hook), 201)


def read_webhook(provider, request: Request) -> Response:
    hook = provider.state.webhooks.get(param(request, "webhook_id"))
    if hook is None:
        raise not_found("Webhook")
    return json_response(_render(hook))


def delete_webhook(provider, request: Request) -> Response:
    if provider.state.webhooks.pop(param(request, "webhook_id"), None) is None:
        raise not_found("Webhook")
    return Response(204, b"", {})
