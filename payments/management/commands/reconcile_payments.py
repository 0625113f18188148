from django.core.management.base import BaseCommand

from payments.services.reconcile import payments_reconcile


class Command(BaseCommand):
    help = "Re-read payment attempts stuck between checkout and outcome from their provider."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, default=None,
                            help="Only attempts older than this many seconds (default: setting)")

    def handle(self, *args, older_than=None, **options):
        report = payments_reconcile(older_than=older_than)
        self.stdout.write(
            f"checked {report.checked}, settled {report.settled}, expired {report.expired}, "
            f"waiting {report.waiting}, provider unavailable {report.unavailable}, "
            f"rejected {report.rejected}"
        )
        for line in report.details:
            self.stdout.write(f"  {line}")
