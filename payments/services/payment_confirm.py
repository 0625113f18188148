"""Applying the provider's own word about a payment to our attempt (return, webhook, reconcile).

This is the only way an attempt becomes paid, and it happens only after the provider's payment has
been checked against what we asked for: our reference, currency, amount and lines.
"""
from collections import Counter

from django.db.models import F, PositiveIntegerField, Value
from django.db.models.functions import Greatest

from common.money import format_minor

from ..exceptions import ReturnMismatch
from ..models import PaymentAttempt
from ..orders import order_book
from ..providers.types import ProviderPayment
from ..signals import checkout_paid, send_on_commit
from ..states import SUCCESSFUL, Status, record_event, transition

# The ledger note (its dedupe key) saying the provider holds an attempt for review (selectors.in_review_ids).
REVIEW_NOTE = "provider-review"

APPLICABLE = {
    "authorized": Status.AUTHORIZED,
    "captured": Status.CAPTURED,
    "failed": Status.FAILED,
    "cancelled": Status.CANCELLED,
    "expired": Status.EXPIRED,
    "partially_refunded": Status.PARTIALLY_REFUNDED,
    "refunded": Status.REFUNDED,
}


def expected_lines(lines) -> dict[str, int]:
    """Quantity per provider product id (as a string: the key of a JSON object), as a route reports lines."""
    expected = Counter()
    for line in lines:
        expected[str(int(line.provider_product_id or 0))] += line.quantity
    return dict(expected)


def payment_mismatches(attempt: PaymentAttempt, payment: ProviderPayment, lines=None) -> list[str]:
    """Every way the provider's payment differs from the attempt; empty when it matches."""
    problems = []
    if payment.reference != attempt.reference:
        problems.append(f"reference {payment.reference or '(none)'} is not {attempt.reference}")
    if payment.currency.upper() != attempt.currency.upper():
        problems.append(f"currency {payment.currency or '(none)'} is not {attempt.currency}")
    if payment.amount != attempt.amount:
        problems.append(f"amount {payment.amount} is not {attempt.amount}")
    if payment.lines is not None:
        # Routes that report lines report them by the provider product ids the checkout sent: compare with
        # what this attempt asked for, or (attempts from before that was recorded) the order's lines now.
        if attempt.expected_lines is not None:
            expected = Counter(attempt.expected_lines)
        else:
            expected = Counter(expected_lines(lines if lines is not None
                                              else order_book().details(attempt.order_id).lines))
        got = Counter()
        for product_id, quantity in payment.lines:
            got[str(product_id)] += quantity
        if +got != +expected:
            problems.append("order lines differ from the shop's order")
    if attempt.provider_reference and payment.provider_reference != attempt.provider_reference:
        problems.append(f"provider order {payment.provider_reference} is not {attempt.provider_reference}")
    return problems


def payment_confirm(*, attempt_id=None, attempt=None, payment: ProviderPayment, source: str, dedupe_key=None,
                    lines=None):
    """Check `payment` against the attempt, then move the attempt to the provider's status.

    Raises ReturnMismatch (after recording a REJECTED event) when anything differs: nothing is marked
    paid on a mismatch. Idempotent through transition(): the same outcome applied twice, or by a return
    POST racing a webhook, changes the attempt once. Returns the TransitionResult, or None when the
    provider still reports the payment as pending. Pass `attempt` when the caller has just read it (the
    change is then a compare-and-set on what it read), else `attempt_id`. `lines`, when the caller has the
    checkout's lines at hand, saves reading the order again.
    """
    if attempt is None:
        attempt = PaymentAttempt.objects.get(pk=attempt_id)
    problems = payment_mismatches(attempt, payment, lines)
    if problems:
        message = f"Provider payment {payment.provider_reference} rejected: " + "; ".join(problems)
        record_event(attempt.pk, kind="rejected", source=source, message=message, payload=payment.raw,
                     dedupe_key=f"{dedupe_key}:rejected" if dedupe_key else None)
        raise ReturnMismatch(message)
    target = _target(payment)
    if target is None:
        # Still undecided (e.g. Klarna fraud review): remember which provider payment to ask about.
        if payment.provider_reference and not attempt.provider_reference:
            PaymentAttempt.objects.filter(pk=attempt.pk, provider_reference="").update(
                provider_reference=payment.provider_reference)
        # Under a key of its own: the message's key belongs to the transition it makes once the provider
        # has decided (a later return on the same attempt, asking again, carries the same key).
        record_event(attempt.pk, kind="note", source=source, payload=payment.raw,
                     dedupe_key=f"{dedupe_key}:undecided" if dedupe_key else None,
                     message=f"Provider reports {payment.provider_reference} as {payment.status}")
        if payment.in_review:
            # Once per attempt: what tells the shopper's pages it is held for review, not still to be paid.
            record_event(attempt.pk, kind="note", source=source, dedupe_key=REVIEW_NOTE,
                         message="The provider holds this payment for review after the shopper finished there")
        return None
    learned = _learned(attempt, payment) if target in SUCCESSFUL else {}
    result = transition(attempt, target, source=source, dedupe_key=dedupe_key, payload=payment.raw,
                        provider_reference=payment.provider_reference, fields=learned,
                        message=f"Provider order {payment.provider_reference} is {payment.status}")
    if target not in SUCCESSFUL:
        return result
    if not result.changed and result.attempt.status != target:
        # The table refused the move (cancelled → captured: the merchant voided the authorization and the
        # provider reports it shipped later). transition() recorded the refusal in the timeline; the payment
        # keeps its books and nothing a success begins is begun (probe G F2: a cancelled payment showed
        # 53.95 captured).
        return result
    if learned and not result.changed:
        _learn_again(attempt.pk, target, learned)
    if payment.charged_back:
        _note_chargeback(attempt, payment, source=source)
    _after_success(result.attempt, payment, paid_the_order=result.order_paid_now)
    return result


