"""One request budget per rate-limited provider, shared by every web and worker process.

Why: 29 Next allows 4 calls per second per access token, counted over a sliding second. Web processes
(a shopper's checkout and return) and Celery workers (renewal sweeps, reconcile) all spend that one
allowance; when a sweep spent it, a shopper's checkout met a 429 and a "try again" page. So every call
first takes a slot from the provider's budget, which keeps the same sliding window the provider does:

- **Shared**: with PROVIDER_BUDGET_URL (Redis) the window lives in Redis and one Lua script checks and
  takes a slot atomically, on Redis' clock, for every process. Without it (`make run`, tests) an
  in-process window does the same for the threads of one process. If Redis cannot be reached the
  process falls back to its own window (logged) rather than stop taking payments.
- **Shoppers first**: a call is foreground unless made inside `background_calls()` (Celery tasks run in
  it, see payments.tasks). While a foreground caller waits for a slot no background call takes one, and
  for PROVIDER_BUDGET_HEADROOM_SECONDS after a foreground call background work leaves `headroom` slots of
  the window free, so the next shopper usually finds one at once. A sweep alone still uses the whole rate.
- **Margin**: the window is PROVIDER_BUDGET_MARGIN seconds longer than the provider's, because the
  provider counts arrivals and a call leaves a little after its slot was taken.
- A caller waits at most PROVIDER_BUDGET_WAIT[priority] seconds; then ProviderUnavailable (retryable:
  the shopper may try again, a task retries later), which is what a 429 would have meant anyway.
"""
import contextvars
import hashlib
import logging
import threading
import time
import uuid
from collections import deque
from contextlib import contextmanager

from django.conf import settings

from ..exceptions import ProviderUnavailable

log = logging.getLogger("payments.budget")

FOREGROUND, BACKGROUND = "foreground", "background"
_priority = contextvars.ContextVar("provider_call_priority", default=FOREGROUND)


@contextmanager
def background_calls():
    """Provider calls made inside are background work: they yield to shoppers' calls."""
    token = _priority.set(BACKGROUND)
    try:
        yield
    finally:
        _priority.reset(token)


def current_priority() -> str:
    return _priority.get()


def enter_background() -> contextvars.Token:
    """`background_calls()` for code that cannot wrap a block (Celery's prerun/postrun signals)."""
    return _priority.set(BACKGROUND)


def leave_background(token: contextvars.Token) -> None:
    try:
        _priority.reset(token)
    except ValueError:  # set in another context (a thread pool's other thread): nothing to undo here
        pass


class LocalWindow:
    """The sliding window of one process (threads share it). Same rules as the Redis script."""

    def __init__(self):
        self._lock = threading.Lock()
        self._calls: dict[str, deque[float]] = {}
        self._waiting: dict[str, dict[str, float]] = {}
        self._foreground_at: dict[str, float] = {}

    def take(self, key: str, *, limit: int, window: float, foreground: bool, caller: str, headroom: int,
             recent: float) -> float:
        """0 when a slot was taken, else the seconds to wait before asking again."""
        now = time.monotonic()
        with self._lock:
            calls = self._calls.setdefault(key, deque())
            while calls and calls[0] <= now - window:
                calls.popleft()
            waiting = self._waiting.setdefault(key, {})
            for other, until in list(waiting.items()):
                if until <= now:
                    del waiting[other]
            if foreground:
                if len(calls) >= limit:
                    waiting[caller] = now + 2 * window
                    return calls[0] + window - now
                waiting.pop(caller, None)
                self._foreground_at[key] = now
            else:
                if waiting:
                    return window / 8
                allowed = limit
                if now - self._foreground_at.get(key, -recent - 1) < recent:
                    allowed = max(1, limit - headroom)
                if len(calls) >= allowed:
                    return calls[len(calls) - allowed] + window - now
            calls.append(now)
            return 0.0

    def withdraw(self, key: str, caller: str) -> None:
        """A foreground caller that gave up stops holding background work back."""
        with self._lock:
            self._waiting.get(key, {}).pop(caller, None)


