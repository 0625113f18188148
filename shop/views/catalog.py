"""The product grid and the product page."""
from django.http import Http404
from django.shortcuts import render

from .. import selectors
from ..cart import MAX_QUANTITY


def catalog(request):
    return render(request, "shop/catalog.html", {"products": selectors.products_for_sale()})


def product(request, slug):
    item = selectors.product_for_sale(slug)
    if item is None:
        raise Http404("No such product")
    return render(request, "shop/product.html", {"product": item, "max_quantity": MAX_QUANTITY})
