"""The payments' state machine. Nothing else assigns PaymentAttempt.status or Order.status (the
subscriptions' is payments.subscription_states).

transition() locks the attempt row (select_for_update, or the conditional UPDATE of a compare-and-set),
checks TRANSITIONS, writes a PaymentEvent and saves, all in one database transaction. Re-applying the
same provider event (same dedupe_key) or asking for the status the attempt already has is a no-op, which
is what makes return POSTs, webhooks and reconcile safe to repeat and to race each other. The statuses and
their transition tables are defined in payments/statuses.py; this module is the one that applies them.
"""
from dataclasses import dataclass, replace

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from common.db import per_row

from .statuses import (  # the tables these functions apply, importable from here as ever
    IN_BETWEEN,
    SUCCESSFUL,
    TRANSITIONS,
    InvalidTransition,
    S,
    Status,
    Success,
    TransitionResult,
)


def transition(attempt, to_status, *, source, dedupe_key=None, message="", payload=None,
               provider_reference=None, failure_reason=None, strict=False, fields=None) -> TransitionResult:
    """Move `attempt` (a PaymentAttempt, or its id) to `to_status`, recording why.

    The row is locked for the whole change. Given an id, transition() locks it with select_for_update and
    decides on what it reads. Given an instance the caller has just read, it first tries one conditional
    UPDATE on the status the instance shows (compare-and-set: the UPDATE takes the row lock and proves
    nobody moved the attempt since); when somebody did, it falls back to the locked read. Either way the
    change, its PaymentEvent and the order's status commit together.

    Idempotent: a dedupe_key already recorded for this attempt (a unique constraint), or a transition to
    the current status, changes nothing. A transition the table forbids is recorded as an IGNORED event
    (the merchant sees it in the timeline) and returns changed=False, or raises InvalidTransition when
    strict. `fields` (attempt columns, e.g. where the shopper is sent) are saved with the change, in the
    same statement.
    """
    from .models import PaymentAttempt

    to_status = Status(to_status)
    change = _Change(to_status, source, dedupe_key, message, payload, provider_reference, failure_reason,
                     strict, fields or {})
    if isinstance(attempt, PaymentAttempt):
        done = _compare_and_set(attempt, change)
        if done is not None:
            return done
        attempt = attempt.pk
    with transaction.atomic():
        return _locked(*_lock_both(attempt), change)


# Lock order: an order's row before any of its attempts' rows, everywhere (payment_start, approvals,
# inbound, order management and this module), so two requests about one order wait for each other instead
# of deadlocking (probe G F5: PostgreSQL aborted one with a 500). A move between waiting statuses touches
# only the attempt and needs no order lock.
def lock_order_then_attempt(attempt_id):
    """The attempt, read under its row lock, taken after its order's (two statements)."""
    return _lock_both(attempt_id)[0]


def _lock_both(attempt_id):
    """(the attempt locked, its order's status as locked): the order found through the attempt in the same
    statement that locks it, so the locked path reads the order once."""
    from .models import PaymentAttempt
    from .orders import order_book

    order_status = order_book().lock_status_of_attempt(attempt_id)
    return PaymentAttempt.objects.select_for_update().get(pk=attempt_id), order_status


@dataclass(frozen=True)
class _Change:
    to_status: Status
    source: str
    dedupe_key: str | None
    message: str
    payload: object
    provider_reference: str | None
    failure_reason: str | None
    strict: bool
    fields: dict

    def columns(self, attempt) -> dict:
        """The attempt's columns this change writes, besides status and updated_at."""
        values = dict(self.fields)
        if self.failure_reason is not None:
            values["failure_reason"] = self.failure_reason[:255]
        elif self.to_status in SUCCESSFUL and "failure_reason" not in attempt.get_deferred_fields() \
                and attempt.failure_reason:
            # A late success (paid after being declined or replaced): the old reason no longer holds. (A
            # batch that read its attempts without the column has none to clear: reading it costs a query.)
            values["failure_reason"] = ""
        if self.provider_reference and not attempt.provider_reference:
            values["provider_reference"] = self.provider_reference
        return values


