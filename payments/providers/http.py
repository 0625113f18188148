"""The one HTTP client all provider packages build on (DESIGN rule 6).

- One requests.Session per provider client: connection reuse, one place for auth headers.
- (connect, read) timeouts on every call.
- Retries with exponential backoff only where a retry cannot charge twice:
  * connect failures and 429 (the provider never processed the request) — always;
  * read timeouts, dropped connections and 5xx (the request may have been processed) — only for
    GET/HEAD or a request carrying an idempotency key.
  A 429's Retry-After is honoured, capped at PROVIDER_MAX_BACKOFF so a shopper never waits long, and
  no retry starts PROVIDER_RETRY_WINDOW seconds after the first try.
- Every failure becomes one exception of payments.exceptions carrying status, code and correlation id.
- Only method, path, status and timing are logged: bodies hold personal data and secrets never do.
"""
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests
from django.conf import settings

from ..exceptions import ProviderAuthError, ProviderError, ProviderRequestError, ProviderUnavailable

log = logging.getLogger("payments.http")

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


@dataclass(frozen=True)
class ErrorInfo:
    message: str
    code: str | None = None
    correlation_id: str | None = None


def _default_error_info(response) -> ErrorInfo:
    return ErrorInfo(f"HTTP {response.status_code}")


class ProviderHTTP:
    def __init__(self, *, name: str, base_url: str, headers: dict, auth=None,
                 error_info: Callable[[requests.Response], ErrorInfo] = _default_error_info,
                 connect_timeout=None, read_timeout=None, max_retries=None, max_backoff=None,
                 sleep=time.sleep, budget=None, retry_window=None):
        self.name = name
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.session = requests.Session()
        # Proxy variables from the environment are read on every call (0.4 ms each) and would send payment
        # traffic through whatever proxy the host happens to set; only PROVIDER_TRUST_ENV opts in.
        self.session.trust_env = settings.PROVIDER_TRUST_ENV
        self.session.headers.update(headers)
        if auth is not None:
            self.session.auth = auth
        self.error_info = error_info
        self.timeout = (
            connect_timeout if connect_timeout is not None else settings.PROVIDER_CONNECT_TIMEOUT,
            read_timeout if read_timeout is not None else settings.PROVIDER_READ_TIMEOUT,
        )
        self.max_retries = settings.PROVIDER_MAX_RETRIES if max_retries is None else max_retries
        self.max_backoff = settings.PROVIDER_MAX_BACKOFF if max_backoff is None else max_backoff
        # No retry starts this long after the first try: a call's worst case stays inside a web worker's
        # timeout (docker-compose: gunicorn --timeout), which would kill the request and lose the answer.
        self.retry_window = settings.PROVIDER_RETRY_WINDOW if retry_window is None else retry_window
        self.sleep = sleep
        # A rate-limited provider declares its budget (payments.providers.budget): one slot per call sent.
        self.budget = budget

    def request(self, method: str, path: str, *, json=None, params=None, headers=None,
                idempotency_key: str | None = None, with_headers: bool = False):
        """Send one logical request (with retries) and return the decoded JSON body (or None); with
        `with_headers`, a (body, response headers) pair (e.g. Klarna's Capture-Id)."""
        method = method.upper()
        url = self.base_url + path.lstrip("/")
        repeatable = method in SAFE_METHODS or idempotency_key is not None
        last_error: ProviderError | None = None
        first_try = time.monotonic()
        for attempt in range(self.max_retries + 1):
            if attempt:
                if time.monotonic() - first_try >= self.retry_window:
                    break
                self.sleep(self._backoff(attempt, last_error))
            if self.budget is not None:
                self.budget.acquire()
            started = time.monotonic()
            try:
                response = self.session.request(method, url, json=json, params=params,
                                                headers=headers, timeout=self.timeout)
            except requests.exceptions.ConnectTimeout as exc:
                last_error = ProviderUnavailable(f"{self.name}: connect timeout", body=str(exc))
                continue
            except requests.exceptions.ReadTimeout:
                last_error = ProviderUnavailable(f"{self.name}: no answer within {self.timeout[1]}s")
                if repeatable:
                    continue
                break
            except requests.exceptions.ConnectionError as exc:
                last_error = ProviderUnavailable(f"{self.name}: connection failed", body=str(exc)[:200])
                # Refused connections never reached the provider; a reset mid-request might have.
                if repeatable or _never_sent(exc):
                    continue
                break
            elapsed = (time.monotonic() - started) * 1000
            log.info("%s %s %s -> %s in %.0f ms", self.name, method, path, response.status_code, elapsed)
            if response.status_code < 400:
                body = _json_or_none(response)
                return (body, response.headers) if with_headers else body
            last_error = self._error(response)
            if response.status_code == 429 or (response.status_code >= 500 and repeatable):
                continue
            break
        raise last_error

    def _error(self, response) -> ProviderError:
        info = self.error_info(response)
        body = response.text[:2000]
        kwargs = dict(status=response.status_code, code=info.code,
                      correlation_id=info.correlation_id, body=body)
        if response.status_code == 429:
            error = ProviderUnavailable(f"{self.name}: rate limited: {info.message}", **kwargs)
            error.retry_after = _retry_after(response)
            return error
        if response.status_code >= 500:
            return ProviderUnavailable(f"{self.name}: server error: {info.message}", **kwargs)
        if response.status_code in (401, 403):
            return ProviderAuthError(f"{self.name}: not authorised: {info.message}", **kwargs)
        return ProviderRequestError(f"{self.name}: {info.message}", **kwargs)

    def _backoff(self, attempt: int, last_error) -> float:
        retry_after = getattr(last_error, "retry_after", None)
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        # Exponential with full jitter so that many clients do not retry in lockstep.
        return min(self.max_backoff, 0.25 * (2 ** (attempt - 1)) * (0.5 + random.random()))


def _never_sent(exc) -> bool:
    text = str(exc)
    return "Connection refused" in text or "Name or service not known" in text or "NewConnectionError" in text


def _retry_after(response) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return 1.0


def _json_or_none(response):
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise ProviderUnavailable("provider answered with a body that is not JSON",
                                  status=response.status_code, body=response.text[:500]) from None
