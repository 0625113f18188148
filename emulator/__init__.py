"""The providers' stand-in: a separate HTTP server that speaks each payment provider's wire format.

It keeps provider-side state, serves the hosted pages a shopper sees, sends signed webhooks and enforces
the providers' validation rules (checked against their official OpenAPI specs), so the shop's code is
exactly what would talk to the real provider. It imports nothing from the shop and does not use Django.
"""
from __future__ import annotations

from .app import Emulator


def build_app(*, public_url: str) -> Emulator:
    """Assemble the emulator: the control API plus every provider."""
    from . import control, next as next_provider

    app = Emulator(public_url=public_url)
    control.register(app)
    next_provider.register(app)
    return app