def _compare_and_set(attempt, change: _Change) -> TransitionResult | None:
    """The change as one UPDATE … WHERE status = <what the caller read>, plus its event and the order's
    status; None when the attempt is not where the caller saw it (or the move needs the locked path)."""
    from .models import PaymentAttempt, PaymentEvent

    current = Status(attempt.status)
    if change.to_status == current or change.to_status not in TRANSITIONS[current]:
        return None  # nothing to write, or an ignored move to record: the locked path says which
    values = change.columns(attempt)
    condition = {"pk": attempt.pk, "status": current}
    if "provider_reference" in values:
        condition["provider_reference"] = ""  # set once: never overwrite a reference set meanwhile
    now = timezone.now()
    try:
        # A savepoint only where a repeated dedupe key is an answer to catch; without a key any
        # IntegrityError is re-raised below anyway, so the caller's transaction need not survive it.
        with transaction.atomic(savepoint=change.dedupe_key is not None):
            before = _order_before(attempt, current, change.to_status)
            if not PaymentAttempt.objects.filter(**condition).update(status=change.to_status, updated_at=now,
                                                                     **values):
                # Moved meanwhile: decided on the row read under its lock, in this same transaction.
                return _after_a_lost_race(attempt, change, before)
            for name, value in values.items():
                setattr(attempt, name, value)
            attempt.status, attempt.updated_at = change.to_status, now
            _record(attempt, PaymentEvent.Kind.TRANSITION, change.source, current, change.to_status, change.message,
                    change.dedupe_key, change.payload)
            paid_now = _order_after(attempt, current, before)
    except IntegrityError:
        # The event's dedupe key was recorded before: the whole change rolled back.
        fresh = PaymentAttempt.objects.get(pk=attempt.pk)
        if not change.dedupe_key or not fresh.events.filter(dedupe_key=change.dedupe_key).exists():
            raise
        return TransitionResult(fresh, False, "already applied")
    return TransitionResult(attempt, True, order_paid_now=paid_now)


def _after_a_lost_race(attempt, change: _Change, before) -> TransitionResult:
    """The compare-and-set found the attempt moved since it was read: the locked path decides. The order
    may have been marked paid just before (its UPDATE checks the attempt's status as of its snapshot, which
    PostgreSQL does not read again after waiting for the order's lock). If this attempt then succeeds, that
    marking was its own; if not (a cancel got there first), the order's status is derived again from its
    attempts, so an order is never left paid with no payment (review of stop 28)."""
    result = _locked(*_lock_both(attempt.pk), change)
    if not before.paid_now:
        return result
    if result.changed and result.attempt.status in SUCCESSFUL:
        return replace(result, order_paid_now=True)
    _order_after(result.attempt, result.attempt.status, _OrderSide(locked_status=_paid()))
    return result


def _paid():
    from .orders import OrderPaymentStatus

    return OrderPaymentStatus.PAID


def _locked(attempt, order_status, change: _Change) -> TransitionResult:
    """The change decided on the attempt read under select_for_update, in the caller's transaction."""
    from .models import PaymentEvent

    if change.dedupe_key and attempt.events.filter(dedupe_key=change.dedupe_key).exists():
        return TransitionResult(attempt, False, "already applied")
    current, to_status = Status(attempt.status), change.to_status
    values = change.columns(attempt)  # on the row as read: the provider reference is set only once
    if to_status == current:
        if "provider_reference" in values:
            attempt.provider_reference = values["provider_reference"]
            attempt.save(update_fields=["provider_reference", "updated_at"])
        return TransitionResult(attempt, False, "already in that status")
    if to_status not in TRANSITIONS[current]:
        reason = f"{current} → {to_status} is not allowed"
        if change.strict:
            raise InvalidTransition(reason)
        _record(attempt, PaymentEvent.Kind.IGNORED, change.source, current, to_status,
                f"{reason}. {change.message}".strip(), change.dedupe_key, change.payload)
        return TransitionResult(attempt, False, reason)
    before = _order_before(attempt, current, to_status, order_status=order_status)
    for name, value in values.items():
        setattr(attempt, name, value)
    attempt.status = to_status
    attempt.save(update_fields=["status", "updated_at", *values])
    _record(attempt, PaymentEvent.Kind.TRANSITION, change.source, current, to_status, change.message,
            change.dedupe_key, change.payload)
    return TransitionResult(attempt, True, order_paid_now=_order_after(attempt, current, before))


