"""`payment.request.state-change.*` webhooks (event_version v2), signed with HMAC-SHA256 (lowercase hex)
over the exact body bytes, with `Klarna-Signature` and `Klarna-Signing-Key-Id` (reference §7).

Receivers: the configured target (`klarna_global.webhook_target`, signed with `klarna_global.signing_key`)
and every ENABLED webhook registered through the notification API whose event types match (exact, or a
`prefix.*` wildcard), signed with its own key. Retries and delivery modes are the shared sender's.
The session token goes both in `state_context` (the docs) and at the payload's top level (a production
plugin reads it there) [I].
"""
from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

from ..webhooks import Outbound, hmac_sha256_hex
from .provider import SIGNING_KEY_ID
from .state import PaymentRequest, Webhook

if TYPE_CHECKING:
    from .provider import KlarnaGlobalProvider

EVENT_PREFIX = "payment.request.state-change."
EVENT_TYPES = tuple(EVENT_PREFIX + state for state in
                    ("submitted", "in-progress", "completed", "expired", "canceled", "declined"))


def _matches(patterns: list[str], event_type: str) -> bool:
    return any(p == event_type or (p.endswith(".*") and event_type.startswith(p[:-1])) for p in patterns)


def _targets(provider: "KlarnaGlobalProvider", event_type: str) -> list[tuple[str, str, str, str]]:
    """(webhook id, url, signing key id, signing key) of every receiver of `event_type`."""
    found = []
    if provider.setting("webhook_target"):
        found.append(("config", provider.setting("webhook_target"), SIGNING_KEY_ID, provider.setting("signing_key")))
    with provider.state.lock:
        for hook in provider.state.webhooks.values():
            key = provider.state.signing_keys.get(hook.signing_key_id)
            if hook.status == "ENABLED" and key and _matches(hook.event_types, event_type):
                found.append((hook.id, hook.url, hook.signing_key_id, key))
    return found


def state_change(provider: "KlarnaGlobalProvider", request: PaymentRequest) -> list[Outbound]:
    """The webhooks for `request`'s current state (call under the state lock, send after it)."""
    event_type = EVENT_PREFIX + request.state.lower().replace("_", "-")
    payload = {"payment_request_id": request.id, "payment_request_reference": request.reference,
               "state": request.state, "previous_state": request.previous_state, "state_context": {}}
    if request.state_reason:
        payload["state_reason"] = request.state_reason
    if request.state == "COMPLETED" and request.session_token:
        payload["state_context"]["klarna_network_session_token"] = request.session_token
        payload["klarna_network_session_token"] = request.session_token
    event_id = str(uuid.uuid4())
    return [signed(provider, event_type, event_id, payload, webhook_id, url, key_id, key)
            for webhook_id, url, key_id, key in _targets(provider, event_type)]


def signed(provider: "KlarnaGlobalProvider", event_type: str, event_id: str, payload: dict, webhook_id: str,
           url: str, key_id: str, key: str) -> Outbound:
    """One event for one receiver: the v2 envelope, its exact body bytes and their signature."""
    envelope = {"metadata": {
        "event_type": event_type, "event_id": event_id, "event_version": "v2",
        "occurred_at": provider.iso(provider.now()), "correlation_id": str(uuid.uuid4()),
        "subject_account_id": provider.setting("partner_account_id"),
        "recipient_account_id": provider.setting("partner_account_id"),
        "product_instance_id": "krn:partner:product:payment:emulator", "webhook_id": webhook_id,
        "live": False}, "payload": payload}
    body = json.dumps(envelope, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "Klarna-Signature": hmac_sha256_hex(key, body),
               "Klarna-Signing-Key-Id": key_id, "User-Agent": "klarna-network-emulator/1.0"}
    return Outbound(provider=provider.name, target=url, body=body, headers=headers,
                    event_id=event_id, event_type=event_type)


def simulated(provider: "KlarnaGlobalProvider", hook: Webhook, key: str, event_type: str) -> Outbound:
    """The test notification `POST .../webhooks/{id}/simulate` sends: a sample payment request in the state
    `event_type` names, to that webhook only, signed with its key as real events are (call under the state
    lock, send after it)."""
    state = event_type[len(EVENT_PREFIX):].upper().replace("-", "_")
    previous = {"SUBMITTED": None, "IN_PROGRESS": "SUBMITTED"}.get(state, "IN_PROGRESS")
    payload = {"payment_request_id": f"krn:payment:eu1:request:{uuid.uuid4()}",
               "payment_request_reference": "simulated", "state": state, "previous_state": previous,
               "state_context": {}}
    if state == "COMPLETED":
        token = f"krn:payment:eu1:klarna-network-session-token:{uuid.uuid4()}"
        payload["state_context"]["klarna_network_session_token"] = token
        payload["klarna_network_session_token"] = token
    return signed(provider, event_type, str(uuid.uuid4()), payload, hook.id, hook.url, hook.signing_key_id, key)
