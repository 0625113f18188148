"""Who gets approved: Klarna's playground decides by the shopper's email (reference §11), and so does the
emulator, so a shop's end-to-end test drives a decline or a fraud review exactly as it would on the sandbox.

Patterns, in the email's local part (case-insensitive):
- `+denied`: the authorization is declined (`{approved: false, show_form: false}`), no token.
- `+pending`: the order is created with `fraud_status: PENDING` and decided after
  `klarna.fraud_decision_seconds` (default 300) on the emulator clock: ACCEPTED, or REJECTED when the
  email also contains `+reject`.
- `+pend-accept-NN` / `+pend-reject-NN`: Klarna's own US/UK patterns, decided after NN minutes.
Anything else is approved and ACCEPTED.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

_PEND = re.compile(r"\+pend-(accept|reject)-(\d+)")


@dataclass(frozen=True)
class FraudOutcome:
    fraud_status: str  # at order creation: ACCEPTED or PENDING
    decision: str | None = None  # what a PENDING order becomes: ACCEPTED or REJECTED
    delay: timedelta | None = None


def local_part(email: str | None) -> str:
    return (email or "").split("@")[0].lower()


def declined(email: str | None) -> bool:
    return "+denied" in local_part(email)


def fraud_outcome(email: str | None, default_delay_seconds: float) -> FraudOutcome:
    local = local_part(email)
    explicit = _PEND.search(local)
    if explicit:
        decision = "ACCEPTED" if explicit.group(1) == "accept" else "REJECTED"
        return FraudOutcome("PENDING", decision, timedelta(minutes=int(explicit.group(2))))
    if "+pending" in local:
        decision = "REJECTED" if "+reject" in local else "ACCEPTED"
        return FraudOutcome("PENDING", decision, timedelta(seconds=default_delay_seconds))
    return FraudOutcome("ACCEPTED")


def email_of(*sources: dict | None) -> str | None:
    """The first billing email among the given dicts (request body, then the authorized snapshot)."""
    for source in sources:
        email = ((source or {}).get("billing_address") or {}).get("email")
        if email:
            return email
    return None
