"""Emails to shoppers about their payments: one row per event, created before anything is sent.

payments announces events as signals (payments/signals.py) after they commit; the receivers here turn
each into an EmailNotification keyed on the event and queue `shop.tasks.send_email` for it (a batch of
events, such as a renewal chunk's receipts, becomes rows in one INSERT and one `send_emails` task that
sends them over one mail connection). A repeated event finds the existing row (unique key) and queues
nothing new, so each event mails once. Receivers
never raise into payments: a failure is logged and the periodic `send_pending_emails` task, which
re-sends rows still pending, finishes the work.
"""
import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import CharField, Exists, F, OuterRef, Value
from django.db.models.functions import Cast, Concat
from django.template.loader import render_to_string
from django.utils import timezone

from common.db import bulk_create_with_pks
from payments import signals
from payments.models import PaymentAttempt, Subscription

from .email_content import CONTENT, CONTENT_MANY
from .models import EmailNotification, Order

log = logging.getLogger(__name__)
Kind = EmailNotification.Kind
# How long one send may hold its row before another worker may take it over.
LEASE = timedelta(minutes=5)
# After this many failed sends a row is given up (state failed) and shown in admin.
MAX_TRIES = 8


def email_queue(*, key: str, kind: str, to: str, params: dict) -> EmailNotification | None:
    """Create the row for one event and queue its send after commit; None when the event was seen before.

    Idempotent on `key` (unique constraint): the second caller gets None and queues nothing.
    """
    if not to:
        log.warning("no address for %s, nothing sent", key)
        return None
    try:
        if transaction.get_connection().in_atomic_block:
            with transaction.atomic():  # a savepoint: a repeated key must not break the caller's transaction
                note = EmailNotification.objects.create(key=key, kind=kind, to=to, params=params)
        else:
            # Autocommit (receivers run after the payment committed): the INSERT is its own transaction
            # and a repeated key fails alone, so one statement is all it takes.
            note = EmailNotification.objects.create(key=key, kind=kind, to=to, params=params)
    except IntegrityError:
        return None
    from payments.services.dispatch import enqueue_on_commit

    from .tasks import send_email

    enqueue_on_commit(send_email, note.pk)
    return note


def emails_queue(rows: list[tuple[str, str, str, dict]]) -> list[EmailNotification]:
    """email_queue for many events at once, each (key, kind, to, params): the rows in one INSERT and one
    `send_emails` task for all of them after commit. When any key was seen before (a repeated event) the
    INSERT adds nothing and each row goes through email_queue instead, so each event still mails once."""
    for key, _, to, _ in rows:
        if not to:
            log.warning("no address for %s, nothing sent", key)
    rows = [row for row in rows if row[2]]
    if len(rows) > 1:
        try:
            with transaction.atomic():  # a savepoint inside a transaction: a repeated key must not break it
                notes = bulk_create_with_pks(EmailNotification, [
                    EmailNotification(key=key, kind=kind, to=to, params=params) for key, kind, to, params in rows],
                    unique="key")
        except IntegrityError:
            pass  # a key seen before: every row goes alone below
        else:
            from payments.services.dispatch import enqueue_on_commit

            from .tasks import send_emails

            enqueue_on_commit(send_emails, [note.pk for note in notes])
            return notes
    return [note for note in (email_queue(key=key, kind=kind, to=to, params=params)
                              for key, kind, to, params in rows) if note]


def email_send(*, notification_id) -> str:
    """Build and send one email through Django's email framework. Returns sent / busy / done.

    Takes a lease on the row first (a conditional UPDATE), so two workers never send the same email;
    marks it sent right after the SMTP server accepted it. Raises whatever the mail backend raises
    (SMTPException, OSError), after counting the try, so the task decides when to try again.
    """
    now = timezone.now()
    claimed = (EmailNotification.objects.filter(pk=notification_id, state=EmailNotification.State.PENDING)
               .exclude(claimed_until__gt=now).update(claimed_until=now + LEASE))
    if not claimed:
        state = EmailNotification.objects.filter(pk=notification_id).values_list("state", flat=True).first()
        return "busy" if state == EmailNotification.State.PENDING else "done"
    note = EmailNotification.objects.get(pk=notification_id)
    try:
        message = email_message(note)
        message.send()
    except Exception as exc:
        _failed_try(note, exc)
        raise
    EmailNotification.objects.filter(pk=note.pk).update(state=EmailNotification.State.SENT, sent_at=timezone.now(),
                                                         tries=note.tries + 1, last_error="", claimed_until=None)
    return "sent"


