"""The cart page and the three POST endpoints that change it.

Every refusal (unknown product, quantity that is not a number or out of range) is a CartError from
shop.cart and becomes a message on the cart page: a bad form post never produces a 500.
"""
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from ..cart import MAX_QUANTITY, Cart, CartError


def cart(request):
    current = Cart(request.session)
    lines = current.lines()
    return render(request, "shop/cart.html", {
        "lines": lines,
        "totals": current.totals(lines),
        "has_subscription": any(line.product.is_subscription for line in lines),
        "max_quantity": MAX_QUANTITY,
    })


@require_POST
def cart_add(request):
    try:
        product = Cart(request.session).add(request.POST.get("product_id"), request.POST.get("quantity", 1))
    except CartError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Added {product.name} to your cart.")
    return redirect("shop:cart")


@require_POST
def cart_update(request):
    try:
        Cart(request.session).set(request.POST.get("product_id"), request.POST.get("quantity"))
    except CartError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Cart updated.")
    return redirect("shop:cart")


@require_POST
def cart_remove(request):
    Cart(request.session).remove(request.POST.get("product_id", ""))
    messages.success(request, "Removed from your cart.")
    return redirect("shop:cart")
