"""Statuses in the words a shopper uses: "Paid", "Awaiting Klarna's review", "Cancelled by you".

Admin keeps the precise payment vocabulary (authorized, captured, ...); to a shopper an authorized Klarna
payment and a captured one are both simply paid, and backing out at Klarna is their own cancellation,
not a failure.
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


def in_review(attempt) -> bool:
    """Pending with a provider payment already named: the provider holds it for review (fraud check)."""
    return attempt.status == "pending" and bool(attempt.provider_reference)


@register.filter
def attempt_words(attempt) -> str:
    """`{{ attempt|attempt_words }}` → 'Paid', 'Declined', "Awaiting Klarna's review"."""
    if in_review(attempt):
        return REVIEW
    return ATTEMPT_WORDS.get(attempt.status, attempt.get_status_display())


@register.simple_tag
def order_words(order, attempts=()) -> str:
    """`{% order_words order attempts %}`: the order's status, or the review when a payment is in one."""
    if order.status == "pending" and any(in_review(a) for a in attempts):
        return REVIEW
    return ORDER_WORDS.get(order.status, order.get_status_display())
