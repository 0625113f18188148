"""What a merchant operation (capture, refund, cancel, release, extend) changes on our side once it is
done at the provider: the books and statuses of every payment on the provider's order, the timeline,
and a refund's email. Also the operations whose provider answer was lost: their effect is looked for on
the provider's order read back, right after the call and by the periodic reconcile
(operations_reconcile), and they are settled from what it shows.
"""
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..exceptions import PaymentError
from ..models import PaymentAttempt, PaymentOperation
from ..signals import refund_issued, send_on_commit
from ..states import Status, lock_order_then_attempt, record_event, transition
from .provider_orders import ProviderOrder, provider_order

Kind = PaymentOperation.Kind


def _settle(before: ProviderOrder, *, source, message, captured=0, refunded=0, cancelled=False, released=False,
            after: ProviderOrder | None = None):
    """After an action, make every payment on the provider order show what the provider says (`after`, or
    read back; our own arithmetic only when the provider cannot be read).

    Statuses: an authorization with money left to capture stays AUTHORIZED whatever was refunded
    meanwhile. It can still be captured, released or lapse, and the expiry filter and the dashboard's
    "expiring" figure count it (they look for AUTHORIZED); its captured and refunded amounts say what the
    shopper paid so far. REFUNDED is terminal, so it must never be reached while more can be captured.
    Once nothing is left to capture (all captured, or the rest released), the payment is CAPTURED, then
    PARTIALLY_REFUNDED or REFUNDED by what was refunded of what was captured, whichever action got it
    there: a capture of the rest after a refund, a release, or a refund."""
    after = after or provider_order(before.head)
    if not after.from_provider:
        remaining = 0 if (cancelled or released) else max(before.remaining - captured, 0)
        after = ProviderOrder(before.head, before.members, before.total, before.captured + captured,
                              before.refunded + refunded, remaining, False)
    head = before.head
    with transaction.atomic():
        # The order's row, then the attempt's, before anything is written: the order in which every path locks
        # them (payments.states). Written first, the amounts locked the attempt before the transitions below
        # locked the order, and a notification of this very operation, locking the order and then the attempt,
        # deadlocked with it (probe I I9).
        lock_order_then_attempt(head.pk)
        PaymentAttempt.objects.filter(pk=head.pk).update(captured_amount=after.captured,
                                                         refunded_amount=after.refunded, updated_at=timezone.now())
        record_event(head.pk, kind="note", source=source, message=message[:500])
        for member in before.members:
            member.refresh_from_db(fields=["status"])
            if cancelled and after.captured == 0:
                transition(member.pk, Status.CANCELLED, source=source, message=f"Provider order cancelled. {message}")
            elif after.remaining == 0 and after.captured > 0 and member.status == Status.AUTHORIZED:
                transition(member.pk, Status.CAPTURED, source=source, message=f"Provider order captured. {message}")
        if after.remaining == 0 and after.captured > 0 and after.refunded > 0:
            full = after.refunded >= after.captured
            transition(head.pk, Status.REFUNDED if full else Status.PARTIALLY_REFUNDED, source=source, message=message)
            if full:
                # All of the provider order was given back: the upsells on it too (probe E F4, probe F F11).
                # A partial refund is booked on the head alone: which line it was for is not known.
                for member in before.members:
                    if member.pk != head.pk and member.status == Status.CAPTURED:
                        transition(member.pk, Status.REFUNDED, source=source,
                                   message=f"Provider order refunded in full. {message}")
    return after


def _stop_withdrawn_subscriptions(attempt, *, source) -> None:
    """The order the cancelled checkout paid is withdrawn (no payment pays it any more): the subscriptions
    it started stop too, at the provider, or they would renew an order nobody paid for (probe E F1). A
    cancelled duplicate leaves its order paid by the other payment, and its subscriptions run on."""
    from ..models import Subscription
    from ..orders import OrderPaymentStatus, order_book
    from .subscription_actions import subscription_cancel

    if attempt.kind != PaymentAttempt.Kind.CHECKOUT:
        return
    running = list(Subscription.objects.filter(order_id=attempt.order_id).exclude(status=Subscription.Status.CANCELED))
    if not running or order_book().details(attempt.order_id).status != OrderPaymentStatus.CANCELLED:
        return
    for sub in running:
        try:
            subscription_cancel(subscription_id=sub.pk, reason="other", source=source,
                                message="The order that started it was cancelled by the shop")
        except PaymentError as exc:
            record_event(attempt.pk, kind="note", source=source,
                         message=f"Subscription {sub.provider_id} not stopped ({exc}): stop it from its page"[:500])


