"""Storefront views, one module per page group. Views parse the request, call one service or selector
and map the result to a page or redirect; rules live in shop.cart, shop.orders and payments.services."""
