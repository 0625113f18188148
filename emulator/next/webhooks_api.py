"""29 Next Admin API `/webhooks/`: register a webhook target and list them. Deliveries are sent by
`events.py` through the shared sender; the configured target (`EMULATOR_NEXT_WEBHOOK_TARGET`) is webhook 0.
"""
from __future__ import annotations

from ..routes import register_routes
from ..server import HTTPError, Request, Response, json_response
from .pagination import paginate
from .provider import API_VERSION, NextProvider
from .wire import BASE, endpoint


def register(provider: NextProvider) -> None:
    register_routes(provider, BASE, [
        ("POST", "/webhooks/", webhooks_create, "webhooksCreate"),
        ("GET", "/webhooks/", webhooks_list, "webhooksList"),
    ], wrap=endpoint)


def webhooks_create(provider: NextProvider, request: Request) -> Response:
    body = request.data()
    validator = provider.validator(coerce=request.is_form)
    data, errors = validator.validate(provider.schema("Webhook"), body)
    known = provider.webhook_events()
    if not errors and known:
        bad = {str(i): [f'"{e}" is not a valid choice.'] for i, e in enumerate(data["events"]) if e not in known}
        errors = {"events": bad} if bad else None
    if errors:
        raise HTTPError(400, errors)
    now = provider.now_iso()
    webhook = {
        "id": provider.state.next_id("webhook"), "name": data.get("name"), "target": data["target"],
        "events": [e for e in data["events"] if e], "active": data.get("active", True),
        "api_version": data.get("api_version") or API_VERSION, "secret_key": data.get("secret_key"),
        "warning_count": 0, "next_check_date": None, "created_at": now, "updated_at": now,
    }
    return json_response(provider.state.add_webhook(webhook), 201)


def webhooks_list(provider: NextProvider, request: Request) -> Response:
    hooks = sorted(provider.state.list_webhooks(), key=lambda w: w["id"], reverse=True)
    return json_response(paginate(provider, request, hooks, key=lambda w: w["id"], render=lambda w: w))
