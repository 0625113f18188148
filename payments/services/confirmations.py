"""One confirmation form, one action: the merchant's side of exactly-once money (DESIGN rule 5).

Every admin form that runs an action carries a fresh random key (`new_confirmation_key`). The service
the confirmed POST calls records that key before any provider call, under the row lock of what it acts
on: on the PaymentOperation (unique per payment attempt) or, for a subscription action, on the
SubscriptionEvent that records the confirmation (unique per subscription). The same form posted again
(a double click, a second tab holding the same page, one after the other or at the same moment) finds
that row and is told what the first submission did (AlreadyConfirmed); it calls no provider. Two
confirmation pages opened one after the other carry two keys and act twice, as the merchant meant.
"""
import re
import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone

from common.money import format_minor

from ..exceptions import AlreadyConfirmed
from ..models import PaymentOperation, Subscription, SubscriptionEvent

# What new_confirmation_key makes (token_urlsafe(18): 24 characters); anything else posted is no key.
_KEY = re.compile(r"[A-Za-z0-9_-]{24}")
SUBSCRIPTION_ACTIONS = {"renew": "Renew now", "retry": "Retry the past-due payment",
                        "cancel": "Cancel subscription", "reschedule": "Change next renewal date"}


def new_confirmation_key() -> str:
    return secrets.token_urlsafe(18)


def confirmation_key(value) -> str:
    """The posted value when it is a key we could have issued, else ''."""
    return value if isinstance(value, str) and _KEY.fullmatch(value) else ""


def _when(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S")


def operation_replayed(op: PaymentOperation) -> AlreadyConfirmed:
    """What the first submission of a form did, as the error its replay raises."""
    amount = "" if op.amount is None else f" of {format_minor(op.amount, op.attempt.currency)}"
    if op.result == PaymentOperation.Result.DONE:
        result = "done" + (f" ({op.provider_id})" if op.provider_id else "")
    elif op.result == PaymentOperation.Result.REFUSED:
        result = f"refused ({op.error})"
    else:
        result = (f"sent, the provider's answer is not known ({op.error})" if op.error else
                  "sent, waiting for the provider's answer (look at this payment again in a moment)")
    by = f" by {op.created_by}" if op.created_by else ""
    return AlreadyConfirmed(f"this form was already confirmed at {_when(op.created_at)}{by}: "
                            f"{op.get_kind_display().lower()}{amount}, {result}. Nothing was sent again.")


def operation_confirmed(*, attempt_id, key: str) -> None:
    """Raises AlreadyConfirmed when an operation on the attempt was already asked for with `key`.
    A read only: the services check again under the attempt's row lock (order_management._begin)."""
    op = (PaymentOperation.objects.select_related("attempt").filter(attempt_id=attempt_id, confirmation_key=key)
          .first() if key else None)
    if op is not None:
        raise operation_replayed(op)


def subscription_confirmed(*, subscription_id, key: str) -> None:
    """Raises AlreadyConfirmed, saying how the subscription stands now, when an action on it was already
    asked for with `key`."""
    event = (SubscriptionEvent.objects.filter(subscription_id=subscription_id, dedupe_key=_dedupe(key)).first()
             if key else None)
    if event is None:
        return
    sub = Subscription.objects.get(pk=subscription_id)
    now = f"the subscription is now {sub.get_status_display().lower()}"
    if sub.next_renewal_at:
        now += f", next renewal {_when(sub.next_renewal_at)}"
    last = sub.charges.filter(created_at__gte=event.created_at).order_by("-billing_cycle").first()
    if last is not None:
        now += f"; billing cycle {last.billing_cycle} {last.outcome.replace('_', ' ')}"
    label = SUBSCRIPTION_ACTIONS.get((event.payload or {}).get("action"), "the action")
    raise AlreadyConfirmed(f"this form was already confirmed at {_when(event.created_at)} ({label}): {now}. "
                           f"Nothing was sent again.")


def subscription_confirm(sub: Subscription, action: str, *, key: str, source: str, details: dict | None = None) -> None:
    """Record that the form with `key` asked for `action`, before any provider call. Call it holding
    the subscription's row lock, after subscription_confirmed: the unique (subscription, dedupe_key)
    constraint is the backstop should two submissions still meet. Raises AlreadyConfirmed then."""
    if not key:
        return
    try:
        with transaction.atomic():
            SubscriptionEvent.objects.create(subscription=sub, kind="confirmed", source=source,
                                             dedupe_key=_dedupe(key), payload={"action": action, **(details or {})},
                                             message=f"{SUBSCRIPTION_ACTIONS.get(action, action)} confirmed")
    except IntegrityError:
        subscription_confirmed(subscription_id=sub.pk, key=key)
        raise


def _dedupe(key: str) -> str:
    return f"confirmation:{key}"
