"""Celery tasks: ids in, one service call, safe to run twice (DESIGN rule 8)."""
from celery import shared_task

from .services.reconcile import payments_reconcile
from .services.webhooks import webhook_apply


@shared_task(acks_late=True)
def reconcile_stuck_payments():
    report = payments_reconcile()
    return {"checked": report.checked, "settled": report.settled, "expired": report.expired}


@shared_task(acks_late=True)
def reapply_webhook(delivery_id):
    return webhook_apply(delivery_id=delivery_id)
