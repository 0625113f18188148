"""Helpers for races around a shop-run renewal charge."""
from payments.providers.registry import get_adapter


def after_the_charge(monkeypatch, sub, action):
    """The provider takes `sub`'s next renewal charge, and `action()` (a cancel, say) happens after that
    and before the shop records the charge."""
    adapter = get_adapter(sub.route)
    charge_recurring = adapter.charge_recurring

    def charged_then(*args, **kwargs):
        taken = charge_recurring(*args, **kwargs)
        action()
        return taken

    monkeypatch.setattr(adapter, "charge_recurring", charged_then)
