"""The shopper's browser coming back from the provider (for 29 Next: an unsigned form POST)."""
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core import signing

from ..exceptions import InvalidReturn, ProviderRequestError, ProviderUnavailable, ReturnMismatch
from ..models import PaymentAttempt
from ..providers.registry import get_adapter
from ..states import SUCCESSFUL, Status, record_event, transition
from .payment_confirm import payment_confirm
from .payment_start import RETURN_SALT, checkout_request

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReturnOutcome:
    attempt: PaymentAttempt
    paid: bool
    confirming: bool = False  # the provider could not be asked yet; webhook/reconcile will settle it


def attempt_from_token(*, route: str, token: str) -> PaymentAttempt:
    """The attempt a signed return token was made for. Raises InvalidReturn for anything else."""
    if not token:
        raise InvalidReturn("the return URL carries no token")
    try:
        reference = signing.loads(token, salt=f"{RETURN_SALT}.{route}",
                                  max_age=settings.PAYMENT_RETURN_MAX_AGE)
    except signing.SignatureExpired:
        raise InvalidReturn("the return link has expired") from None
    except signing.BadSignature:
        raise InvalidReturn("the return link is not valid") from None
    try:
        return PaymentAttempt.objects.select_related("order").get(reference=reference, route=route)
    except PaymentAttempt.DoesNotExist:
        raise InvalidReturn("the return link names no payment") from None


def return_handle(*, route: str, token: str, data) -> ReturnOutcome:
    """Apply a return: `{}` fails the attempt; anything else is confirmed with the provider first.

    Raises InvalidReturn (bad token or body) and ReturnMismatch (the provider's order is not ours);
    neither marks anything paid. Safe to replay: transitions are idempotent, and a late `{}` cannot
    undo a payment the provider confirmed (the state machine forbids captured → failed).
    """
    attempt = attempt_from_token(route=route, token=token)
    adapter = get_adapter(route)
    try:
        returned = adapter.parse_return(data)
    except InvalidReturn as exc:
        record_event(attempt.pk, kind="rejected", source="return", message=str(exc))
        raise
    if not returned.succeeded:
        result = transition(attempt.pk, Status.FAILED, source="return",
                            message="Provider returned the shopper with no order (declined or cancelled)",
                            failure_reason="Declined or cancelled at the provider")
        return ReturnOutcome(result.attempt, paid=result.attempt.status in SUCCESSFUL)
    try:
        payment = adapter.confirm_return(returned, checkout_request(attempt.order, attempt))
    except ProviderUnavailable as exc:
        log.warning("return %s: cannot confirm %s yet: %s", attempt.reference,
                    returned.provider_reference, exc)
        record_event(attempt.pk, kind="note", source="return",
                     message=f"Shopper returned with order {returned.provider_reference}; "
                             f"provider unavailable, confirmation deferred ({exc})")
        attempt.refresh_from_db()
        return ReturnOutcome(attempt, paid=attempt.status in SUCCESSFUL, confirming=True)
    except (ProviderRequestError, InvalidReturn) as exc:
        # The browser named a payment the provider does not have or refuses (a forgery, a mix-up, an
        # expired or reused authorization): never a payment. Anything it held is released.
        message = f"Return named {returned.provider_reference[:40]}, which the provider refused: {exc}"
        record_event(attempt.pk, kind="rejected", source="return", message=message[:500])
        adapter.release_return(returned)
        raise ReturnMismatch(message) from exc
    payment_confirm(attempt_id=attempt.pk, payment=payment, source="return")
    attempt.refresh_from_db()
    return ReturnOutcome(attempt, paid=attempt.status in SUCCESSFUL,
                         confirming=attempt.status in (Status.CREATED, Status.PENDING))
