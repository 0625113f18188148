"""Celery tasks of the shop: ids in, one call to shop.emails, safe to run twice (DESIGN rule 8).

Sending mail fails in ways that pass (SMTP server busy, connection refused): those are retried with
bounded exponential backoff. In eager mode (a laptop without a broker) a failure is recorded on the row
and left for the periodic `send_pending_emails`, so a shopper's request never fails because mail did.
"""
import logging
import smtplib

from celery import shared_task

log = logging.getLogger(__name__)
MAX_RETRIES = 6
# What a mail server or its network does when it is briefly unavailable.
TRANSIENT = (smtplib.SMTPException, OSError)
# Batch mail waits behind money: on the Redis broker a worker takes a message of priority 0 (every other
# task) before one of 9, so a burst of renewals is charged first and the receipts of its chunks (send_emails)
# follow, instead of taking CPU from the charges still waiting on the provider. One-off emails (an order
# confirmation, a refund) keep the default priority: a shopper who just paid is not kept waiting by a burst.
# (Redis serves the lowest number first; RabbitMQ the highest: on another broker this would need turning round.)
BATCH_MAIL_PRIORITY = 9


def _backoff(retries: int) -> int:
    return min(900, 30 * 2 ** retries)


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def send_email(self, notification_id):
    """Send one EmailNotification; the row's lease and state make a second run a no-op."""
    from .emails import email_send

    try:
        return email_send(notification_id=notification_id)
    except TRANSIENT as exc:
        if self.request.is_eager:
            log.warning("email %s not sent (%s); send_pending_emails will try again", notification_id, exc)
            return "pending"
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc
    except Exception:  # noqa: BLE001 - a broken template or a deleted row: recorded on the row, not retried
        log.exception("email %s could not be built or sent", notification_id)
        return "error"


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES, priority=BATCH_MAIL_PRIORITY)
def send_emails(self, notification_ids):
    """Send many EmailNotifications over one mail-server connection (the renewal batch's receipts); the
    rows' leases and states make a second run a no-op. Those that failed for a passing reason are tried
    again, alone in this task's retry; a broken one stays pending for send_pending_emails."""
    from .emails import emails_send

    result = emails_send(notification_ids=notification_ids)
    for pk, exc in result["failed"].items():
        log.warning("email %s not sent: %r", pk, exc)
    again = [pk for pk, exc in result["failed"].items() if isinstance(exc, TRANSIENT)]
    if again and not self.request.is_eager:
        raise self.retry(args=[again], countdown=_backoff(self.request.retries))
    return len(result["sent"])


@shared_task(acks_late=True)
def queue_order_confirmation(order_id):
    """Make the order-confirmation row for a paid checkout and queue its send (once per order)."""
    from .emails import order_confirmation_queue

    return "queued" if order_confirmation_queue(order_id=order_id) else "seen"


@shared_task(acks_late=True)
def send_pending_emails():
    """Fan out: one send per email left pending (broker was down, SMTP failed past its retries), after
    making the confirmations whose task was lost."""
    from .emails import confirmations_missing, emails_pending, order_confirmation_queue

    for order_id in confirmations_missing():
        order_confirmation_queue(order_id=order_id)
    ids = emails_pending()
    for pk in ids:
        send_email.delay(pk)
    return len(ids)
