"""Route key → adapter. Callers never import a provider package directly.

Routes are discovered: every package under payments/providers/ whose `adapter` module names an `ADAPTER`
class is a route. Adding a route therefore adds a package and touches nothing here.
"""
import importlib
import pkgutil
from functools import cache
from pathlib import Path

from django.conf import settings

from ..exceptions import RouteNotAvailable
from .base import PaymentAdapter


@cache
def _adapter_classes() -> dict[str, type[PaymentAdapter]]:
    found = {}
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if not module.ispkg:
            continue
        try:
            adapter_module = importlib.import_module(f"{__package__}.{module.name}.adapter")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__package__}.{module.name}.adapter":
                continue  # a helper package, not a route
            raise
        cls = getattr(adapter_module, "ADAPTER", None)
        if cls is not None:
            found[cls.key] = cls
    return found


@cache
def _build(key: str) -> PaymentAdapter:
    return _adapter_classes()[key]()


def route_keys() -> list[str]:
    """Every route the code knows, enabled or not."""
    return sorted(_adapter_classes())


def get_adapter(key: str) -> PaymentAdapter:
    """The adapter for a route that exists (enabled or not: old attempts must stay manageable)."""
    if key not in _adapter_classes():
        raise RouteNotAvailable(f"unknown payment route {key!r}")
    return _build(key)


def all_adapters() -> list[PaymentAdapter]:
    return [get_adapter(key) for key in route_keys()]


def enabled_routes() -> list[PaymentAdapter]:
    """Adapters of the routes the merchant enabled in PAYMENT_ROUTES, in that order."""
    known = _adapter_classes()
    return [get_adapter(key) for key in settings.PAYMENT_ROUTES if key in known]


def get_enabled_adapter(key: str) -> PaymentAdapter:
    if key not in {a.key for a in enabled_routes()}:
        raise RouteNotAvailable(f"payment route {key!r} is not enabled")
    return get_adapter(key)


def reset_cache():
    """Forget built adapters (tests that change provider settings call this)."""
    _build.cache_clear()
