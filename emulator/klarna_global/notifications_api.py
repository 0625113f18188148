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
from . import events
from .state import Webhook
from .wire import BASE, V2Error, endpoint, invalid, json_body, not_found, param

if TYPE_CHECKING:
    from .provider import KlarnaGlobalProvider

MAX_SIGNING_KEYS = 50


def register(provider: "KlarnaGlobalProvider") -> None:
    register_routes(provider, BASE, [
        ("POST", "/v2/notification/signing-keys", create_key, True),
        ("GET", "/v2/notification/signing-keys/<key_id>", read_key, False),
        ("DELETE", "/v2/notification/signing-keys/<key_id>", delete_key, False),
        ("POST", "/v2/notification/webhooks", create_webhook, True),
        ("GET", "/v2/notification/webhooks", list_webhooks, False),
        ("GET", "/v2/notification/webhooks/<webhook_id>", read_webhook, False),
        ("PATCH", "/v2/notification/webhooks/<webhook_id>", update_webhook, True),
        ("DELETE", "/v2/notification/webhooks/<webhook_id>", delete_webhook, False),
        ("POST", "/v2/notification/webhooks/<webhook_id>/simulate", simulate_webhook, True),
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
    """204; 409 while a webhook still names the key. Klarna publishes no spec for this API and its docs do
    not say what deleting a key in use does; refusing keeps every webhook able to sign (rotate by pointing
    the webhooks at a new key first, then deleting the old one), where deleting would leave a webhook that
    silently receives nothing."""
    key_id = param(request, "key_id")
    with provider.state.lock:
        if key_id not in provider.state.signing_keys:
            raise not_found("Signing key")
        users = [hook.id for hook in provider.state.webhooks.values() if hook.signing_key_id == key_id]
        if users:
            raise V2Error(409, "RESOURCE_CONFLICT", "Signing key is used by webhook " + ", ".join(users)
                          + "; point it at another signing key or delete it first")
        del provider.state.signing_keys[key_id]
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


def list_webhooks(provider, request: Request) -> Response:
    """Every webhook of the account, oldest first (`{"webhooks": [...]}`; one page: at most a few exist)."""
    with provider.state.lock:
        return json_response({"webhooks": [_render(hook) for hook in provider.state.webhooks.values()]})


def _webhook(provider, request: Request) -> Webhook:
    hook = provider.state.webhooks.get(param(request, "webhook_id"))
    if hook is None:
        raise not_found("Webhook")
    return hook


def read_webhook(provider, request: Request) -> Response:
    with provider.state.lock:
        return json_response(_render(_webhook(provider, request)))


def update_webhook(provider, request: Request) -> Response:
    """PATCH: any of url, event_types, signing_key_id, status, event_version, each checked as on create;
    all or nothing. Answers the updated webhook."""
    body = json_body(request)
    with provider.state.lock:
        hook = _webhook(provider, request)
        problems = _problems(provider, body, partial=True)
        if problems:
            raise invalid(*problems)
        hook.url = body.get("url", hook.url)
        hook.event_types = list(body.get("event_types", hook.event_types))
        hook.signing_key_id = body.get("signing_key_id", hook.signing_key_id)
        hook.status = body.get("status", hook.status)
        return json_response(_render(hook))


def simulate_webhook(provider, request: Request) -> Response:
    """Send one test notification of `event_type` (a v2 payment request event) to this webhook's URL,
    signed with its key as real events are, whatever its status and subscribed types (the point is to
    test the receiver). Answers 204; the delivery is the shared sender's (GET /_emulator/webhooks)."""
    body = json_body(request)
    with provider.state.lock:
        hook = _webhook(provider, request)
        problems = []
        event_type = body.get("event_type")
        if not isinstance(event_type, str) or event_type not in events.EVENT_TYPES:
            problems.append(("event_type", "must be one of " + ", ".join(events.EVENT_TYPES)))
        if "event_version" in body and not (isinstance(body["event_version"], str)
                                            and body["event_version"] in EVENT_VERSIONS):
            problems.append(("event_version", "must be v2"))
        if problems:
            raise invalid(*problems)
        outbound = events.simulated(provider, hook, provider.state.signing_keys[hook.signing_key_id], event_type)
    provider.send([outbound])
    return Response(204, b"", {})


def delete_webhook(provider, request: Request) -> Response:
    with provider.state.lock:
        if provider.state.webhooks.pop(param(request, "webhook_id"), None) is None:
            raise not_found("Webhook")
    return Response(204, b"", {})
