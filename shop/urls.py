from django.urls import path, register_converter

from .converters import RowIdConverter
from .views import cart, catalog, checkout, favicon, orders, subscriptions, upsells

register_converter(RowIdConverter, "row_id")

app_name = "shop"

urlpatterns = [
    path("", catalog.catalog, name="catalog"),
    path("favicon.ico", favicon.favicon, name="favicon"),
    path("p/<slug:slug>/", catalog.product, name="product"),
    path("cart/", cart.cart, name="cart"),
    path("cart/add/", cart.cart_add, name="cart_add"),
    path("cart/update/", cart.cart_update, name="cart_update"),
    path("cart/remove/", cart.cart_remove, name="cart_remove"),
    path("checkout/", checkout.checkout, name="checkout"),
    path("orders/<str:token>/", orders.order_status, name="order_status"),
    path("orders/<str:token>/thanks/", orders.order_confirmation, name="order_confirmation"),
    path("orders/<str:token>/status.json", orders.order_status_json, name="order_status_json"),
    path("orders/<str:token>/payment-failed/", orders.order_failed, name="order_failed"),
    path("orders/<str:token>/retry/", orders.order_retry, name="order_retry"),
    path("orders/<str:token>/upsells/<row_id:offer_id>/", upsells.upsell_accept_view, name="upsell_accept"),
    path("orders/<str:token>/upsells.json", upsells.upsell_status_view, name="upsell_status"),
    path("subscriptions/<str:token>/", subscriptions.subscription_manage, name="subscription_manage"),
    path("subscriptions/<str:token>/cancel/", subscriptions.subscription_cancel_view,
         name="subscription_cancel"),
    path("subscriptions/<str:token>/pay/", subscriptions.subscription_pay_view, name="subscription_pay"),
]
