"""Notifications MultiSafepay sends on every status change (reference notes §5, §6).

POST (the default here and MultiSafepay's recommendation): to `payment_options.notification_url` (else the
site-level URL from config) with `transactionid=<order_id>&timestamp=<ts>` appended, the order object as
compact JSON (keys sorted, non-ASCII unescaped: what the official samples look like) and the header

    Auth: base64( ts + ":" + hex(HMAC-SHA512(key=api_key, msg=ts + ":" + body)) )

signed with the API key that created the order. The query `timestamp` equals the signed one (undocumented).
POSTs go through the shared sender, so `GET /_emulator/webhooks?provider=multisafepay` lists them and
`webhooks/mode` (drop, duplicate, delay) applies. Deviation: the shared sender counts any HTTP 200 as the
acknowledgement; MultiSafepay also wants `OK` in the first 100 characters of the body.

GET (`notification_method: GET`): no body, no signature; the merchant reads the order back. The shared
sender only POSTs, so these go out from a small thread here: 3 attempts (0.5 s, 1 s apart), acknowledged by
200 with `OK` (or `MULTISAFEPAY_OK`) in the first 100 characters, recorded on the order.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import requests

from ..webhooks import Outbound

if TYPE_CHECKING:
    from .provider import MultiSafepayProvider
    from .state import Order

GET_ATTEMPTS = 3
GET_FIRST_BACKOFF = 0.5


def sign(api_key: str, body: bytes, timestamp: int) -> str:
    """The emulator's own signer (it imports nothing from the shop)."""
    stamp = str(int(timestamp))
    mac = hmac.new(api_key.strip().encode(), stamp.encode() + b":" + body, hashlib.sha512).hexdigest()
    return base64.b64encode(f"{stamp}:{mac}".encode()).decode("ascii")


def encode(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")


def target(provider: "MultiSafepayProvider", order: "Order", timestamp: int) -> str:
    url = order.options.get("notification_url") or provider.setting("notification_url")
    if not url:
        return ""
    query = urlencode({"transactionid": order.order_id, "timestamp": timestamp})
    return f"{url}{'&' if '?' in url else '?'}{query}"


def notification(provider: "MultiSafepayProvider", order: "Order", body: bytes) -> list[Outbound]:
    """One notification of `body` (a rendered order), timestamped now; [] without a URL. GET-method
    orders are sent from here right away (see module docstring).

    The signed timestamp is the wall clock, not the emulator's (which `clock/advance` moves ahead): it
    says when the message was sent, and the receiver checks its freshness against its own clock, as it
    would against MultiSafepay's; an advanced clock must not make every notification look forged."""
    timestamp = int(time.time())
    url = target(provider, order, timestamp)
    if not url:
        return []
    status = json.loads(body).get("status", "")
    if (order.options.get("notification_method") or "POST").upper() == "GET":
        _send_get(provider, order, url, sync=provider.setting("notifications_sync"))
        return []
    headers = {"Content-Type": "application/json", "Auth": sign(order.api_key, body, timestamp),
               "User-Agent": "MultiSafepay-Emulator/1.0"}
    return [Outbound(provider=provider.name, target=url, body=body, headers=headers,
                     event_id=f"{order.order_id}:{status}:{timestamp}", event_type=status)]


def _send_get(provider: "MultiSafepayProvider", order: "Order", url: str, *, sync: bool) -> None:
    generation = provider.state.generation

    def run() -> None:
        session = requests.Session()
        session.trust_env = False
        for attempt in range(GET_ATTEMPTS):
            if attempt:
                time.sleep(GET_FIRST_BACKOFF * 2 ** (attempt - 1))
            status, acknowledged = None, False
            try:
                answer = session.get(url, timeout=(2, 20))
                status = answer.status_code
                head = answer.text[:100]
                acknowledged = status == 200 and ("OK" in head or "MULTISAFEPAY_OK" in head)
            except requests.RequestException:
                pass
            with provider.state.lock:
                if provider.state.generation != generation:
                    return  # a reset happened: this delivery belongs to a forgotten test
                order.get_deliveries.append({"target": url, "status": status, "acknowledged": acknowledged})
            if acknowledged:
                return

    if sync:
        run()
    else:
        threading.Thread(target=run, name="msp-get-notification", daemon=True).start()
