"""Sliding-window request limiter (29 Next: 4 requests/second per access token).

Why sliding and not a fixed bucket: a client honouring `Retry-After: 1` must always get through after
waiting, and a burst straddling a second boundary must still be throttled, as DRF's throttles behave.
Only allowed requests are counted, like DRF, so a throttled client is not punished twice.
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict, deque


class SlidingWindowLimiter:
    def __init__(self, limit: int, window_seconds: float = 1.0) -> None:
        self.limit = limit
        self.window = window_seconds
        self._lock = threading.Lock()
        self._hits: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            hits = self._hits[key]
            while hits and now - hits[0] >= self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
