"""The provider HTTP client (payments/providers/http.py) on real sockets: what it sends, when it goes
through a proxy, and which broken connections it tries again."""
import socket
import threading

import pytest

from payments.exceptions import ProviderUnavailable
from payments.providers.http import ProviderHTTP
from tests.unit.test_multisafepay_client import ScriptedServer

PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY",
                   "all_proxy", "ALL_PROXY")


@pytest.fixture
def server():
    scripted = ScriptedServer()
    yield scripted
    scripted.stop()


@pytest.fixture
def environment(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def root(server):
    return server.url.split("/multisafepay/")[0]


def test_sends_auth_json_and_leaves_out_empty_parameters(server, environment):
    http = ProviderHTTP(name="test", base_url=server.url, headers={"Accept": "application/json"},
                        auth=("PK_TEST", "s3cret"), max_retries=0)
    http.request("POST", "orders", json={"amount": 1250}, params={"page": 2, "cursor": None, "tag": ["a", "b"]},
                 headers={"Idempotency-Key": "k-1"}, idempotency_key="k-1")
    method, path, headers, body = server.received[0]
    assert (method, path.split("/json/")[1], body) == ("POST", "orders?page=2&tag=a&tag=b", b'{"amount": 1250}')
    assert headers["Authorization"] == "Basic UEtfVEVTVDpzM2NyZXQ="  # PK_TEST:s3cret
    assert headers["Content-Type"] == "application/json" and headers["Idempotency-Key"] == "k-1"
    assert headers["Accept"] == "application/json"


def test_answer_headers_read_in_any_case(server, environment):
    http = ProviderHTTP(name="test", base_url=server.url, headers={}, max_retries=0)
    body, headers = http.request("GET", "orders/1", with_headers=True)
    assert body == {"success": True, "data": {}} and headers.get("content-type") == "application/json"


def test_proxy_variables_are_ignored_unless_configured(server, environment, settings):
    environment.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    settings.PROVIDER_TRUST_ENV = False
    ProviderHTTP(name="test", base_url=server.url, headers={}, max_retries=0).request("GET", "orders/1")
    assert server.received[0][1] == "/multisafepay/v1/json/orders/1"  # straight to the provider


def test_configured_proxy_carries_the_calls(server, environment, settings):
    environment.setenv("HTTP_PROXY", root(server))
    settings.PROVIDER_TRUST_ENV = True
    http = ProviderHTTP(name="test", base_url="http://provider.invalid/api/", headers={}, max_retries=0)
    http.request("GET", "orders/1", params={"expand": "lines"})
    assert server.received[0][1] == "http://provider.invalid/api/orders/1?expand=lines"  # the proxy's form


def test_no_proxy_keeps_a_host_direct(server, environment, settings):
    environment.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    environment.setenv("NO_PROXY", "127.0.0.1")
    settings.PROVIDER_TRUST_ENV = True
    ProviderHTTP(name="test", base_url=server.url, headers={}, max_retries=0).request("GET", "orders/1")
    assert server.received[0][1] == "/multisafepay/v1/json/orders/1"


class HangingUp:
    """Reads each request, then closes the connection without an answer: the request may have been handled."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/api/"
        self.received = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                if conn.recv(65536):
                    self.received += 1


@pytest.fixture
def hanging_up():
    server = HangingUp()
    yield server
    server.sock.close()


def test_a_dropped_connection_is_tried_again_only_where_a_repeat_is_safe(hanging_up, environment):
    http = ProviderHTTP(name="test", base_url=hanging_up.url, headers={}, max_retries=2, sleep=lambda s: None)
    with pytest.raises(ProviderUnavailable, match="connection failed"):
        http.request("POST", "charges", json={"amount": 100})
    assert hanging_up.received == 1  # a charge without a key might have gone through: never sent twice
    with pytest.raises(ProviderUnavailable):
        http.request("POST", "charges", json={"amount": 100}, idempotency_key="k")
    with pytest.raises(ProviderUnavailable):
        http.request("GET", "charges/1")
    assert hanging_up.received == 1 + 3 + 3


def test_a_refused_connection_is_tried_again_even_without_a_key(environment):
    with socket.create_server(("127.0.0.1", 0)) as unused:
        port = unused.getsockname()[1]
    sleeps = []
    http = ProviderHTTP(name="test", base_url=f"http://127.0.0.1:{port}/", headers={}, max_retries=2,
                        sleep=sleeps.append)
    with pytest.raises(ProviderUnavailable, match="connection failed"):
        http.request("POST", "charges", json={"amount": 100})
    assert len(sleeps) == 2  # never reached the provider: safe to send again


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("window, sleeps", [(0.0, 0), (60.0, 3)], ids=["window-spent", "window-open"])
def test_no_retry_starts_after_the_retry_window(environment, window, sleeps):
    """Probe D F5: retries of a slow provider outlasted gunicorn's timeout, which killed the request and lost
    the answer. Connect failures are retried, but none starts once the window since the first try is spent."""
    slept = []
    http = ProviderHTTP(name="test", base_url=f"http://127.0.0.1:{free_port()}/", headers={}, max_retries=3,
                        sleep=slept.append, retry_window=window)
    with pytest.raises(ProviderUnavailable):
        http.request("GET", "orders/1")
    assert len(slept) == sleeps
