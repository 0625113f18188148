"""Drive an admin action as the merchant's browser does: open its page, then post the form with the
one-time confirmation key that page carried (payments.services.confirmations)."""
import re

_KEY = re.compile(r'name="confirmation" value="([A-Za-z0-9_-]*)"')


def confirmation_key(page) -> str:
    """The key of the form on a rendered action page (response or HTML), '' when there is none."""
    html = page if isinstance(page, str) else page.content.decode()
    found = _KEY.search(html)
    return found.group(1) if found else ""


_HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"')


def hidden_fields(page) -> dict:
    """The hidden inputs of the action's form on a rendered page (what a statement carried, its key)."""
    html = page if isinstance(page, str) else page.content.decode()
    key = html.find('name="confirmation"')
    if key < 0:
        return {}
    form = html[html.rfind("<form", 0, key):html.find("</form>", key)]
    return {name: value for name, value in _HIDDEN.findall(form) if name != "csrfmiddlewaretoken"}


def confirmed_form(client, url, data=None) -> dict:
    """The POST data of the action's form, confirmed: what a freshly opened page carries hidden (its key, and on
    a form without inputs what its statement fixed), then `data`."""
    page = client.get(url)
    return {**hidden_fields(page), **(data or {}), "confirmed": "1", "confirmation": confirmation_key(page)}


def confirm(client, url, data=None, **kwargs):
    """Open the action's page and post its form confirmed, once."""
    return client.post(url, confirmed_form(client, url, data), **kwargs)


def post_at_once(url, data, user, *, tabs=2) -> list[str]:
    """The same POST from `tabs` browser tabs of `user` at the same moment (PostgreSQL only: each tab on
    its own connection): the page each tab ended on."""
    from django.test import Client

    from tests.integration.concurrency import at_once

    clients = [Client() for _ in range(tabs)]
    for tab in clients:
        tab.force_login(user)
    return at_once(*[lambda tab=tab: tab.post(url, data, follow=True).content.decode() for tab in clients])


def order_change_form() -> dict:
    """The order's admin form as the page posts it for an order made by tests.factories.make_order: its
    contact and shipping fields, billing same as shipping, and the (empty) inlines' management forms."""
    from tests.factories import ADDRESS

    fields = ("email", "phone", "first_name", "last_name", "shipping_line1", "shipping_line2", "shipping_postcode",
              "shipping_city", "shipping_country")
    return {**{name: ADDRESS[name] for name in fields}, "billing_same_as_shipping": "on",
            "lines-TOTAL_FORMS": "0", "lines-INITIAL_FORMS": "0",
            "payment_attempts-TOTAL_FORMS": "0", "payment_attempts-INITIAL_FORMS": "0"}