def provider_order_book(order: ProviderOrder, *, source, message) -> None:
    """Book a provider order as the provider reports it (`order`, read back), with no action of ours: a
    refund made at the provider that no notification brought (the duplicate to undo was given back there)."""
    _settle(order, source=source, message=message, after=order)


def operation_finish(order: ProviderOrder, op, answer, *, source, after: ProviderOrder | None = None):
    """What a done operation changes on our side, whether the provider answered (`answer`: its capture or
    refund id, the new expiry) or its order was read back later (`after`): books, statuses, the timeline,
    and for a refund the shopper's email (queued under the operation's key: once)."""
    amount, details, money = op.amount or 0, op.details or {}, order.money
    if op.kind == Kind.CAPTURE:
        tracking = details.get("tracking_number")
        _settle(order, source=source, captured=amount, after=after,
                message=f"Captured {money(amount)} (capture {answer or 'id not known'})"
                        + (f", tracking {tracking}" if tracking else ""))
    elif op.kind == Kind.REFUND:
        _settle(order, source=source, refunded=amount, after=after,
                message=f"Refunded {money(amount)} (refund {answer or 'id not known'}). "
                        f"{details.get('description', '')}".strip())
        send_on_commit(refund_issued, operation_id=op.pk, attempt_id=order.head.pk, amount=amount)
    elif op.kind == Kind.CANCEL:
        _settle(order, source=source, cancelled=True, after=after,
                message=f"Authorization of {money(order.remaining)} cancelled ({source})")
        _stop_withdrawn_subscriptions(order.head, source=source)
    elif op.kind == Kind.RELEASE:
        _settle(order, source=source, released=True, after=after,
                message=f"Released the uncaptured {money(order.remaining)}")
    else:
        _extended(order, op, answer, source=source)


def _extended(order: ProviderOrder, op, expires, *, source):
    """Klarna extends an authorization to today plus its period, not by a period: on the day it was placed
    (or last extended) the expiry does not move. Say so instead of claiming an extension; the operation's
    details keep whether it moved, for the merchant's message."""
    before = order.head.authorization_expires_at
    moved = expires is not None and (before is None or expires > before)
    PaymentOperation.objects.filter(pk=op.pk).update(details={**(op.details or {}), "moved": moved})
    op.details = {**(op.details or {}), "moved": moved}
    if expires is not None:
        PaymentAttempt.objects.filter(pk=order.head.pk).update(authorization_expires_at=expires,
                                                               updated_at=timezone.now())
    record_event(order.head.pk, kind="note", source=source,
                 message=f"Authorization extended until {expires}" if moved else
                 f"Authorization time not extended: the provider still ends it at {expires or before}")


def _effect_shown(op, order: ProviderOrder) -> bool | None:
    """Whether the provider's order read back shows the operation's effect, against its figures from
    before the call (our books' for an operation recorded before those were kept). None when it cannot
    tell: an extension shows only as a later expiry, and Klarna's does not move the expiry on the day the
    authorization was placed or last extended."""
    before = (op.details or {}).get("before") or {"captured": op.attempt.captured_amount,
                                                  "refunded": op.attempt.refunded_amount}
    amount = op.amount or 0
    if op.kind == Kind.EXTEND:
        expired_before = before.get("expires_at")
        if order.expires_at and expired_before and order.expires_at > datetime.fromisoformat(expired_before):
            return True
        return None
    # Operations of the same kind made on this payment after this one began (done, or as unknown as this
    # one) moved the provider's totals too: this one is shown only by what is left beyond theirs, never
    # credited with another's effect (probe E F3: a lost 2.00 refund was "done" by a later 3.00 one).
    later = sum(amount or 0 for amount in PaymentOperation.objects.filter(
        attempt_id=op.attempt_id, kind=op.kind, pk__gt=op.pk,
        result__in=[PaymentOperation.Result.DONE, PaymentOperation.Result.PENDING]).values_list("amount", flat=True)
        .order_by()) if op.kind in (Kind.CAPTURE, Kind.REFUND) else 0
    shown = {
        Kind.CAPTURE: order.captured >= before["captured"] + amount + later,
        Kind.REFUND: order.refunded >= before["refunded"] + amount + later,
        Kind.CANCEL: order.remaining == 0 and order.captured == 0,
        Kind.RELEASE: order.remaining == 0 and order.captured > 0,
    }
    return shown.get(op.kind)


