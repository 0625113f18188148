"""`python manage.py run_schedule`: production's beat schedule without a beat (started by `make run`).

Runs every entry once shortly after start (a laptop is rarely up at minute 5 of an hour), then wakes at
the start of every minute and runs what is due (shop/scheduler.py). `--once` runs every entry once and
exits; `--list` prints the schedule.
"""
import time

from django.core.management.base import BaseCommand
from django.utils import timezone

from config.celery import app
from shop.scheduler import Scheduler


class Command(BaseCommand):
    help = "Run the Celery beat schedule of config/celery.py in this process (for make run: no broker needed)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="run every scheduled task once, then exit")
        parser.add_argument("--list", dest="show", action="store_true", help="print the schedule and exit")
        parser.add_argument("--delay", type=float, default=5.0,
                            help="seconds to wait before the first run (the emulator is still starting)")

    def handle(self, *args, once=False, show=False, delay=5.0, **options):
        scheduler = Scheduler(app, start=timezone.now())
        if show:
            for line in scheduler.describe():
                self.stdout.write(line)
            return
        if once:
            for name in scheduler.run_all(timezone.now()):
                self.stdout.write(f"ran {name}")
            return
        self.stdout.write("Scheduled work (config/celery.py beat schedule), run in this process:")
        for line in scheduler.describe():
            self.stdout.write(f"  {line}")
        time.sleep(delay)
        scheduler.run_all(timezone.now())
        while True:
            time.sleep(60 - time.time() % 60 + 0.5)
            scheduler.tick(timezone.now())
