"""An unknown path under a provider's prefix answers that provider's own 404 shape, as the real host
would; only 29 Next (and paths under no provider) keep Django REST Framework's `{"detail": "Not found."}`.

Why: a client that mistypes a path must meet the error parser it uses against the real provider; the
probe found every prefix answering 29 Next's DRF body."""
from __future__ import annotations

import pytest
import requests

SESSION = requests.Session()
SESSION.trust_env = False


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
@pytest.mark.parametrize("path", ["/klarna/payments/v1/nosuch", "/klarna/nosuch",
                                  "/klarna/ordermanagement/v1/orders/x/nosuch"])
def test_klarna_v1_answers_not_found(emulator, path, method):
    answer = SESSION.request(method, emulator.url + path, timeout=10)
    assert answer.status_code == 404
    body = answer.json()
    assert body["error_code"] == "NOT_FOUND"
    assert body["error_messages"] and all(isinstance(m, str) for m in body["error_messages"])
    assert body["correlation_id"] == answer.headers["Klarna-Correlation-Id"]


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
@pytest.mark.parametrize("path", ["/klarna-global/v2/nosuch", "/klarna-global/nosuch",
                                  "/klarna-global/v2/notification/nosuch"])
def test_klarna_v2_answers_resource_not_found(emulator, path, method):
    answer = SESSION.request(method, emulator.url + path, timeout=10)
    assert answer.status_code == 404
    body = answer.json()
    assert (body["error_type"], body["error_code"]) == ("RESOURCE_ERROR", "RESOURCE_NOT_FOUND")
    assert body["error_id"] and body["error_message"]
    assert answer.headers["Klarna-Correlation-Id"]


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
@pytest.mark.parametrize("path", ["/multisafepay/v1/json/nosuch", "/multisafepay/nosuch",
                                  "/multisafepay/v1/json/orders/x/nosuch"])
def test_multisafepay_answers_its_envelope(emulator, path, method):
    answer = SESSION.request(method, emulator.url + path, timeout=10)
    assert answer.status_code == 404
    body = answer.json()
    assert (body["success"], body["data"]) == (False, {})
    assert isinstance(body["error_code"], int) and body["error_info"]


@pytest.mark.parametrize("path", ["/next/api/admin/nosuch/", "/nosuch", "/klarnax/nosuch"])
def test_next_and_foreign_paths_keep_drf(emulator, path):
    answer = SESSION.get(emulator.url + path, timeout=10)
    assert (answer.status_code, answer.json()) == (404, {"detail": "Not found."})