# KEYS: the window (sorted set of call times, µs), foreground waiters (sorted set: caller -> give-up
# time), the time of the last foreground call. ARGV: limit, window µs, foreground (1/0), caller, headroom,
# recent µs. Returns 0 when a slot was taken, else µs to wait. Redis' TIME is the one clock.
TAKE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local foreground, caller = ARGV[3] == '1', ARGV[4]
local headroom, recent = tonumber(ARGV[5]), tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local used = redis.call('ZCARD', KEYS[1])
if foreground then
  if used >= limit then
    redis.call('ZADD', KEYS[2], now + 2 * window, caller)
    redis.call('PEXPIRE', KEYS[2], math.ceil(4 * window / 1000))
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return math.max(1000, tonumber(oldest[2]) + window - now)
  end
  redis.call('ZREM', KEYS[2], caller)
  redis.call('SET', KEYS[3], now, 'PX', math.ceil(recent / 1000) + 1)
else
  if redis.call('ZCARD', KEYS[2]) > 0 then
    return math.floor(window / 8)
  end
  local allowed = limit
  if redis.call('EXISTS', KEYS[3]) == 1 then
    allowed = math.max(1, limit - headroom)
  end
  if used >= allowed then
    local nth = redis.call('ZRANGE', KEYS[1], used - allowed, used - allowed, 'WITHSCORES')
    return math.max(1000, tonumber(nth[2]) + window - now)
  end
end
redis.call('ZADD', KEYS[1], now, caller)
redis.call('PEXPIRE', KEYS[1], math.ceil(2 * window / 1000))
return 0
"""


class RedisWindow:
    def __init__(self, url: str):
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self.script = self.client.register_script(TAKE_SCRIPT)

    def take(self, key: str, *, limit: int, window: float, foreground: bool, caller: str, headroom: int,
             recent: float) -> float:
        wait = self.script(keys=[f"{key}:calls", f"{key}:waiting", f"{key}:foreground"],
                           args=[limit, int(window * 1e6), 1 if foreground else 0, caller, headroom,
                                 int(recent * 1e6)])
        return int(wait) / 1e6

    def withdraw(self, key: str, caller: str) -> None:
        self.client.zrem(f"{key}:waiting", caller)


_local = LocalWindow()
_shared: dict[str, RedisWindow] = {}
_shared_lock = threading.Lock()


def _store():
    url = settings.PROVIDER_BUDGET_URL
    if not url:
        return _local
    with _shared_lock:
        if url not in _shared:
            _shared[url] = RedisWindow(url)
        return _shared[url]


class RateBudget:
    """`limit` calls per `window` seconds for one provider credential (see the module docstring)."""

    def __init__(self, name: str, *, credential: str, limit: int, window: float = 1.0, sleep=time.sleep):
        digest = hashlib.sha256(credential.encode()).hexdigest()[:16]
        self.name, self.key, self.limit, self.sleep = name, f"provider-budget:{name}:{digest}", limit, sleep
        self.window = window + settings.PROVIDER_BUDGET_MARGIN

    def acquire(self) -> None:
        """Wait for a slot. Raises ProviderUnavailable after PROVIDER_BUDGET_WAIT[priority] seconds."""
        priority = current_priority()
        foreground = priority == FOREGROUND
        deadline = time.monotonic() + settings.PROVIDER_BUDGET_WAIT[priority]
        caller = uuid.uuid4().hex
        while True:
            wait = self._take(foreground, caller)
            if wait <= 0:
                return
            if time.monotonic() + wait > deadline:
                self._withdraw(caller)
                raise ProviderUnavailable(f"{self.name}: no request budget left within "
                                          f"{settings.PROVIDER_BUDGET_WAIT[priority]:.0f}s ({priority})")
            self.sleep(wait)

    def _withdraw(self, caller: str) -> None:
        try:
            _store().withdraw(self.key, caller)
        except Exception:  # noqa: BLE001 - the waiter entry expires on its own after two windows
            _local.withdraw(self.key, caller)

    def _take(self, foreground: bool, caller: str) -> float:
        options = dict(limit=self.limit, window=self.window, foreground=foreground, caller=caller,
                       headroom=settings.PROVIDER_BUDGET_HEADROOM,
                       recent=settings.PROVIDER_BUDGET_HEADROOM_SECONDS)
        store = _store()
        try:
            return store.take(self.key, **options)
        except Exception as exc:  # a budget outage must not stop payments: this process counts alone
            if store is _local:
                raise
            log.warning("provider budget store unreachable (%s): counting in this process", type(exc).__name__)
            return _local.take(self.key, **options)


def provider_budget(name: str, *, credential: str, per_second: int) -> RateBudget | None:
    """The budget a provider client declares: None when the provider sets no limit (`per_second` 0)."""
    return RateBudget(name, credential=credential, limit=per_second) if per_second > 0 else None
