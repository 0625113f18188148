"""MultiSafepay JSON API (`/v1/json/`) endpoints the `multisafepay` route uses, on the shared HTTP client.

Auth: the site API key in the `api_key` header (the spec's `ApiKeyHeader` scheme and the docs'
Authentication page; php-sdk sends it the same way). The spec's default, `?api_key=` in the query, would put
the secret into every access log and proxy between us and them, so we do not use it.

MultiSafepay has no idempotency key, so `POST /orders` and `POST .../refunds` are retried only when the
request provably never reached it (connect failure, 429: the shared client's rule). After an unknown outcome
the caller reads the order back (`get_order`) before creating again: `order_id` is unique per site, so a
second create of the same id fails with 1006 instead of charging twice.

Errors: MultiSafepay answers `{"success": false, "data": ..., "error_code": <int>, "error_info": "..."}` with
HTTP statuses that the docs do not pin down (200, 4xx or 5xx), and both SDKs decide on `success`, not the
status. So the status picks the class only for 5xx/429 (retryable) and the error code decides the rest:
`MERCHANT_CODES` (bad key, blocked site or account) are ProviderAuthError; everything else, declines
included, is ProviderRequestError carrying the code as a string; a decline (1024) is one with code "1024"
(`is_declined()` says so), which the adapter turns into a Declined outcome.
"""
from urllib.parse import quote

from ...exceptions import ProviderAuthError, ProviderError, ProviderRequestError, ProviderUnavailable
from ..http import ErrorInfo, ProviderHTTP

INVALID_ORDER_ID = "1006"  # order_id already used for this site (create), or unknown (read/update)
DECLINED = "1024"  # the BNPL risk check said no
CART_MISMATCH = "1027"  # shopping_cart total != amount
INVALID_API_KEY = "1032"
CANNOT_REFUND = "1034"  # above what was paid, nothing left, or an identical refund within 5 minutes
MERCHANT_CODES = frozenset({INVALID_API_KEY, "1019", "1020"})  # key, site inactive, account blocked
DECLINED_CODES = frozenset({DECLINED})


def _error_info(response) -> ErrorInfo:
    try:
        body = response.json()
    except ValueError:
        return ErrorInfo(f"HTTP {response.status_code}")
    if not isinstance(body, dict):
        return ErrorInfo(f"HTTP {response.status_code}")
    code = body.get("error_code")
    text = body.get("error_info") or body.get("message") or f"HTTP {response.status_code}"
    return ErrorInfo(str(text)[:300], code=str(code) if code is not None else None)


def _typed(error: ProviderError) -> ProviderError:
    """Re-class a 4xx error by MultiSafepay's code (the status alone does not say whose fault it is)."""
    if isinstance(error, ProviderUnavailable) or error.code is None:
        return error
    cls = ProviderAuthError if error.code in MERCHANT_CODES else ProviderRequestError
    if type(error) is cls:
        return error
    return cls(error.args[0], status=error.http_status, code=error.code, correlation_id=error.correlation_id,
               body=error.body)


def is_declined(error: Exception) -> bool:
    return isinstance(error, ProviderError) and error.code in DECLINED_CODES


def _id(value) -> str:
    return quote(str(value), safe="")


class MultiSafepayClient:
    def __init__(self, *, base_url: str, api_key: str, **http_options):
        self.http = ProviderHTTP(name="multisafepay", base_url=base_url,
                                 headers={"Accept": "application/json", "api_key": api_key.strip()},
                                 error_info=_error_info, **http_options)

    def _call(self, method: str, path: str, body: dict | None = None):
        """One API call: the `data` of a `success: true` answer, else the typed error."""
        try:
            answer = self.http.request(method, path, json=body)
        except ProviderError as exc:
            raise _typed(exc) from None
        if isinstance(answer, dict) and answer.get("success") is True:
            return answer.get("data")
        if isinstance(answer, dict) and answer.get("error_code") is not None:
            code = str(answer["error_code"])
            cls = ProviderAuthError if code in MERCHANT_CODES else ProviderRequestError
            raise cls(f"multisafepay: {str(answer.get('error_info') or 'error')[:300]}", status=200, code=code,
                      body=str(answer)[:2000])
        # An answer that is neither success nor an error: we cannot tell what happened, so read back later.
        raise ProviderUnavailable("multisafepay: answer without success or error_code", status=200,
                                  body=str(answer)[:500])

    def create_order(self, body: dict) -> dict:
        """POST /orders. redirect: {order_id, payment_url, session_id}; direct: the order plus payment_url."""
        return self._call("POST", "orders", body)

    def get_order(self, order_id: str) -> dict:
        """GET /orders/{order_id} with OUR order_id, as every SDK and plugin does (the spec names the
        parameter psp_id; see the reference notes' gaps)."""
        return self._call("GET", f"orders/{_id(order_id)}")

    def update_order(self, order_id: str, body: dict) -> dict:
        """PATCH /orders/{order_id}: ship, cancel or extend (spec `updateOrder`)."""
        return self._call("PATCH", f"orders/{_id(order_id)}", body)

    def ship_order(self, order_id: str, *, carrier: str = "", tracktrace_code: str = "", tracktrace_url: str = "",
                   ship_date: str = "", invoice_id: str = "", reason: str = "Shipped") -> dict:
        """For Klarna this is the capture: status `shipped` plus the optional shipping details."""
        details = {"carrier": carrier, "tracktrace_code": tracktrace_code, "tracktrace_url": tracktrace_url,
                   "ship_date": ship_date, "invoice_id": invoice_id, "reason": reason}
        return self.update_order(order_id, {"status": "shipped", **{k: v for k, v in details.items() if v}})

    def cancel_order(self, order_id: str) -> dict:
        """Cancel before shipping (an authorised Klarna order becomes `void`)."""
        return self.update_order(order_id, {"status": "cancelled"})

    def extend_expiration(self, order_id: str, reason: str) -> dict:
        """Push the Klarna shipping deadline (28 days) back; the answer may carry the new date."""
        return self.update_order(order_id, {"extend_expiration": True, "reason": reason})

    def refund_order(self, order_id: str, body: dict) -> dict:
        """POST /orders/{order_id}/refunds: `{"checkout_data": {"items": [...]}}` for Klarna (see
        cart.refund_items); answers {transaction_id, refund_id} (spec) or {order_id, transaction_id}
        (spec example)."""
        return self._call("POST", f"orders/{_id(order_id)}/refunds", body)
