"""29 Next order management: capture, refund and cancel on the provider's order as a whole.

29 Next has no idempotency key (README "29 Next", DESIGN rule 5), so the operation row's key cannot make a
repeated call act once. Instead, every call reads the order back first, and recognises its own earlier
success there:
- refund: the Refund's `note` carries the operation key, so a refund already on the order under this key
  is answered with that refund's id instead of refunding again;
- capture: ordersCaptureCreate takes the whole authorization, so an order with nothing left authorized and
  something captured has been captured; a second capture is never sent;
- cancel: an order whose `status` is `canceled` has been cancelled.
When a call's outcome is unknown (timeout, 5xx: ProviderUnavailable), the order is read back at once. Done
there: the operation succeeded. Not done, and 29 Next *answered* (a 5xx: the request is over): it is sent
exactly once more, and an unknown outcome of that second try is read back again and never retried. Not done
after a timeout (the request may still be running at 29 Next): nothing is resent; ProviderUnavailable leaves
the operation pending, and running it again (same key) starts with the read-back above.
"""
from __future__ import annotations

from collections.abc import Callable

from common.money import format_minor

from ...exceptions import OperationNotSupported, ProviderRequestError, ProviderUnavailable
from ..money import to_decimal_string
from . import wire

KEY_MARK = "shop-op:"


class NextOrderActions:
    """Mixed into NextAdapter (which provides `client`); signatures as in payments.providers.base."""

    client = None

    def capture(self, provider_reference: str, *, amount: int, key: str,
                shipping_info: list[dict] | None = None) -> str:
        """Capture the whole open authorization. Raises OperationNotSupported for any other amount (29 Next
        captures no part of it), ProviderRequestError when 29 Next refuses, ProviderUnavailable when the
        outcome stays unknown. `shipping_info` is not sent: the spec's capture takes no body."""
        order = self.client.get_order(provider_reference)
        if _captured_id(order):
            return _captured_id(order)
        remaining = wire.figures(order)["remaining"]
        if amount != remaining:
            currency = str(order.get("currency") or "")
            raise OperationNotSupported(f"29 Next captures only the whole authorization "
                                        f"({format_minor(remaining, currency)}), not {format_minor(amount, currency)}")
        return self._once(provider_reference, lambda: self.client.capture_order(provider_reference), _captured_id)

    def refund(self, provider_reference: str, *, amount: int, key: str, description: str = "") -> str:
        """Refund `amount`, taken from the order's debits and captures oldest first; returns the Refund id.
        Raises ProviderRequestError when less than `amount` is left to refund."""
        order = self.client.get_order(provider_reference)
        done = _refund_with(key)
        if done(order):
            return done(order)
        body = {"transactions": _allocate(order, amount), "send_refund_notification": True,
                "note": f"{description[:200]} ({KEY_MARK}{key})".strip()}
        return self._once(provider_reference, lambda: self.client.refund_order(provider_reference, body), done)

    def cancel(self, provider_reference: str, *, key: str) -> None:
        """Cancel an order with nothing captured: its authorization is voided. `full_refund` stays false: a
        cancel never refunds (refunds are their own operation, with their own limits)."""
        if _cancelled(self.client.get_order(provider_reference)):
            return
        body = {"cancel_reason": f"Authorization cancelled from the shop ({KEY_MARK}{key})", "full_refund": False,
                "send_cancel_notification": True}
        self._once(provider_reference, lambda: self.client.cancel_order(provider_reference, body), _cancelled)

    def _once(self, number: str, send: Callable[[], object], done: Callable[[dict], str]) -> str:
        """Send; after an unknown outcome read the order back, and resend at most once (see module doc).
        Returns what `done` finds on the order afterwards (the provider's id for the operation)."""
        try:
            send()
        except ProviderUnavailable as exc:
            found = done(self.client.get_order(number))
            if found:
                return found
            if not exc.http_status or exc.http_status < 500:
                raise  # a timeout: the first request may still be running at 29 Next
            try:
                send()  # 29 Next answered and did not do it: the one retry
            except ProviderUnavailable:
                found = done(self.client.get_order(number))
                if found:
                    return found
                raise
        return done(self.client.get_order(number))


def _captured_id(order: dict) -> str:
    """The capture transactions' ids when the order has nothing left authorized and something captured."""
    if wire.open_authorizations(order):
        return ""
    captures = [str(t["id"]) for t in order.get("transactions") or []
                if isinstance(t, dict) and t.get("type") == "capture" and t.get("status") == "succeeded"]
    return ",".join(captures)[:64]


def _refund_with(key: str) -> Callable[[dict], str]:
    def find(order: dict) -> str:
        for refund in order.get("refunds") or []:
            if isinstance(refund, dict) and f"{KEY_MARK}{key}" in str(refund.get("note") or ""):
                return str(refund.get("id"))
        return ""
    return find


def _cancelled(order: dict) -> str:
    return "cancelled" if order.get("status") == "canceled" else ""


def _allocate(order: dict, amount: int) -> list[dict]:
    """RefundOrder transactions for `amount`: oldest debit or capture first, each at most what is left of it."""
    wanted, items = amount, []
    for transaction_id, left in wire.refundable_transactions(order):
        take = min(left, wanted)
        items.append({"id": transaction_id, "amount": to_decimal_string(take)})
        wanted -= take
        if not wanted:
            return items
    raise ProviderRequestError(f"29next: refund of {amount} is more than the {amount - wanted} left to refund")
