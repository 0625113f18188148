"""The shopper's side of `Klarna.Payments.authorize()`: approve or decline a session, issue the
authorization token, and call `merchant_urls.authorization` back.

Why shared: the JS SDK stand-in (a browser clicking "Approve") and the control API (tests without a
browser) must authorize in exactly the same way, personas included.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .callbacks import authorization_callback
from .personas import declined
from .rules import session_errors
from .wire import error_fields

if TYPE_CHECKING:
    from .provider import KlarnaProvider

# what authorize(options, data) may add or change in the session (the SDK's `data` argument)
AUTHORIZE_FIELDS = ("billing_address", "shipping_address", "customer", "order_lines", "order_amount",
                    "order_tax_amount", "purchase_country", "purchase_currency", "locale", "merchant_reference1",
                    "merchant_reference2", "attachment")
SNAPSHOT_FIELDS = ("purchase_country", "purchase_currency", "locale", "order_amount", "order_tax_amount",
                   "order_lines", "billing_address", "shipping_address", "customer", "intent")


class SessionUnavailable(Exception):
    """Unknown or expired session (`missing`), or one that already placed its order (`completed`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class AuthorizeResult:
    approved: bool
    show_form: bool
    authorization_token: str | None = None
    invalid_fields: list[str] = field(default_factory=list)

    def sdk_answer(self) -> dict:
        """What the SDK's authorize() callback receives."""
        if self.approved:
            return {"approved": True, "authorization_token": self.authorization_token, "show_form": True,
                    "finalize_required": False}
        answer: dict = {"approved": False, "show_form": self.show_form}
        if self.invalid_fields:
            answer["error"] = {"invalid_fields": self.invalid_fields}
        return answer


def authorize_session(provider: "KlarnaProvider", session_id: str, *, approve: bool, data: dict | None = None,
                      category: str | None = None) -> AuthorizeResult:
    """Authorize (or decline) the session as the shopper would in the Klarna dialog.

    Declined when the shopper says no or the billing email is a `+denied` persona. Invalid data (per the
    spec and Klarna's cart rules) answers `show_form: true` with `invalid_fields`, as the SDK does.
    Raises SessionUnavailable. Locks the state while checking and issuing, so two clicks give two tokens,
    the second superseding the first, never a half-updated session."""
    changes = {key: copy.deepcopy(value) for key, value in (data or {}).items() if key in AUTHORIZE_FIELDS}
    if changes:
        changes, errors = provider.validator("payments").validate(provider.schema("payments", "session"), changes)
        if errors:
            return AuthorizeResult(False, True, invalid_fields=error_fields(errors))
    with provider.state.lock:
        session = provider.state.session(session_id, provider.now())
        if session is None:
            raise SessionUnavailable("missing")
        if session.status == "complete":
            raise SessionUnavailable("completed")
        merged = {**session.data, **changes}
        invalid = session_errors(merged)
        if invalid:
            return AuthorizeResult(False, True, invalid_fields=invalid)
        session.data = merged
        if not approve or declined((merged.get("billing_address") or {}).get("email")):
            return AuthorizeResult(False, False)
        snapshot = {key: copy.deepcopy(merged[key]) for key in SNAPSHOT_FIELDS if key in merged}
        authorization = provider.state.authorize(session, snapshot, category or "klarna", provider.now())
        callback_url = (merged.get("merchant_urls") or {}).get("authorization")
    provider.send(authorization_callback(callback_url, authorization_token=authorization.token,
                                         session_id=session_id))
    return AuthorizeResult(True, True, authorization.token)