def record_new_event(attempt, *, kind, source, message="", payload=None):
    """The first events of an attempt created in the caller's transaction: no one else can see the row
    yet, so there is nothing to lock and no key to dedupe."""
    _record(attempt, kind, source, attempt.status, attempt.status, message, None, payload)


def record_event(attempt_id, *, kind, source, message="", payload=None, dedupe_key=None):
    """Append a non-transition event (a note, a rejected forgery) to an attempt's timeline.

    Returns False when an event with the same dedupe_key already exists.
    """
    from .models import PaymentAttempt

    with transaction.atomic():
        attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt_id)
        try:
            with transaction.atomic():
                _record(attempt, kind, source, attempt.status, attempt.status, message, dedupe_key,
                        payload)
        except IntegrityError:
            return False
    return True


def _record(attempt, kind, source, from_status, to_status, message, dedupe_key, payload):
    from .models import PaymentEvent

    PaymentEvent.objects.create(
        attempt=attempt, kind=kind, source=source, from_status=from_status, to_status=to_status,
        message=(message or "")[:500], dedupe_key=dedupe_key, payload=payload,
    )


@dataclass(frozen=True)
class _OrderSide:
    """What _order_before did to the order: marked it paid (`paid_now`: it was not paid before), locked it
    (`locked_status`: its status as locked, for _order_after to derive the new one), or nothing."""

    paid_now: bool = False
    locked_status: object = None


def _order_before(attempt, from_status, to_status, *, order_status=None) -> _OrderSide:
    """The order's part of a move, taken before the attempt's row is written (the lock order above).

    Every decision is taken under the order's row lock (through the shop's OrderBook), so two attempts
    finishing at once cannot both decide the order's fate from a stale view:
    - a success makes the order paid whatever its other attempts say, in one conditional UPDATE that takes
      the lock, tells whether the order was paid before, and applies only while the attempt still stands
      where it was read (else the compare-and-set fails too and the locked path decides);
    - a move between waiting statuses (created → pending) changes nothing: starting the attempt already
      made its order wait for it (OrderBook.payment_started), and a paid order stays paid;
    - anything else (failed, cancelled, expired) locks the order; _order_after looks at all its attempts.
    A success never makes a cancelled order paid (OrderBook.mark_paid): once withdrawn, a payment that still
    arrives (an old provider page) is undone by payment_confirm.
    """
    from .orders import order_book

    if to_status in SUCCESSFUL:
        return _OrderSide(paid_now=order_book().mark_paid(attempt.order_id, while_attempt=(attempt.pk, from_status)))
    if to_status in IN_BETWEEN and from_status in IN_BETWEEN:
        return _OrderSide()
    # `order_status`: the locked path read it under the lock it already holds; not read twice.
    return _OrderSide(locked_status=order_status if order_status is not None
                      else order_book().lock_status(attempt.order_id))


def _order_after(attempt, from_status, before: _OrderSide) -> bool:
    from .models import PaymentAttempt
    from .orders import OrderPaymentStatus, order_book

    if before.locked_status is None:
        return before.paid_now
    current = before.locked_status
    statuses = set(PaymentAttempt.objects.filter(order_id=attempt.order_id).values_list("status", flat=True))
    withdrawn = current == OrderPaymentStatus.CANCELLED or (attempt.status == S.CANCELLED and from_status in SUCCESSFUL)
    if statuses & SUCCESSFUL:
        new = OrderPaymentStatus.PAID
    elif withdrawn or statuses == {S.CANCELLED}:
        # Every try cancelled, or the payment that paid it cancelled (the merchant withdrew the order), whatever
        # other tries failed or are still open: withdrawn stays withdrawn, so no retry, open try or old page
        # can pay it (probe G F8; a try still open then is refused or undone: approvals, checkout_withdrawn_settle).
        new = OrderPaymentStatus.CANCELLED
    elif statuses & IN_BETWEEN:
        new = OrderPaymentStatus.PENDING
    else:
        new = OrderPaymentStatus.PAYMENT_FAILED
    if new != current:
        order_book().set_payment_status(attempt.order_id, new)
    return False


# --- Batches ------------------------------------------------------------------------------------------
# The shop-run renewal batch records many successes at once: a fixed handful of statements per batch
# instead of a handful per charge, with the same guarantees as transition() and subscription_renewed().


