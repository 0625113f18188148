"""The providers' stand-in: a separate HTTP server that speaks each payment provider's wire format.

It keeps provider-side state, serves the hosted pages a shopper sees, sends signed webhooks and enforces
the providers' validation rules (checked against their official OpenAPI specs), so the shop's code is
exactly what would talk to the real provider. It imports nothing from the shop and does not use Django.
"""
from __future__ import annotations

import os

from .app import Emulator

DEFAULT_TICK_SECONDS = 1.0


def build_app(*, public_url: str, tick_seconds: float | None = None) -> Emulator:
    """Assemble the emulator: the control API plus every provider, and start the clock's ticker.

    The ticker runs due work (subscription renewals) every `tick_seconds`, default
    $EMULATOR_CLOCK_TICK_SECONDS or 1 s; 0 turns it off (then only `POST /_emulator/clock/advance` does).
    """
    from . import control, index, klarna_global
    from . import klarna as klarna_provider
    from . import multisafepay as multisafepay_provider
    from . import next as next_provider

    app = Emulator(public_url=public_url)
    control.register(app)
    next_provider.register(app)
    klarna_provider.register(app)
    multisafepay_provider.register(app)
    klarna_global.register(app)
    index.register(app)
    if tick_seconds is None:
        tick_seconds = float(os.environ.get("EMULATOR_CLOCK_TICK_SECONDS") or DEFAULT_TICK_SECONDS)
    app.clock.start(tick_seconds)
    return app
