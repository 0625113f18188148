"""The product grid and the product page."""
from django.http import Http404
from django.shortcuts import render

from .. import selectors
from ..cart import MAX_QUANTITY


def catalog(request):
    """One bounded page of the product grid (`?page=N`; see selectors.catalog_page)."""
    page = selectors.catalog_page(request.GET.get("page"))
    return render(request, "shop/catalog.html", {"page": page, "products": page.object_list})


def product(request, slug):
    item = selectors.product_for_sale(slug)
    if item is None:
        raise Http404("No such product")
    return render(request, "shop/product.html", {"product": item, "max_quantity": MAX_QUANTITY})