def emails_send(*, notification_ids) -> dict:
    """email_send for many rows over one connection to the mail server. Returns {"sent": [ids],
    "failed": {id: exception}}; rows another worker holds or has sent are in neither.

    Claims the rows still pending and not leased (SELECT … FOR UPDATE SKIP LOCKED, then one UPDATE of
    their lease, in one short transaction), so two workers never send the same email; marks the sent ones
    sent in one UPDATE, and counts the try of each failed one on its row as email_send does (it stays
    pending for a retry, or for send_pending_emails, until MAX_TRIES). Raises nothing the mail backend
    raises: the caller decides from "failed" what to try again.
    """
    now = timezone.now()
    with transaction.atomic():
        notes = list(EmailNotification.objects.select_for_update(skip_locked=True)
                     .filter(pk__in=notification_ids, state=EmailNotification.State.PENDING)
                     .exclude(claimed_until__gt=now).order_by("pk"))
        EmailNotification.objects.filter(pk__in=[note.pk for note in notes]).update(claimed_until=now + LEASE)
    sent, failed = [], {}
    if notes:
        contents = _contents(notes)
        try:
            with get_connection() as connection:
                for note in notes:
                    try:
                        message = email_message(note, contents.get(note.pk))
                        message.connection = connection
                        message.send()
                    except Exception as exc:  # noqa: BLE001 - recorded on the row; the caller decides
                        failed[note.pk] = exc
                    else:
                        sent.append(note.pk)
        except Exception as exc:  # noqa: BLE001 - the connection could not be opened (or closed)
            failed.update({note.pk: exc for note in notes if note.pk not in sent})
    if sent:
        EmailNotification.objects.filter(pk__in=sent).update(state=EmailNotification.State.SENT,
                                                             sent_at=timezone.now(), tries=F("tries") + 1,
                                                             last_error="", claimed_until=None)
    for note in notes:
        if note.pk in failed:
            _failed_try(note, failed[note.pk])
    return {"sent": sent, "failed": failed}


def _failed_try(note, exc) -> None:
    """Count a try that failed on the row and let go of its lease: pending again (for a retry, or for
    send_pending_emails) until MAX_TRIES, failed for good after."""
    tries = note.tries + 1
    EmailNotification.objects.filter(pk=note.pk).update(
        tries=tries, last_error=f"{type(exc).__name__}: {exc}"[:255], claimed_until=None,
        state=EmailNotification.State.FAILED if tries >= MAX_TRIES else EmailNotification.State.PENDING)


def _contents(notes) -> dict:
    """{row id: (subject, context)} for the rows whose kind can be read in bulk (CONTENT_MANY); a kind
    that fails to read is left to email_message, row by row."""
    contents = {}
    for kind, many in CONTENT_MANY.items():
        rows = [note for note in notes if note.kind == kind]
        if len(rows) > 1:
            try:
                contents.update((note.pk, content) for note, content in zip(rows, many([n.params for n in rows]),
                                                                             strict=True) if content)
            except Exception:  # noqa: BLE001 - e.g. params of an older shape: each row is read alone
                log.exception("could not read %s emails in bulk", kind)
    return contents


