"""Values every page's header needs: the shop name and the number of items in the cart."""
from django.conf import settings

from .cart import Cart


def cart_summary(request):
    # Error pages can be rendered before the session middleware ran (or without a request at all);
    # the header then simply shows an empty cart.
    session = getattr(request, "session", None)
    return {
        "shop_name": settings.SHOP_NAME,
        "cart_count": Cart(session).count if session is not None else 0,
    }
