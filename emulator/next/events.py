"""29 Next webhook events: the envelope, the signature, and who receives what.

Why here and not in the generic sender: the envelope and the signing scheme are 29 Next's. The body is
exactly `json.dumps(envelope)` (Python's default separators) so a receiver that verifies the raw bytes and
one that re-serialises the parsed JSON, as 29 Next's own sample does, compute the same HMAC.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from ..webhooks import Outbound, hmac_sha256_hex
from .provider import API_VERSION, NextProvider

CONFIG_WEBHOOK_ID = 0  # the target from the emulator's config, not registered through the API
CONFIG_WEBHOOK_EVENTS = ["order.created", "order.updated", "transaction.created", "transaction.updated",
                         "subscription.created", "subscription.updated"]
SIGNATURE_HEADER = "X-29Next-Signature"


@dataclass
class Target:
    id: int
    url: str
    events: list[str]
    secret: str


def targets_for(provider: NextProvider, event_type: str) -> list[Target]:
    """The configured target (if any, and not disabled by a 410) plus every active registered webhook."""
    secret = provider.setting("webhook_secret")
    found = []
    url = provider.setting("webhook_target")
    if url and provider.setting("webhook_target_active") and event_type in CONFIG_WEBHOOK_EVENTS:
        found.append(Target(CONFIG_WEBHOOK_ID, url, list(CONFIG_WEBHOOK_EVENTS), secret))
    for hook in provider.state.list_webhooks():
        if hook["active"] and event_type in hook["events"]:
            found.append(Target(hook["id"], hook["target"], list(hook["events"]), hook.get("secret_key") or secret))
    return found


def queue_events(provider: NextProvider, events: list[tuple[str, str, dict]]) -> None:
    """Queue (event_type, object, data) events in order; with `webhooks_sync` they go out before we return."""
    outbounds = []
    for event_type, object_name, data in events:
        event_id = str(uuid.uuid4())
        for target in targets_for(provider, event_type):
            envelope = {
                "api_version": API_VERSION, "object": object_name, "data": data, "event_id": event_id,
                "event_type": event_type,
                "webhook": {"id": target.id, "store": "emulator", "events": target.events, "target": target.url},
            }
            body = json.dumps(envelope).encode()
            headers = {"Content-Type": "application/json", "User-Agent": "29next-emulator/1.0",
                       SIGNATURE_HEADER: hmac_sha256_hex(target.secret, body)}
            outbounds.append(Outbound(provider=provider.name, target=target.url, body=body, headers=headers,
                                      event_id=event_id, event_type=event_type, webhook_id=target.id,
                                      on_gone=_disabler(provider, target.id)))
    if outbounds:
        provider.app.webhooks.send(outbounds, sync=provider.setting("webhooks_sync"))


def _disabler(provider: NextProvider, webhook_id: int):
    """Answering 410 disables that webhook, as the docs say."""
    def disable() -> None:
        if webhook_id == CONFIG_WEBHOOK_ID:
            provider.app.config.set("next", "webhook_target_active", False)
        else:
            provider.state.disable_webhook(webhook_id)
    return disable
