"""Shared helpers for the MultiSafepay emulator contract tests: the API caller, a valid Klarna order body,
and a notification receiver that answers `OK` (and records GET as well as POST deliveries)."""
from __future__ import annotations

import copy
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

from tests.emulator_process import REPO_ROOT

API_KEY = "msp-emulator-api-key"
SPEC_DIR = Path(os.environ["EMULATOR_SPEC_DIR"]) if os.environ.get("EMULATOR_SPEC_DIR") \
    else REPO_ROOT.parent / "shared" / "reference"
BASE = "/multisafepay/v1/json"
SESSION = requests.Session()
SESSION.trust_env = False

# 2 mugs at 18.50 and shipping 4.95, 21 % VAT included: what payments.providers.multisafepay.cart builds.
ITEMS = [
    {"name": "Mug", "description": "", "unit_price": 15.2892561983, "quantity": 2, "merchant_item_id": "MUG",
     "tax_table_selector": "0.21"},
    {"name": "Shipping", "description": "", "unit_price": 4.0909090909, "quantity": 1,
     "merchant_item_id": "msp-shipping", "tax_table_selector": "0.21"},
]
ORDER = {
    "type": "redirect", "gateway": "KLARNA", "order_id": "SO-1001-1", "currency": "EUR", "amount": 4195,
    "description": "Order SO-1001",
    "payment_options": {"notification_method": "POST", "notification_url": "",
                        "redirect_url": "https://shop.example/return/msp/?t=abc",
                        "cancel_url": "https://shop.example/cancel/msp/"},
    "customer": {"locale": "nl_NL", "ip_address": "84.71.117.69", "first_name": "Testperson-nl",
                 "last_name": "Approved", "address1": "Neherkade", "house_number": "1", "zip_code": "2521VA",
                 "city": "Gravenhage", "country": "NL", "email": "shopper@example.com", "phone": "0612345678"},
    "delivery": {"first_name": "Testperson-nl", "last_name": "Approved", "address1": "Neherkade",
                 "house_number": "1", "zip_code": "2521VA", "city": "Gravenhage", "country": "NL",
                 "email": "shopper@example.com"},
    "gateway_info": {"birthday": "1970-07-10", "gender": "M", "phone": "0612345678", "email": "shopper@example.com"},
    "shopping_cart": {"items": ITEMS},
    "checkout_options": {"tax_tables": {"default": {"shipping_taxed": True, "rate": 0.21},
                                        "alternate": [{"name": "0.21", "standalone": False,
                                                       "rules": [{"rate": 0.21}]}]}},
}


def call(emulator, method, path, body=None, *, key=API_KEY, headers=None, params=None):
    sent = {"Accept": "application/json", "Content-Type": "application/json", **(headers or {})}
    if key is not None:
        sent["api_key"] = key
    data = json.dumps(body) if body is not None and not isinstance(body, (str, bytes)) else body
    return SESSION.request(method, f"{emulator.url}{BASE}{path}", data=data, headers=sent, params=params,
                           timeout=10, allow_redirects=False)


def error(response) -> tuple[int, int, str]:
    body = response.json()
    assert body["success"] is False and body["data"] in ({}, [])
    return response.status_code, body["error_code"], body["error_info"]


def order_body(receiver=None, **overrides) -> dict:
    body = copy.deepcopy(ORDER)
    if receiver is not None:
        body["payment_options"]["notification_url"] = receiver.url
    for key, value in overrides.items():
        body[key] = value
    return body


def create(emulator, receiver=None, **overrides) -> dict:
    response = call(emulator, "POST", "/orders", order_body(receiver, **overrides))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["success"] is True
    return answer["data"]


def get_order(emulator, order_id) -> dict:
    response = call(emulator, "GET", f"/orders/{order_id}")
    assert response.status_code == 200, response.text
    return response.json()["data"]


def complete(emulator, order_id, action="approve") -> dict:
    return emulator.control("POST", f"/_emulator/multisafepay/orders/{order_id}/complete", {"action": action})


class NotificationReceiver:
    """Records every notification (method, query, headers, body) and answers the next scripted
    (status, text), by default (200, "OK")."""

    def __init__(self) -> None:
        self.deliveries: list[dict] = []
        self.answers: list[tuple[int, str]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = urlsplit(self.path)
                with receiver.lock:
                    receiver.deliveries.append({"method": self.command, "path": parts.path,
                                                "query": {k: v[0] for k, v in parse_qs(parts.query).items()},
                                                "headers": {k.lower(): v for k, v in self.headers.items()},
                                                "body": body})
                    status, text = receiver.answers.pop(0) if receiver.answers else (200, "OK")
                raw = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = _record

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/payments/notify/multisafepay/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def clear(self) -> None:
        with self.lock:
            self.deliveries.clear()
            self.answers.clear()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.deliveries) >= count:
                    break
            time.sleep(0.02)
        with self.lock:
            return list(self.deliveries)

    def statuses(self) -> list[str]:
        with self.lock:
            return [json.loads(d["body"])["status"] for d in self.deliveries if d["body"]]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
