"""Re-reading attempts stuck in between (shopper never came back, webhook never arrived), and attempts
replaced by a newer checkout whose old provider page may still be paid."""
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from ..exceptions import InvalidReturn, PaymentDeclined, ProviderError, ProviderRequestError, ReturnMismatch
from ..models import PaymentAttempt
from ..providers.registry import get_adapter
from ..providers.types import APPROVED
from ..states import IN_BETWEEN, SUCCESSFUL, Status, transition
from .approvals import payment_settle
from .operation_outcomes import operations_reconcile
from .payment_confirm import APPLICABLE
from .payment_start import REPLACED, payment_send, route_can
from .renewal_voids import renewal_voids_retry

log = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    checked: int = 0
    settled: int = 0
    expired: int = 0
    waiting: int = 0
    unavailable: int = 0
    rejected: int = 0
    duplicates: int = 0
    voided: int = 0  # renewals charged while their subscriber cancelled, undone now
    operations: int = 0  # merchant operations whose lost answer was settled from the provider's order
    details: list[str] = field(default_factory=list)


def payments_reconcile(*, now=None, older_than=None, limit=500) -> ReconcileReport:
    """Ask the provider about every in-between attempt older than `older_than` seconds, and about the
    attempts replaced by a newer checkout within PAYMENT_EXPIRE_AFTER (their provider page may still be
    paid in an old tab, and its webhook may never come).

    Each attempt is settled through payment_settle (same checks, same state machine as a return; a
    replaced attempt found paid pays its order, or is undone as a duplicate when another payment paid it),
    an in-between one expired when the provider has nothing for it after PAYMENT_EXPIRE_AFTER, or left
    waiting. Then the merchant operations whose provider answer was lost are settled from the provider's
    order. Bounded: at most `limit` attempts of each kind per run, oldest first. Safe to run concurrently
    with returns and webhooks and to run twice: transitions are idempotent.
    """
    now = now or timezone.now()
    older_than = settings.PAYMENT_RECONCILE_AFTER if older_than is None else older_than
    due = now - timedelta(seconds=older_than)
    report = ReconcileReport()
    stuck = PaymentAttempt.objects.filter(status__in=IN_BETWEEN, created_at__lte=due).order_by("created_at")[:limit]
    for attempt in stuck:
        if attempt.status == Status.CREATED and route_can(attempt.route, "start_replays") \
                and attempt.created_at > now - timedelta(seconds=settings.PAYMENT_EXPIRE_AFTER):
            _resend(attempt, report)
            continue
        payment = _read(attempt, report)
        if payment is _UNREAD:
            continue
        if payment is None:
            if attempt.created_at <= now - timedelta(seconds=settings.PAYMENT_EXPIRE_AFTER):
                transition(attempt.pk, Status.EXPIRED, source="reconcile",
                           message="The provider has no payment for this attempt; given up",
                           failure_reason="Abandoned at the provider")
                report.expired += 1
            else:
                report.waiting += 1
            continue
        _settle(attempt, payment, report)
    replaced = (PaymentAttempt.objects.filter(
        kind=PaymentAttempt.Kind.CHECKOUT, status=Status.EXPIRED, failure_reason=REPLACED, created_at__lte=due,
        created_at__gt=now - timedelta(seconds=settings.PAYMENT_EXPIRE_AFTER)).order_by("created_at")[:limit])
    for attempt in replaced:
        payment = _read(attempt, report)
        if payment is _UNREAD:
            continue
        if payment is None or not _taken(payment):
            # Unpaid (or closed) at the provider: nothing to record, so the timeline is not filled with it.
            report.waiting += 1
            continue
        _settle(attempt, payment, report)
    report.duplicates = _undo_duplicates()
    report.voided = renewal_voids_retry()
    report.operations = operations_reconcile(now=now)
    log.info("reconcile: %s", report)
    return report


_UNREAD = object()


def _read(attempt, report):
    """The provider's payment for `attempt`, None when it has none, or _UNREAD when it could not be asked."""
    report.checked += 1
    adapter = get_adapter(attempt.route)
    try:
        if attempt.provider_reference:
            return adapter.fetch_payment(attempt.provider_reference)
        return adapter.find_payment(attempt.reference, since=attempt.created_at, session=attempt.provider_session)
    except (ProviderError, InvalidReturn) as exc:
        report.unavailable += 1
        report.details.append(f"{attempt.reference}: provider error {exc}")
        return _UNREAD


def _resend(attempt, report) -> None:
    """A start whose answer was lost (payment_send's StartAnswerLost): sent again under the same key, the
    provider replays its first answer (an approval is recorded, a step-up waits for a shopper who is gone
    and expires, a decline fails the attempt)."""
    report.checked += 1
    try:
        payment_send(attempt, source="reconcile")
    except PaymentDeclined:
        report.settled += 1
    except (ProviderError, InvalidReturn) as exc:
        report.unavailable += 1
        report.details.append(f"{attempt.reference}: start still unanswered: {exc}")
    else:
        report.settled += 1


def _taken(payment) -> bool:
    """The shopper paid (or approved) this payment at the provider."""
    return payment.status == APPROVED or APPLICABLE.get(payment.status) in SUCCESSFUL


def _settle(attempt, payment, report) -> None:
    try:
        result = payment_settle(attempt=attempt, payment=payment, source="reconcile")
    except (ProviderError, InvalidReturn) as exc:  # finishing an approved payment asks the provider
        if _finish_refused(exc) and attempt.status in IN_BETWEEN:
            # The provider will never finish this approval (expired, used up, not what was approved):
            # asking again every run changes nothing, and the shopper has to approve again.
            transition(attempt.pk, Status.FAILED, source="reconcile",
                       message=f"The provider refused to finish the approval: {exc}"[:500],
                       failure_reason="The approval could not be used")
            report.rejected += 1
            report.details.append(f"{attempt.reference}: approval refused: {exc}")
            return
        report.unavailable += 1
        report.details.append(f"{attempt.reference}: provider error {exc}")
        return
    except ReturnMismatch as exc:
        report.rejected += 1
        report.details.append(f"{attempt.reference}: {exc}")
        return
    if result is not None and result.changed:
        report.settled += 1
    else:
        report.waiting += 1


def _finish_refused(exc) -> bool:
    """A 4xx to the finishing call that is about the approval, not about the shop's credentials (401)."""
    return isinstance(exc, ProviderRequestError) and exc.http_status != 401


def _undo_duplicates() -> int:
    """Duplicate payments whose undo failed earlier (provider down) are tried again."""
    from .duplicates import PAYING, checkout_duplicate_settle, checkout_withdrawn_settle

    pending = PaymentAttempt.objects.filter(duplicate_of__isnull=False, status__in=PAYING).values_list("pk", flat=True)
    return sum(checkout_withdrawn_settle(attempt_id=pk) or checkout_duplicate_settle(attempt_id=pk) for pk in pending)
