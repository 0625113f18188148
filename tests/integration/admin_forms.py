"""Drive an admin action as the merchant's browser does: open its page, then post the form with the
one-time confirmation key that page carried (payments.services.confirmations)."""
import re

_KEY = re.compile(r'name="confirmation" value="([A-Za-z0-9_-]*)"')


def confirmation_key(page) -> str:
    """The key of the form on a rendered action page (response or HTML), '' when there is none."""
    html = page if isinstance(page, str) else page.content.decode()
    found = _KEY.search(html)
    return found.group(1) if found else ""


def confirmed_form(client, url, data=None) -> dict:
    """The POST data of the action's form, confirmed: `data` plus the key of a freshly opened page."""
    return {**(data or {}), "confirmed": "1", "confirmation": confirmation_key(client.get(url))}


def confirm(client, url, data=None, **kwargs):
    """Open the action's page and post its form confirmed, once."""
    return client.post(url, confirmed_form(client, url, data), **kwargs)
