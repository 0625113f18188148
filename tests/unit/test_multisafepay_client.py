"""MultiSafepay client against a tiny local HTTP server: auth header, paths, bodies, and every error shape
mapped to our typed errors (no mocking of our own code: real sockets, real requests.Session)."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from payments.exceptions import ProviderAuthError, ProviderRequestError, ProviderUnavailable
from payments.providers.multisafepay.client import MultiSafepayClient, is_declined


class ScriptedServer:
    """Answers each request with the next scripted (status, body); records what it received."""

    def __init__(self):
        self.answers, self.received = [], []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                server.received.append((self.command, self.path, dict(self.headers.items()),
                                        self.rfile.read(length)))
                status, body = server.answers.pop(0) if server.answers else (200, {"success": True, "data": {}})
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PATCH = _answer

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/multisafepay/v1/json/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def module_server():
    scripted = ScriptedServer()
    yield scripted
    scripted.stop()


@pytest.fixture
def server(module_server):
    module_server.answers.clear()
    module_server.received.clear()
    return module_server


@pytest.fixture
def client(server):
    return MultiSafepayClient(base_url=server.url, api_key=" site-key ", connect_timeout=2, read_timeout=5,
                              max_retries=2, max_backoff=0, sleep=lambda seconds: None)


def failure(code, info):
    return {"success": False, "data": {}, "error_code": code, "error_info": info}


def test_calls_carry_the_key_in_a_header_and_our_order_id_encoded_in_the_path(server, client):
    server.answers = [(200, {"success": True, "data": {"order_id": "SO 1/2", "payment_url": "https://pay"}}),
                      (200, {"success": True, "data": {"order_id": "SO 1/2", "status": "completed"}}),
                      (200, {"success": True, "data": {}}), (200, {"success": True, "data": {}}),
                      (200, {"success": True, "data": {"transaction_id": 1, "refund_id": 2}})]
    assert client.create_order({"order_id": "SO 1/2"})["payment_url"] == "https://pay"
    assert client.get_order("SO 1/2")["status"] == "completed"
    assert client.ship_order("SO 1/2", carrier="PostNL", tracktrace_code="3S123") == {}
    assert client.cancel_order("SO 1/2") == {}
    assert client.refund_order("SO 1/2", {"checkout_data": {"items": []}}) == {"transaction_id": 1, "refund_id": 2}
    sent = [(method, path) for method, path, _, _ in server.received]
    assert sent == [("POST", "/multisafepay/v1/json/orders"), ("GET", "/multisafepay/v1/json/orders/SO%201%2F2"),
                    ("PATCH", "/multisafepay/v1/json/orders/SO%201%2F2"),
                    ("PATCH", "/multisafepay/v1/json/orders/SO%201%2F2"),
                    ("POST", "/multisafepay/v1/json/orders/SO%201%2F2/refunds")]
    assert all(headers["api_key"] == "site-key" and "?" not in path for _, path, headers, _ in server.received)
    assert json.loads(server.received[2][3]) == {"status": "shipped", "carrier": "PostNL", "tracktrace_code": "3S123",
                                                 "reason": "Shipped"}
    assert json.loads(server.received[3][3]) == {"status": "cancelled"}


@pytest.mark.parametrize("status", [200, 400, 401, 403, 404, 422])
@pytest.mark.parametrize("code,info,cls", [
    (1032, "Invalid API key", ProviderAuthError),
    (1019, "Site is inactive", ProviderAuthError),
    (1006, "Invalid transaction ID", ProviderRequestError),
    (1024, "Transaction declined", ProviderRequestError),
    (1027, "Invalid cart amount", ProviderRequestError),
    (1034, "Cannot refund", ProviderRequestError),
])
def test_errors_map_by_code_whatever_the_http_status(server, client, status, code, info, cls):
    server.answers = [(status, failure(code, info))]
    with pytest.raises(cls) as raised:
        client.get_order("SO-1")
    error = raised.value
    assert type(error) is cls and error.code == str(code) and info in str(error)
    assert error.http_status == status and not error.retryable
    assert is_declined(error) == (code == 1024)
    assert len(server.received) == 1  # refused requests are not repeated


def test_5xx_is_retryable_and_retried_only_for_reads(server, client):
    server.answers = [(503, failure(1000, "Unknown error")), (200, {"success": True, "data": {"order_id": "A"}})]
    assert client.get_order("A") == {"order_id": "A"}
    server.received.clear()
    server.answers = [(500, failure(9999, "Unknown error"))]
    with pytest.raises(ProviderUnavailable) as raised:
        client.create_order({"order_id": "A"})
    assert raised.value.code == "9999" and raised.value.retryable
    assert len(server.received) == 1  # a POST that may have been processed is never repeated


def test_rate_limit_is_retried_even_for_a_create(server, client):
    server.answers = [(429, {"message": "Too many requests"}), (200, {"success": True, "data": {"order_id": "A"}})]
    assert client.create_order({"order_id": "A"}) == {"order_id": "A"}
    assert len(server.received) == 2


def test_forbidden_without_envelope_and_unreadable_answers(server, client):
    server.answers = [(403, {"message": "Forbidden"})]
    with pytest.raises(ProviderAuthError, match="Forbidden"):
        client.get_order("A")
    server.answers = [(200, {"success": False})]
    with pytest.raises(ProviderUnavailable):
        client.cancel_order("A")
    server.answers = [(200, b"<html>maintenance</html>")]
    with pytest.raises(ProviderUnavailable):
        client.cancel_order("A")