def transitions_succeeded(successes: list[Success], *, source) -> list[Success]:
    """Record many provider-confirmed successes; returns those that changed their attempt (in order).

    In the caller's transaction: locks the orders, then the attempts (SELECT … FOR UPDATE, in pk order so two
    batches holding the same rows never deadlock), then only those still in the status the caller read move,
    in one UPDATE, with their PaymentEvents in one INSERT and their orders marked paid in one UPDATE. An
    attempt somebody moved meanwhile (a duplicate task, the reconcile) goes through transition()'s locked
    path, which decides exactly as it does for one attempt: nothing twice. A single success is
    transition()'s compare-and-set (one UPDATE instead of a lock and an UPDATE).
    """
    from .models import PaymentAttempt, PaymentEvent
    from .orders import order_book

    for success in successes:
        if success.to_status not in SUCCESSFUL:
            raise ValueError(f"{success.to_status} is not a success")
    if len(successes) <= 1:
        return [s for s in successes if _one(s, source).changed]
    # No savepoint (two statements fewer): nothing here catches an error and carries on, so an error
    # rolls back the caller's whole transaction, as it should.
    with transaction.atomic(savepoint=False):
        # The orders first, then the attempts, as every single transition locks them (lock_order_then_attempt):
        # the batch and a duplicate task, the reconcile or a merchant's cancel wait for each other, never deadlock.
        order_book().lock_many([s.attempt.order_id for s in successes])
        current = {pk: (status, reference) for pk, status, reference in PaymentAttempt.objects.select_for_update()
                   .filter(pk__in=[s.attempt.pk for s in successes]).order_by("pk")
                   .values_list("pk", "status", "provider_reference")}
        fast, slow = [], []
        for success in successes:
            read = Status(success.attempt.status)
            status, _ = current.get(success.attempt.pk, (None, None))
            ok = status == read and success.to_status != read and success.to_status in TRANSITIONS[read]
            (fast if ok else slow).append(success)
        if fast:
            now = timezone.now()
            # The provider reference is set once: never overwrite one set meanwhile (as _compare_and_set).
            references = {s.attempt.pk: s.provider_reference for s in fast
                          if s.provider_reference and not current[s.attempt.pk][1]}
            columns = {"status": per_row([(s.attempt.pk, s.to_status) for s in fast], models.CharField())}
            if references:
                columns["provider_reference"] = per_row(list(references.items()), models.CharField(),
                                                         default=models.F("provider_reference"))
            expiries = [(s.attempt.pk, s.authorization_expires_at) for s in fast if s.authorization_expires_at]
            if expiries and len(expiries) == len(fast):
                # One value for the batch, the earliest (they differ by the milliseconds between the provider's
                # answers): a CASE per row costs the ORM about a millisecond a row to build.
                columns["authorization_expires_at"] = min(expiry for _, expiry in expiries)
            elif expiries:  # in the same UPDATE either way: no statement more
                columns["authorization_expires_at"] = per_row(expiries, models.DateTimeField(),
                                                               default=models.F("authorization_expires_at"))
            PaymentAttempt.objects.filter(pk__in=[s.attempt.pk for s in fast]).update(updated_at=now, **columns)
            events = []
            for success in fast:
                attempt, read = success.attempt, Status(success.attempt.status)
                if attempt.pk in references:
                    attempt.provider_reference = references[attempt.pk]
                attempt.status, attempt.updated_at = success.to_status, now
                events.append(PaymentEvent(attempt=attempt, kind=PaymentEvent.Kind.TRANSITION, source=source,
                                           from_status=read, to_status=success.to_status,
                                           message=(success.message or "")[:500], payload=success.payload))
            PaymentEvent.objects.bulk_create(events)
            order_book().mark_paid_many(sorted({s.attempt.order_id for s in fast}))
        moved = {id(s) for s in fast} | {id(s) for s in slow if _one(s, source, locked=True).changed}
    return [s for s in successes if id(s) in moved]


def _one(success: Success, source, *, locked=False) -> TransitionResult:
    expiry = success.authorization_expires_at
    return transition(success.attempt.pk if locked else success.attempt, success.to_status, source=source,
                      provider_reference=success.provider_reference, payload=success.payload,
                      message=success.message, fields={"authorization_expires_at": expiry} if expiry else None)