def operation_settle(*, operation_id, source="reconcile", conclude=False) -> PaymentOperation:
    """Settle an operation whose answer was lost from the provider's order read back: DONE, with books,
    statuses and the refund email as for an answered one, when the order shows its effect; REFUSED ("the
    provider did not do it") when `conclude` (old enough that the provider cannot still be at it) and it
    does not; otherwise left PENDING (also when the provider cannot be read).

    Safe to run twice and to race (the admin request's read-back, the periodic reconcile): the move out
    of PENDING is one conditional UPDATE and only its winner applies the effect, so books are written and
    the email queued once."""
    op = PaymentOperation.objects.select_related("attempt").get(pk=operation_id)
    if op.result != PaymentOperation.Result.PENDING:
        return op
    order = provider_order(op.attempt)
    if not order.from_provider:
        return op
    shown = _effect_shown(op, order)
    pending = PaymentOperation.objects.filter(pk=op.pk, result=PaymentOperation.Result.PENDING)
    with transaction.atomic():  # the claim and its effect commit together
        if shown and pending.update(result=PaymentOperation.Result.DONE):
            # An extension's answer is the new expiry, which the order read back shows.
            operation_finish(order, op, order.expires_at if op.kind == Kind.EXTEND else "", source=source,
                             after=order)
        elif not shown and conclude and pending.update(result=PaymentOperation.Result.REFUSED, error=(
                "not done: the provider's order does not show it" if shown is False
                else "not confirmed: the provider's order cannot show it")):
            record_event(op.attempt_id, kind="note", source=source,
                         message=f"{op.get_kind_display()} whose answer was lost: the provider "
                                 f"{'did not do it' if shown is False else 'cannot confirm it'}; nothing changed")
    op.refresh_from_db()
    return op


def in_flight_for() -> timedelta:
    """How long an operation row without an answer counts as running: longer than its three provider calls
    (read, act, read back) can take with their retries, so a live request never loses its claim, and short
    enough that a crashed request's row becomes an unknown outcome (reused, below) soon."""
    call = settings.PROVIDER_CONNECT_TIMEOUT + settings.PROVIDER_READ_TIMEOUT
    return timedelta(seconds=3 * call * (settings.PROVIDER_MAX_RETRIES + 1))


def operations_reconcile(*, now=None, older_than=None, limit=200) -> int:
    """Settle operations whose provider answer was lost: PENDING with the error recorded, or PENDING past
    the time a live request could still be at the provider (in_flight_for: the request died, a worker was
    killed, and the money may have moved). From the provider's order read back: done or, once older than
    `older_than` seconds, not done. Returns how many were settled either way. Run by the periodic reconcile;
    safe to run twice (operation_settle)."""
    now = now or timezone.now()
    older_than = settings.PAYMENT_RECONCILE_AFTER if older_than is None else older_than
    lost = Q(error__gt="") | Q(created_at__lt=now - in_flight_for())
    unknown = (PaymentOperation.objects.filter(lost, result=PaymentOperation.Result.PENDING)
               .order_by("created_at").values_list("pk", "created_at")[:limit])
    settled = 0
    for pk, created_at in unknown:
        conclude = created_at <= now - timedelta(seconds=older_than)
        settled += operation_settle(operation_id=pk, conclude=conclude).result != PaymentOperation.Result.PENDING
    return settled


def provider_figures_book(order: ProviderOrder, *, source="provider") -> bool:
    """Book what the provider's order (`order`, as admin or the hourly sweep read it) shows beyond our books,
    done by the merchant in the provider's own dashboard and reported by no notification (Klarna Payments sends
    none for them: probe I I8, admin said "captured € 0.00" on the page whose confirmation read "€ 1.00
    captured"): a capture or refund, or an authorization ended there (cancelled before any capture, or the rest
    released after one) while we still show it held. Nothing while an operation of ours is under way on the
    order (that one books its own effect); never lowers the books (provider_order_book). Returns whether it
    booked."""
    head = order.head
    if not order.from_provider:
        return False
    # The provider's own status too, not only its remaining amount: a route that left `remaining` out would
    # otherwise read as an authorization ended.
    ended = head.status == Status.AUTHORIZED and order.remaining == 0 and (
        (order.captured > 0 and order.status == Status.CAPTURED) or (order.captured == 0 and order.status == Status.CANCELLED))
    if not ended and order.captured <= head.captured_amount and order.refunded <= head.refunded_amount:
        return False
    if PaymentOperation.objects.filter(attempt__order_id=head.order_id, result=PaymentOperation.Result.PENDING).exists():
        return False
    if ended and order.captured == 0:
        _settle(order, source=source, cancelled=True, after=order, message=(
            f"Authorization of {order.money(order.total)} cancelled at the provider (its dashboard), reported by no "
            "message"))
        _stop_withdrawn_subscriptions(head, source=source)
        return True
    provider_order_book(order, source=source, message=(
        f"Booked from the provider's order: {order.money(order.captured)} captured and {order.money(order.refunded)} "
        f"refunded in all{', nothing left authorized' if ended else ''}, done at the provider (its dashboard) and "
        "reported by no message"))
    return True
