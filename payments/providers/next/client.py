"""29 Next Admin API endpoints used by the shop (spec: 2024-04-01)."""
from urllib.parse import quote

from django.conf import settings

from ..budget import provider_budget
from ..http import ErrorInfo, ProviderHTTP


def _error_info(response) -> ErrorInfo:
    """29 Next documents no error format; its API is Django REST Framework, so expect
    {"detail": "..."} or {"field": ["message", ...]} and keep a readable summary of either."""
    try:
        body = response.json()
    except ValueError:
        return ErrorInfo(f"HTTP {response.status_code}")
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return ErrorInfo(body["detail"], code=body.get("code"))
    if isinstance(body, dict) and body:
        field = next(iter(body))
        return ErrorInfo(f"{field}: {body[field]}"[:300], code="invalid")
    return ErrorInfo(f"HTTP {response.status_code}")


class NextClient:
    def __init__(self, *, base_url: str, token: str, api_version: str, **http_options):
        self.http = ProviderHTTP(
            name="29next",
            base_url=base_url,
            headers={
                "Authorization": f"Bearer {token}",
                "X-29next-API-Version": api_version,
                "Accept": "application/json",
            },
            error_info=_error_info,
            # 29 Next allows 4 calls per second per token, for web and workers together
            budget=provider_budget("29next", credential=token, per_second=settings.NEXT_API_RATE_LIMIT),
            **http_options,
        )

    def create_order(self, body: dict) -> dict:
        """ordersCreate. No idempotency key exists, so this POST is retried only when the request
        provably never reached 29 Next (connect failure, 429)."""
        return self.http.request("POST", "orders/", json=body)

    def get_order(self, number: str) -> dict:
        return self.http.request("GET", f"orders/{quote(str(number), safe='')}/")

    def list_orders(self, **params) -> dict:
        return self.http.request("GET", "orders/", params=params)

    def add_line_items(self, number: str, body: dict) -> dict:
        """ordersAddLineItemsCreate: charges the order's payment method. No idempotency key, so never
        retried after a 5xx or timeout: the caller reads the order back instead (DESIGN rule 5)."""
        return self.http.request("POST", f"orders/{quote(str(number), safe='')}/add-line-items/", json=body)

    # ordersCaptureCreate / ordersRefundCreate / ordersCancelCreate. No idempotency key exists, so the HTTP
    # client never repeats them after a 5xx or timeout: the adapter reads the order back instead.
    def capture_order(self, number: str) -> dict:
        """Captures the whole authorization (the spec's capture has no amount and no body)."""
        return self.http.request("POST", f"orders/{quote(str(number), safe='')}/capture/")

    def refund_order(self, number: str, body: dict) -> dict:
        """RefundOrder `{transactions: [{id, amount}], note}` -> the Refund."""
        return self.http.request("POST", f"orders/{quote(str(number), safe='')}/refund/", json=body)

    def cancel_order(self, number: str, body: dict) -> dict:
        """CancelOrder `{cancel_reason, full_refund, send_cancel_notification}` -> the Order."""
        return self.http.request("POST", f"orders/{quote(str(number), safe='')}/cancel/", json=body)

    def get_subscription(self, subscription_id) -> dict:
        return self.http.request("GET", f"subscriptions/{quote(str(subscription_id), safe='')}/")

    def list_subscriptions(self, *, cursor: str | None = None, statuses: tuple[str, ...] = ()) -> dict:
        """subscriptionsList: DRF cursor pages `{next, previous, results}`; `next` is a full URL whose
        `cursor` query value is all we keep (the base URL is ours, not the one in the link)."""
        params = {"status": list(statuses)} if statuses else {}
        if cursor:
            params["cursor"] = cursor
        return self.http.request("GET", "subscriptions/", params=params)

    def subscription_action(self, subscription_id, action: str, body: dict | None = None) -> dict:
        """renew / retry / cancel: POSTs without idempotency keys, so not retried after 5xx. Without a body
        nothing is sent: `renew` has no request body in the spec (not even `{}`)."""
        path = f"subscriptions/{quote(str(subscription_id), safe='')}/{action}/"
        return self.http.request("POST", path, json=body)

    def patch_subscription(self, subscription_id, body: dict) -> dict:
        return self.http.request("PATCH", f"subscriptions/{quote(str(subscription_id), safe='')}/", json=body)
