"""Klarna Payment Authorize v2 endpoints (`Authorization: Basic <API key>`, the key itself).

Every authorize call carries a `Klarna-Idempotency-Key` made from the shop's own row (the attempt, or the
renewal's SubscriptionCharge), so the shared HTTP client may retry it after a timeout or a 5xx: Klarna
replays the first result for 24 hours instead of authorizing twice. Errors come in the v2 body
`{error_id, error_type, error_code, error_message, validation_errors}` and map to the typed errors of
payments.exceptions through ProviderHTTP (status decides the class, error_code travels as `code`).
"""
import uuid
from urllib.parse import quote

from ..http import ErrorInfo, ProviderHTTP

# Klarna wants UUIDs as idempotency keys; ours are derived from our own keys so a retry reuses them.
KEY_NAMESPACE = uuid.UUID("0d7c5f5e-1c37-4b63-9a54-5b1f3f0b6a21")


def idempotency_uuid(key: str) -> str:
    return str(uuid.uuid5(KEY_NAMESPACE, key))


def _error_info(response) -> ErrorInfo:
    correlation = response.headers.get("Klarna-Correlation-Id")
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return ErrorInfo(f"HTTP {response.status_code}", correlation_id=correlation)
    text = str(body.get("error_message") or body.get("error_code") or response.status_code)
    problems = [f"{e.get('parameter')}: {e.get('reason')}" for e in body.get("validation_errors") or []
                if isinstance(e, dict)]
    if problems:
        text += " (" + "; ".join(problems)[:500] + ")"
    return ErrorInfo(text, code=body.get("error_code"), correlation_id=correlation or body.get("error_id"))


def _id(value) -> str:
    return quote(str(value), safe="")


class KlarnaAuthorizeClient:
    def __init__(self, *, base_url: str, partner_account_id: str, api_key: str, **http_options):
        self.account = _id(partner_account_id)
        self.http = ProviderHTTP(name="klarna_authorize", base_url=base_url,
                                 headers={"Accept": "application/json", "Authorization": f"Basic {api_key}"},
                                 error_info=_error_info, **http_options)

    def authorize(self, body: dict, *, idempotency_key: str, session_token: str = "",
                  customer_token: str = "") -> dict:
        """authorizePayment. `idempotency_key` is ours; the header gets its UUID form."""
        key = idempotency_uuid(idempotency_key)
        headers = {"Klarna-Idempotency-Key": key}
        if session_token:
            headers["Klarna-Network-Session-Token"] = session_token
        if customer_token:
            headers["Klarna-Customer-Token"] = customer_token
        return self.http.request("POST", f"v2/accounts/{self.account}/payment/authorize", json=body,
                                 headers=headers, idempotency_key=key)

    def read_payment_request(self, payment_request_id: str) -> dict:
        return self.http.request("GET", f"v2/accounts/{self.account}/payment/requests/{_id(payment_request_id)}")

    def cancel_payment_request(self, payment_request_id: str) -> None:
        self.http.request("DELETE", f"v2/accounts/{self.account}/payment/requests/{_id(payment_request_id)}")
