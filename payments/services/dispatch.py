"""Queueing tasks after commit without ever failing the request that queued them.

The row a task works on is committed first (DESIGN rule 8), so a broker that is down when we queue
loses nothing: the periodic reconcile tasks find the row and finish the work. The shopper's request
must not turn into an error page because Redis blinked.
"""
import logging

from django.db import transaction

log = logging.getLogger(__name__)


def enqueue_on_commit(task, *args):
    def send():
        try:
            task.delay(*args)
        except Exception:  # noqa: BLE001 - any broker failure; reconcile picks the work up
            log.exception("could not queue %s%r; the reconcile task will pick it up", task.name, args)

    transaction.on_commit(send)
