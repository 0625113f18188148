"""Klarna Payments v1, Customer Token v1 and Order Management v1 endpoints (HTTP Basic auth).

Every POST/PATCH that can charge or change money carries a Klarna-Idempotency-Key taken from the
shop's own row (attempt, charge, capture), so the shared HTTP client may retry it after a timeout or
5xx: Klarna replays the first result for 24 hours instead of acting twice.
"""
from urllib.parse import quote

from ..http import ErrorInfo, ProviderHTTP


def _error_info(response) -> ErrorInfo:
    correlation = response.headers.get("Klarna-Correlation-Id")
    try:
        body = response.json()
    except ValueError:
        return ErrorInfo(f"HTTP {response.status_code}", correlation_id=correlation)
    if not isinstance(body, dict):
        return ErrorInfo(f"HTTP {response.status_code}", correlation_id=correlation)
    messages = body.get("error_messages") or []
    text = "; ".join(str(m) for m in messages) or str(body.get("error_code") or response.status_code)
    return ErrorInfo(text, code=body.get("error_code"), correlation_id=body.get("correlation_id") or correlation)


def _id(value) -> str:
    return quote(str(value), safe="")


class KlarnaClient:
    def __init__(self, *, base_url: str, username: str, password: str, **http_options):
        self.http = ProviderHTTP(name="klarna", base_url=base_url, headers={"Accept": "application/json"},
                                 auth=(username, password), error_info=_error_info, **http_options)

    # Payments v1
    def create_session(self, body: dict) -> dict:
        # Creating a session charges nothing; a retry at worst leaves an unused session behind.
        return self.http.request("POST", "payments/v1/sessions", json=body)

    def update_session(self, session_id: str, body: dict) -> None:
        self.http.request("POST", f"payments/v1/sessions/{_id(session_id)}", json=body)

    def read_session(self, session_id: str) -> dict:
        return self.http.request("GET", f"payments/v1/sessions/{_id(session_id)}")

    def create_order(self, authorization_token: str, body: dict, *, idempotency_key: str) -> dict:
        return self.http.request("POST", f"payments/v1/authorizations/{_id(authorization_token)}/order", json=body,
                                 headers={"Klarna-Idempotency-Key": idempotency_key},
                                 idempotency_key=idempotency_key)

    def create_customer_token(self, authorization_token: str, body: dict, *, idempotency_key: str) -> dict:
        path = f"payments/v1/authorizations/{_id(authorization_token)}/customer-token"
        return self.http.request("POST", path, json=body, headers={"Klarna-Idempotency-Key": idempotency_key},
                                 idempotency_key=idempotency_key)

    def cancel_authorization(self, authorization_token: str) -> None:
        self.http.request("DELETE", f"payments/v1/authorizations/{_id(authorization_token)}")

    # Customer Token v1
    def read_token(self, token: str) -> dict:
        return self.http.request("GET", f"customer-token/v1/tokens/{_id(token)}")

    def token_order(self, token: str, body: dict, *, idempotency_key: str) -> dict:
        return self.http.request("POST", f"customer-token/v1/tokens/{_id(token)}/order", json=body,
                                 headers={"Klarna-Idempotency-Key": idempotency_key},
                                 idempotency_key=idempotency_key)

    def cancel_token(self, token: str) -> None:
        self.http.request("PATCH", f"customer-token/v1/tokens/{_id(token)}/status", json={"status": "CANCELLED"})

    # Order Management v1
    def read_order(self, order_id: str) -> dict:
        return self.http.request("GET", f"ordermanagement/v1/orders/{_id(order_id)}")

    def order_action(self, order_id: str, action: str, body: dict | None = None, *, idempotency_key: str,
                     method: str = "POST", with_headers: bool = False):
        """captures, refunds, cancel, release-remaining-authorization, extend-authorization-time,
        authorization (PATCH)."""
        return self.http.request(method, f"ordermanagement/v1/orders/{_id(order_id)}/{action}", json=body,
                                 headers={"Klarna-Idempotency-Key": idempotency_key},
                                 idempotency_key=idempotency_key, with_headers=with_headers)
