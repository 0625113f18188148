"""Accepting an upsell the way the confirmation page does: its form posts the offer's signed terms."""
import re

from shop.links import order_url


def accept_url(order, offer):
    return order_url(order, "shop:order_confirmation").replace("thanks/", f"upsells/{offer.pk}/")


def shown_terms(client, order, offer) -> str:
    """The signed terms the confirmation page puts in the offer's form; '' when the page offers it not."""
    page = client.get(order_url(order, "shop:order_confirmation")).content.decode()
    found = re.search(rf'upsells/{offer.pk}/".*?name="terms" value="([^"]*)"', page, re.S)
    return found.group(1) if found else ""


def accept(client, order, offer, *, terms=None):
    """Click "Add to my order" on the page as it is now, or post `terms` (a page seen earlier)."""
    if terms is None:
        terms = shown_terms(client, order, offer)
    return client.post(accept_url(order, offer), {"terms": terms})