def email_message(note: EmailNotification, content=None) -> EmailMultiAlternatives:
    """The message for a row: subject, text and HTML rendered from the rows its params name, read now
    (or from `content`, (subject, context), when the caller read it for many rows at once)."""
    subject, context = content or CONTENT[note.kind](**note.params)
    context = {"shop_name": settings.SHOP_NAME, "shop_url": settings.SHOP_BASE_URL, "subject": subject, **context}
    text = render_to_string(f"emails/{note.kind}.txt", context)
    html = render_to_string(f"emails/{note.kind}.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, to=[note.to])
    message.attach_alternative(html, "text/html")
    return message


def emails_pending(*, older_than=timedelta(minutes=2)) -> list[int]:
    """Rows whose send did not happen (broker down, SMTP failing, eager mode without retries)."""
    cutoff = timezone.now() - older_than
    return list(EmailNotification.objects.filter(state=EmailNotification.State.PENDING, created_at__lte=cutoff)
                .exclude(claimed_until__gt=timezone.now()).values_list("pk", flat=True)[:200])


# --- signal receivers: event -> row -----------------------------------------------------------------

def _on_checkout_paid(sender, *, order_id, attempt_id, **_):
    # The shopper's return waits on nothing but the payment: the row is made by the worker.
    # `confirmations_missing` catches an order whose task never ran (broker down at that moment).
    from payments.services.dispatch import enqueue_on_commit

    from .tasks import queue_order_confirmation

    enqueue_on_commit(queue_order_confirmation, order_id)


def order_confirmation_queue(*, order_id) -> EmailNotification | None:
    email = Order.objects.filter(pk=order_id).values_list("email", flat=True).first()
    return email_queue(key=f"order-confirmation:{order_id}", kind=Kind.ORDER_CONFIRMATION, to=email,
                       params={"order_id": order_id})


def confirmations_missing(*, older_than=timedelta(minutes=2), within=timedelta(days=2)) -> list[int]:
    """Checkout orders paid recently whose confirmation row was never made (its task was lost)."""
    now = timezone.now()
    key = Concat(Value("order-confirmation:"), Cast(OuterRef("pk"), CharField()))
    return list(Order.objects.filter(renewal_of__isnull=True, paid_at__gte=now - within, paid_at__lte=now - older_than)
                .exclude(email="").filter(~Exists(EmailNotification.objects.filter(key=key)))
                .values_list("pk", flat=True)[:200])


def _on_upsell_added(sender, *, upsell_id, order_id, **_):
    email = Order.objects.filter(pk=order_id).values_list("email", flat=True).first()
    email_queue(key=f"upsell-added:{upsell_id}", kind=Kind.UPSELL_ADDED, to=email,
                params={"upsell_id": upsell_id})


def _on_renewal_paid(sender, *, charge_id, subscription_id, email=None, **_):
    if email is None:
        email = Subscription.objects.filter(pk=subscription_id).values_list("email", flat=True).first()
    email_queue(key=f"renewal-paid:{charge_id}", kind=Kind.RENEWAL_PAID, to=email, params={"charge_id": charge_id})


def _on_renewals_paid(sender, *, renewals, **_):
    emails_queue([(f"renewal-paid:{r['charge_id']}", Kind.RENEWAL_PAID, r["email"], {"charge_id": r["charge_id"]})
                  for r in renewals])


def _on_renewal_failed(sender, *, subscription_id, billing_cycle, failures, **_):
    email = Subscription.objects.filter(pk=subscription_id).values_list("email", flat=True).first()
    email_queue(key=f"renewal-failed:{subscription_id}:{billing_cycle}:{failures}", kind=Kind.RENEWAL_FAILED,
                to=email, params={"subscription_id": subscription_id, "billing_cycle": billing_cycle})


def _on_subscription_cancelled(sender, *, subscription_id, **_):
    email = Subscription.objects.filter(pk=subscription_id).values_list("email", flat=True).first()
    email_queue(key=f"subscription-cancelled:{subscription_id}", kind=Kind.SUBSCRIPTION_CANCELLED, to=email,
                params={"subscription_id": subscription_id})


def _on_refund_issued(sender, *, operation_id, attempt_id, amount, **_):
    email = PaymentAttempt.objects.filter(pk=attempt_id).values_list("order__email", flat=True).first()
    email_queue(key=f"refund:{operation_id}", kind=Kind.REFUND_ISSUED, to=email,
                params={"operation_id": operation_id})


def connect() -> None:
    """Called from ShopConfig.ready(); dispatch_uid keeps a second call from connecting twice."""
    for signal, receiver in ((signals.checkout_paid, _on_checkout_paid), (signals.upsell_added, _on_upsell_added),
                             (signals.renewal_paid, _on_renewal_paid), (signals.renewals_paid, _on_renewals_paid),
                             (signals.renewal_failed, _on_renewal_failed),
                             (signals.subscription_cancelled, _on_subscription_cancelled),
                             (signals.refund_issued, _on_refund_issued)):
        signal.connect(receiver, dispatch_uid=f"shop.emails.{receiver.__name__}")

