"""The emulator's clock: real UTC time plus an offset that tests move forward, and the work that comes due.

Why: subscriptions renew months apart, and a test (or a merchant trying `make run`) cannot wait a month.
Every timestamp the providers write (orders, subscriptions, webhook payloads) comes from `now()`, so
moving the clock forward makes the emulated platform behave as if that time had passed. Providers register
jobs ("renewals") that do what has become due; they run after each `advance()` and on a background tick.

One run lock: an advance and the ticker never run jobs at the same time, so the answer to an advance lists
exactly the work that the advance made due, and a renewal is never processed twice (the jobs themselves
also mark their work done under the provider's state lock).
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta, timezone
from typing import Callable

log = logging.getLogger("emulator.clock")

Job = Callable[[], list]


class Clock:
    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards the offset
        self._run_lock = threading.Lock()  # one run of the due jobs at a time
        self._offset = timedelta(0)
        self._jobs: dict[str, Job] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(timezone.utc) + self._offset

    def now_iso(self) -> str:
        return self.now().isoformat(timespec="microseconds")

    @property
    def offset_seconds(self) -> float:
        with self._lock:
            return self._offset.total_seconds()

    def reset(self) -> None:
        with self._run_lock, self._lock:
            self._offset = timedelta(0)

    def add_job(self, name: str, job: Job) -> None:
        """`job()` does whatever is due at `now()` and returns a list describing what it did."""
        self._jobs[name] = job

    def advance(self, seconds: float) -> dict:
        """Move forward (never back), then run every due job before answering: {"now", <job>: [...]}."""
        if seconds < 0:
            raise ValueError("The clock only moves forward.")
        with self._run_lock:
            with self._lock:
                self._offset += timedelta(seconds=seconds)
            results = self._run_jobs()
            return {"now": self.now_iso(), **results}

    def run_due(self) -> dict:
        with self._run_lock:
            return self._run_jobs()

    def _run_jobs(self) -> dict:
        results = {}
        for name, job in self._jobs.items():
            try:
                results[name] = job()
            except Exception:  # a bug in one job must not stop the clock or the other jobs
                log.exception("clock job %s failed", name)
                results[name] = []
        return results

    # --- background ticker ---------------------------------------------------------------
    def start(self, every_seconds: float) -> None:
        """Run the due jobs every `every_seconds` (0 = never: only advances run them)."""
        if every_seconds <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._tick, args=(every_seconds,), name="clock-ticker",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _tick(self, every_seconds: float) -> None:
        while not self._stop.wait(every_seconds):
            self.run_due()
