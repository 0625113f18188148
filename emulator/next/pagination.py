"""Admin API lists: DRF-style cursor pagination (`{"next", "previous", "results"}`) and date filters.

Why cursors and not pages: 29 Next's spec documents `cursor` only; the cursor is opaque base64 of
"r=<reverse>&p=<position>", where the position is the sort key (order number, webhook or subscription id),
so items created while a client pages through never shift what it sees.

Why two functions: `paginate` pages a list the caller built (webhooks: a handful), `paginate_store` pages a
state store in place (orders, subscriptions: thousands in load tests). The store's keys are walked from the
cursor with a bisect over the state's sorted keys, the filter reads the live objects under the state lock,
and only the page is copied and rendered, so a page costs O(page size + items skipped by the filter), not a
deep copy of the whole store as a real database with an index would not do either.
"""
from __future__ import annotations

import base64
import binascii
from datetime import date
from typing import Callable
from urllib.parse import urlencode

from ..server import HTTPError, Request
from .provider import NextProvider

PAGE_SIZE = 50


def paginate(provider: NextProvider, request: Request, items: list, *, key: Callable, render: Callable) -> dict:
    """DRF-like cursor pagination over items sorted by `key` descending; the cursor is opaque base64."""
    reverse, position = _decode_cursor(request.arg("cursor"))
    if position is None:
        before, page = [], items[:PAGE_SIZE]
        after = items[PAGE_SIZE:]
    elif not reverse:
        rest = [i for i in items if key(i) < position]
        before, page, after = [None], rest[:PAGE_SIZE], rest[PAGE_SIZE:]
    else:
        rest = [i for i in items if key(i) > position]
        before, page, after = rest[:-PAGE_SIZE], rest[-PAGE_SIZE:], [None]
    return {
        "next": _page_url(provider, request, 0, key(page[-1])) if after and page else None,
        "previous": _page_url(provider, request, 1, key(page[0])) if before and page else None,
        "results": [render(i) for i in page],
    }


def paginate_store(provider: NextProvider, request: Request, kind: str, *, match: Callable[[dict], bool],
                   render: Callable[[dict], dict]) -> dict:
    """Cursor pagination over the state store `kind` ("orders" or "subscriptions"), newest first, like
    `paginate`. `match` sees live objects under the state lock and must not change them; `render` gets a
    copy of each object on the page."""
    reverse, position = _decode_cursor(request.arg("cursor"))
    items, more = provider.state.window(kind, position=position, ascending=reverse, match=match, size=PAGE_SIZE)
    if reverse:
        items.reverse()  # fetched oldest first from the cursor; pages are newest first
        has_before, has_after = more, True
    else:
        has_before, has_after = position is not None, more
    key = provider.state.sort_key(kind)
    return {
        "next": _page_url(provider, request, 0, key(items[-1])) if has_after and items else None,
        "previous": _page_url(provider, request, 1, key(items[0])) if has_before and items else None,
        "results": [render(i) for i in items],
    }


def _decode_cursor(cursor: str | None) -> tuple[bool, int | None]:
    if not cursor:
        return False, None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        fields = dict(part.split("=", 1) for part in raw.split("&"))
        return fields["r"] == "1", int(fields["p"])
    except (binascii.Error, UnicodeDecodeError, ValueError, KeyError):
        raise HTTPError(404, {"detail": "Invalid cursor"}) from None


def _page_url(provider: NextProvider, request: Request, reverse: int, position: int) -> str:
    cursor = base64.urlsafe_b64encode(f"r={reverse}&p={position}".encode()).decode().rstrip("=")
    query = {k: v for k, v in request.query.items() if k != "cursor"}
    query["cursor"] = [cursor]
    return f"{provider.public_url}{request.path}?{urlencode(query, doseq=True)}"


def date_arg(request: Request, name: str) -> date | None:
    value = request.arg(name)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPError(400, {name: ["Enter a valid date."]}) from None