def _target(payment) -> Status | None:
    """Our status for the provider's word. A route whose order stays "captured" after refunds and reports
    them only in its figures (Klarna's order management) moves on by those figures, as an admin refund
    does (operation_outcomes._settle): partly or fully refunded once nothing is left to capture."""
    target = APPLICABLE.get(payment.status)
    if target == Status.CAPTURED and payment.refunded and not payment.remaining:
        captured = payment.captured or payment.amount
        target = Status.REFUNDED if payment.refunded >= captured else Status.PARTIALLY_REFUNDED
    return target


# Money figures only ever grow on our books: a read-back older than what the shop booked meanwhile (its own
# refund, settled by operation_outcomes) must not lower them.
GROWING = ("captured_amount", "refunded_amount")


def _learned(attempt, payment) -> dict:
    """What the provider allows next (upsells, the authorization's end) and what it says was captured and
    refunded, saved with the success."""
    learned = {}
    if payment.supports_upsell and not attempt.provider_supports_upsell:
        learned["provider_supports_upsell"] = True
    if payment.authorization_expires_at:
        learned["authorization_expires_at"] = payment.authorization_expires_at
    if payment.status == "captured" and attempt.captured_amount < attempt.amount:
        # Captured by the provider itself (a pay-now gateway): all of it is captured, so all of it can be
        # refunded; our own captures keep counting from there.
        learned["captured_amount"] = attempt.amount
    if attempt.kind != PaymentAttempt.Kind.UPSELL:
        for name, value in _provider_figures(attempt, payment).items():
            learned[name] = max(value, learned.get(name, 0))
    return learned


def _provider_figures(attempt, payment) -> dict:
    """The provider order's captured and refunded totals, where the route reports them and they say more
    than our books: refunds made at the provider (its dashboard, a chargeback) are booked like the shop's
    own (operation_outcomes books the read-back's totals on the same fields). Totals, not increments: a
    refund the shop made is already in the provider's total, so it is never counted twice; and the
    larger of the two, so a stale read-back never books less than the shop's own refunds did. Booked on
    the order's checkout (or renewal) payment, as operation_outcomes books them; an upsell's provider
    order is its checkout's."""
    figures = {}
    if payment.captured is not None and payment.captured > attempt.captured_amount:
        figures["captured_amount"] = payment.captured
    if payment.refunded is not None and payment.refunded > attempt.refunded_amount:
        figures["refunded_amount"] = payment.refunded
    return figures


def _learn_again(attempt_id, status, learned) -> None:
    """The same success reported again (a notification after a refund at the provider, a repeated
    read-back): save what it taught, while the attempt still stands in that status and without lowering
    a figure booked meanwhile, in one UPDATE."""
    values = {name: Greatest(F(name), Value(value), output_field=PositiveIntegerField()) if name in GROWING
              else value for name, value in learned.items()}
    PaymentAttempt.objects.filter(pk=attempt_id, status=status).update(**values)


def _note_chargeback(attempt, payment, *, source) -> None:
    """A chargeback is not a refund the merchant made: the shopper's bank took the money back. The route
    reports it as the whole captured amount refunded (so it is booked as taken back, counts as no revenue
    and offers nothing more to refund); the timeline says who took it, once."""
    record_event(attempt.pk, kind="note", source=source, dedupe_key=f"chargeback:{payment.provider_reference}"[:120],
                 message=f"Charged back by the shopper's bank: {format_minor(payment.refunded or 0, attempt.currency)} "
                         "taken back. Not a refund the shop made; nothing is left to refund.")


def _after_success(attempt, payment, *, paid_the_order: bool):
    """Begin the subscriptions the checkout bought, the way the route renews them, unless another payment
    paid the order first (then this one is a duplicate, undone)."""
    if attempt.kind != PaymentAttempt.Kind.CHECKOUT:
        return
    from .duplicates import PAYING, checkout_duplicate_settle, checkout_withdrawn_settle
    from .renewal_strategies import strategy_for

    if not paid_the_order and attempt.status not in PAYING:
        # A refund or an undo reported again (a read-back of a refunded duplicate): nothing begins. Only a
        # payment that pays, or paid, the order starts what the order bought (review of stop 28: a second
        # subscription on a refunded duplicate's token).
        return

    # A payment that made the order paid was first by definition; any other asks who was, or whether the
    # shop had withdrawn the order (then nothing it bought starts).
    if not paid_the_order and (checkout_withdrawn_settle(attempt_id=attempt.pk)
                               or checkout_duplicate_settle(attempt_id=attempt.pk)):
        return  # the order's subscriptions belong to the payment that paid it
    strategy_for(attempt.route).started(attempt=attempt, payment=payment)
    send_on_commit(checkout_paid, order_id=attempt.order_id, attempt_id=attempt.pk)
