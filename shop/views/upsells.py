"""One-click upsell on the confirmation page: accept (POST) and the status the page polls (JSON).

Accepting needs the signed order link *and* the browser that placed the order (its session names the
order): a forwarded or guessed link cannot add charges to somebody else's order. The form posts the
offer's terms as the page showed them, signed (payments.services.upsell_terms): an offer changed since
is not charged, and the page shows it anew with a message saying so.
"""
from django.contrib import messages
from django.http import Http404, HttpResponseForbidden, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from payments.selectors import upsells_of
from payments.services.upsells import UpsellNotAvailable, upsell_accept, upsell_status

from .. import selectors
from ..browser_orders import placed_here
from ..links import order_url


def _order(token):
    order = selectors.order_for_token(token)
    if order is None:
        raise Http404("No such order")
    return order


@require_POST
def upsell_accept_view(request, token, offer_id):
    order = _order(token)
    if not placed_here(request.session, order):
        return HttpResponseForbidden("Extras can only be added from the browser that placed the order.")
    try:
        upsell, created = upsell_accept(order=order, offer_id=offer_id, shown_terms=request.POST.get("terms", ""))
    except UpsellNotAvailable as exc:
        messages.error(request, exc.shopper_message)
        return redirect(order_url(order, "shop:order_confirmation") + "#upsells")
    if not created:
        messages.info(request, f"{upsell.name} is already on its way to your order.")
    response = redirect(order_url(order, "shop:order_confirmation") + f"#upsell-{upsell.pk}")
    response.status_code = 303
    return response


@require_GET
def upsell_status_view(request, token):
    order = _order(token)
    return JsonResponse({"upsells": [upsell_status(upsell) for upsell in upsells_of(order)]})
