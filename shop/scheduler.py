"""Production's Celery beat schedule, run where there is no beat: under `make run` on a laptop.

Celery beat needs a broker; `make run` has none (tasks run eagerly). This scheduler reads the very same
`app.conf.beat_schedule` from config/celery.py, so a task added there runs on a laptop without a second
list to keep in step, and calls each task with `apply_async` when its time comes: eagerly in this
process without a broker, queued for a worker with one (then it acts as beat).

Crontab entries fire at the minutes they match, in CELERY_TIMEZONE, as beat fires them; interval
entries (`schedule(run_every=...)`) every run_every. A tick looks at every minute since the previous
tick, so a slow task delays the schedule but never skips an entry; an entry runs at most once per tick.
A task that raises is logged and the others still run.
"""
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from celery.schedules import crontab
from celery.schedules import schedule as interval_schedule

log = logging.getLogger(__name__)
# How far back a tick looks for missed minutes (a laptop waking from sleep does not replay a night).
MAX_CATCH_UP = timedelta(hours=1)


def _matches(cron: crontab, moment: datetime) -> bool:
    # crontab numbers weekdays 0 = Sunday; isoweekday() % 7 gives the same.
    return (moment.minute in cron.minute and moment.hour in cron.hour and moment.day in cron.day_of_month
            and moment.month in cron.month_of_year and moment.isoweekday() % 7 in cron.day_of_week)


@dataclass
class Entry:
    name: str
    task: str
    every: object  # crontab or celery.schedules.schedule
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    last_run_at: datetime | None = None

    def due(self, since: datetime, now: datetime, tz: ZoneInfo) -> bool:
        """Whether the entry fires in the minutes (since, now]."""
        if isinstance(self.every, crontab):
            minute = since.astimezone(tz).replace(second=0, microsecond=0) + timedelta(minutes=1)
            end = now.astimezone(tz)
            while minute <= end:
                if _matches(self.every, minute):
                    return True
                minute += timedelta(minutes=1)
            return False
        if isinstance(self.every, interval_schedule):
            return self.last_run_at is None or now - self.last_run_at >= self.every.run_every
        raise TypeError(f"{self.name}: schedule type {type(self.every).__name__} is not supported here")


class Scheduler:
    """The beat schedule of `app`, ticked by `run_schedule` (or by a test, with the times it chooses)."""

    def __init__(self, app, *, start: datetime):
        self.app = app
        # What a worker does at start: import every app's tasks module (autodiscover_tasks is lazy).
        app.loader.import_default_modules()
        self.tz = ZoneInfo(str(app.conf.timezone or "UTC"))
        self.entries = [Entry(name=name, task=spec["task"], every=spec["schedule"], args=tuple(spec.get("args", ())),
                              kwargs=dict(spec.get("kwargs", {})), last_run_at=start)
                        for name, spec in sorted(app.conf.beat_schedule.items())]
        self.checked_until = start

    def run_all(self, now: datetime) -> list[str]:
        """Run every entry once (the catch-up when the shop starts); returns their names."""
        for entry in self.entries:
            self._run(entry, now)
        self.checked_until = now
        return [entry.name for entry in self.entries]

    def tick(self, now: datetime) -> list[str]:
        """Run the entries due since the previous tick; returns the names that ran."""
        since = max(self.checked_until, now - MAX_CATCH_UP)
        ran = []
        for entry in self.entries:
            if entry.due(since, now, self.tz):
                self._run(entry, now)
                ran.append(entry.name)
        self.checked_until = now
        return ran

    def _run(self, entry: Entry, now: datetime) -> None:
        entry.last_run_at = now
        try:
            result = self.app.tasks[entry.task].apply_async(args=entry.args, kwargs=entry.kwargs)
            log.info("scheduled %s: %s", entry.name, getattr(result, "result", "queued"))
        except Exception:  # noqa: BLE001 - one failing job must not stop the schedule
            log.exception("scheduled %s failed", entry.name)

    def describe(self) -> list[str]:
        return [f"{entry.name}: {entry.task} ({_human(entry.every)})" for entry in self.entries]


def _human(every) -> str:
    if isinstance(every, crontab):
        return f"crontab minute={every._orig_minute} hour={every._orig_hour}"
    return f"every {every.run_every}"
