"""Route key → adapter. Callers never import a provider package directly."""
from functools import cache

from django.conf import settings

from ..exceptions import RouteNotAvailable
from .base import PaymentAdapter


def _factories():
    from .klarna_payments.adapter import KlarnaPaymentsAdapter
    from .next.adapter import NextAdapter

    return {NextAdapter.key: NextAdapter, KlarnaPaymentsAdapter.key: KlarnaPaymentsAdapter}


@cache
def _build(key: str) -> PaymentAdapter:
    return _factories()[key]()


def get_adapter(key: str) -> PaymentAdapter:
    """The adapter for a route that exists (enabled or not: old attempts must stay manageable)."""
    if key not in _factories():
        raise RouteNotAvailable(f"unknown payment route {key!r}")
    return _build(key)


def enabled_routes() -> list[PaymentAdapter]:
    """Adapters of the routes the merchant enabled in PAYMENT_ROUTES, in that order."""
    known = _factories()
    return [get_adapter(key) for key in settings.PAYMENT_ROUTES if key in known]


def get_enabled_adapter(key: str) -> PaymentAdapter:
    if key not in {a.key for a in enabled_routes()}:
        raise RouteNotAvailable(f"payment route {key!r} is not enabled")
    return get_adapter(key)


def reset_cache():
    """Forget built adapters (tests that change provider settings call this)."""
    _build.cache_clear()
