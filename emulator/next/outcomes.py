"""Who decides whether a merchant-initiated Klarna charge (a renewal or an upsell) goes through.

Why three sources, in this order: a test that scripts one charge must win over everything
(`POST /_emulator/next/subscriptions/<id>/scenario`, `.../orders/<number>/scenario`); a whole run can be
switched to declines through config (`next.renewal_outcome` / `next.upsell_outcome`); and otherwise the
shopper's email picks a sandbox persona, the way Klarna's playground drives declines
(`customer+renewal-declined@...`, `customer+upsell-declined@...`).
"""
from __future__ import annotations

from typing import Any

from .provider import NextProvider

PERSONAS = {"renewal": "+renewal-declined", "upsell": "+upsell-declined"}
APPROVE, DECLINE = "approve", "decline"


def charge_outcome(provider: NextProvider, *, kind: str, key: Any, email: str | None) -> str:
    """"approve" or "decline" for one charge; consumes one scripted outcome if any is queued."""
    scripted = provider.state.scenarios.take(kind, key)
    if scripted:
        return scripted
    if provider.setting(f"{kind}_outcome") == DECLINE:
        return DECLINE
    local_part = (email or "").lower().split("@")[0]
    return DECLINE if PERSONAS[kind] in local_part else APPROVE
