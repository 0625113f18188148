from django.core.management.base import BaseCommand

from payments.services.reconcile import payments_reconcile
from payments.services.subscription_actions import subscriptions_reconcile
from payments.services.upsells import upsells_reconcile


class Command(BaseCommand):
    help = ("Re-read from the providers what is stuck in between: payment attempts, upsell charges with an "
            "unknown outcome, and subscriptions (what beat does every few minutes when a broker is configured).")

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, default=None,
                            help="Only payment attempts older than this many seconds (default: setting)")

    def handle(self, *args, older_than=None, **options):
        report = payments_reconcile(older_than=older_than)
        self.stdout.write(
            f"payments: checked {report.checked}, settled {report.settled}, expired {report.expired}, "
            f"waiting {report.waiting}, provider unavailable {report.unavailable}, rejected {report.rejected}"
        )
        for line in report.details:
            self.stdout.write(f"  {line}")
        self.stdout.write(f"upsells settled: {upsells_reconcile(older_than=older_than or 0)}")
        self.stdout.write(f"subscriptions read back: {subscriptions_reconcile(older_than=older_than or 0)}")
