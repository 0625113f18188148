"""The orders this browser placed, kept in its session: which may offer it upsells and settle its cart.

A shopper may place several orders from one browser (a second tab, a changed cart after a first order), so
the session keeps the last few, not only the newest; and each paid order's items leave the cart once.
"""
LAST_ORDER_SESSION_KEY = "last_order"  # the newest: a resubmitted checkout may rewrite or reuse it
PLACED_SESSION_KEY = "placed_orders"
SETTLED_SESSION_KEY = "cart_settled"  # the paid orders whose items the cart already gave up
KEPT = 20  # orders a list keeps, newest last


def remember_placed(session, number: str) -> None:
    if session.get(LAST_ORDER_SESSION_KEY) != number:
        session[LAST_ORDER_SESSION_KEY] = number
    _remember_in(session, PLACED_SESSION_KEY, number)


def placed_here(session, order) -> bool:
    """Whether this browser placed `order` (another tab may have placed a newer one since). A session from
    before the list was kept names only its last order."""
    return session.get(LAST_ORDER_SESSION_KEY) == order.number or \
        order.number in (session.get(PLACED_SESSION_KEY) or [])


def first_settlement(session, number: str) -> bool:
    """True once per paid order: the first time its items are to leave this browser's cart."""
    return _remember_in(session, SETTLED_SESSION_KEY, number)


def _remember_in(session, key, number) -> bool:
    """Add `number` to the session's list `key` (the newest KEPT); False when it was there already."""
    kept = list(session.get(key) or [])
    if number in kept:
        return False
    session[key] = (kept + [number])[-KEPT:]
    return True
