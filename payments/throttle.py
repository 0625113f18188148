"""Per-client rate limits on the public payment endpoints (return URLs, widget page, notifications,
webhooks), so one client replaying a URL cannot spend the shop's provider quota or its workers.

A fixed window per (scope, client address) counted in the cache named by CACHE_URL (shared by every web
process when it is Redis; per process with the default local-memory cache). The client address is the
peer, or, behind PAYMENT_TRUSTED_PROXIES proxies, the address those proxies saw.
"""
import time
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.http import JsonResponse


def client_address(request) -> str:
    proxies = settings.PAYMENT_TRUSTED_PROXIES
    if proxies:
        forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies][:64]
    return (request.META.get("REMOTE_ADDR") or "unknown")[:64]


def allowed(request, scope: str) -> tuple[bool, int]:
    """Count this request; (allowed, seconds until the window resets)."""
    limit, window = settings.PAYMENT_RATE_LIMITS[scope]
    now = time.time()
    slot = int(now // window)
    key = f"throttle:{scope}:{client_address(request)}:{slot}"
    # Counting an existing window is the common case: one incr. Only a window's first request adds the key
    # (with its expiry), and one that loses that race to another process counts on the winner's key.
    try:
        count = cache.incr(key)
    except ValueError:
        if cache.add(key, 1, timeout=window + 1):
            count = 1
        else:
            try:
                count = cache.incr(key)
            except ValueError:  # evicted between add and incr
                cache.set(key, 1, timeout=window + 1)
                count = 1
    return count <= limit, int((slot + 1) * window - now) + 1


def rate_limited(scope: str):
    """View decorator: 429 with Retry-After once a client exceeds the scope's limit."""
    def decorate(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            ok, retry_after = allowed(request, scope)
            if not ok:
                response = JsonResponse({"error": "too many requests; try again shortly"}, status=429)
                response["Retry-After"] = str(retry_after)
                return response
            return view(request, *args, **kwargs)
        return wrapper
    return decorate
