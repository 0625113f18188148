"""Statuses in the words a shopper uses: "Paid", "Awaiting Klarna's review", "Cancelled by you".

Admin keeps the precise payment vocabulary (authorized, captured, ...); to a shopper an authorized Klarna
payment and a captured one are both simply paid, and backing out at Klarna is their own cancellation,
not a failure. A payment the merchant cancelled in admin (the shop withdrew the order,
payments.selectors.withdrawn_payment_of) is the shop's cancellation, not theirs.
"""
from django import template

register = template.Library()

ATTEMPT_WORDS = {
    "created": "Not started", "pending": "Waiting for you at Klarna", "authorized": "Paid", "captured": "Paid",
    "failed": "Declined", "cancelled": "Cancelled by you", "expired": "Not completed in time",
    "partially_refunded": "Partly refunded", "refunded": "Refunded",
}
ORDER_WORDS = {"pending": "Awaiting payment", "paid": "Paid", "payment_failed": "Payment declined",
               "cancelled": "Cancelled by you"}
REVIEW = "Awaiting Klarna's review"
WITHDRAWN = "Cancelled by the shop"
LAPSED = "Authorization lapsed"


@register.simple_tag
def attempt_words(attempt, withdrawn_id=None, lapsed_id=None, review_ids=()) -> str:
    """`{% attempt_words attempt withdrawn_id=... lapsed_id=... review_ids=... %}` → 'Paid', 'Declined',
    "Awaiting Klarna's review" for a payment its provider holds for review (payments.selectors.in_review_ids);
    the payment the merchant cancelled is the shop's doing, one that ran out uncaptured lapsed."""
    if attempt.pk in review_ids:
        return REVIEW
    if attempt.status == "cancelled" and withdrawn_id is not None and attempt.pk == withdrawn_id:
        return WITHDRAWN
    if attempt.status == "expired" and lapsed_id is not None and attempt.pk == lapsed_id:
        return LAPSED
    return ATTEMPT_WORDS.get(attempt.status, attempt.get_status_display())


@register.simple_tag
def order_words(order, withdrawn=False, refund=None, lapsed=None, review=False) -> str:
    """`{% order_words order withdrawn=... refund=... lapsed=... review=... %}`: the order's status, or the review
    when its provider holds a payment for one; a cancelled order the shop withdrew is the shop's cancellation; a
    paid order whose payment was refunded (shop.selectors.order_refund) is refunded, in full or in part; an
    unpaid one whose approved payment ran out uncaptured (payments.selectors.lapsed_payment_of) lapsed, it was
    not declined."""
    if order.status == "pending" and review:
        return REVIEW
    if order.status == "paid" and refund is not None:
        return ATTEMPT_WORDS["refunded" if refund.in_full else "partially_refunded"]
    if order.status == "cancelled" and withdrawn:
        return WITHDRAWN
    if order.status == "payment_failed" and lapsed:
        return LAPSED
    return ORDER_WORDS.get(order.status, order.get_status_display())
