"""The provider rate budget (payments/providers/budget.py): the provider's sliding window, shoppers first.

Counted on a frozen clock, not timed. The Redis store runs the same checks when Redis is reachable
(db 12, or PROVIDER_BUDGET_TEST_REDIS)."""
import os

import pytest

from payments.exceptions import ProviderUnavailable
from payments.providers import budget as budget_module
from payments.providers.budget import LocalWindow, RateBudget, background_calls, current_priority

OPTIONS = dict(limit=4, window=10.0, headroom=2, recent=30.0)
REDIS_URL = os.environ.get("PROVIDER_BUDGET_TEST_REDIS", "redis://127.0.0.1:6379/12")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    frozen = Clock()
    monkeypatch.setattr(budget_module.time, "monotonic", frozen)
    return frozen


def _redis_store():
    try:
        store = budget_module.RedisWindow(REDIS_URL)
        store.client.ping()
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("REQUIRE_SERVICES") == "1":
            raise
        pytest.skip(f"needs Redis at {REDIS_URL}: {type(exc).__name__}")
    return store


@pytest.fixture(params=["local", "redis"])
def store(request, clock):
    if request.param == "local":
        return LocalWindow()
    return _redis_store()


@pytest.fixture
def key(request):
    return f"test-budget:{request.node.name}:{os.getpid()}:{id(request)}"


def take(store, key, caller, *, foreground):
    return store.take(key, foreground=foreground, caller=caller, **OPTIONS)


def test_the_window_holds_the_limit_and_says_how_long_to_wait(store, key):
    assert [take(store, key, f"c{i}", foreground=True) for i in range(4)] == [0, 0, 0, 0]
    wait = take(store, key, "c5", foreground=True)
    assert 9.0 < wait <= 10.0


def test_background_alone_uses_the_whole_rate(store, key):
    assert [take(store, key, f"b{i}", foreground=False) for i in range(4)] == [0, 0, 0, 0]
    assert take(store, key, "b5", foreground=False) > 0


def test_background_leaves_headroom_after_a_shoppers_call(store, key):
    assert take(store, key, "shopper", foreground=True) == 0
    assert take(store, key, "b1", foreground=False) == 0
    # limit 4, headroom 2: background stops at 2 calls in the window; the shopper still finds slots
    assert take(store, key, "b2", foreground=False) > 0
    assert take(store, key, "shopper2", foreground=True) == 0
    assert take(store, key, "shopper3", foreground=True) == 0


def test_background_yields_while_a_shopper_waits(clock, key):
    store = LocalWindow()
    for i in range(4):
        take(store, key, f"b{i}", foreground=False)
    assert take(store, key, "shopper", foreground=True) > 0  # full: the shopper waits, and says so
    clock.now += 10.5  # the window has emptied
    assert take(store, key, "worker", foreground=False) > 0  # ...but the waiting shopper goes first
    assert take(store, key, "shopper", foreground=True) == 0
    clock.now += 31  # long after the shopper: background has the whole window again
    assert [take(store, key, f"w{i}", foreground=False) for i in range(4)] == [0, 0, 0, 0]


def test_a_waiting_shopper_is_registered_in_redis_too(key):
    store = _redis_store()
    for i in range(4):
        take(store, key, f"b{i}", foreground=False)
    assert take(store, key, "shopper", foreground=True) > 0
    assert store.client.zscore(f"{key}:waiting", "shopper") is not None
    assert take(store, key, "worker", foreground=False) > 0


def test_acquire_gives_up_with_a_retryable_error(clock, settings):
    settings.PROVIDER_BUDGET_URL = ""
    settings.PROVIDER_BUDGET_MARGIN = 0.0
    settings.PROVIDER_BUDGET_WAIT = {"foreground": 0.5, "background": 30.0}
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        clock.now += seconds

    budget = RateBudget("test", credential=f"token-{id(slept)}", limit=2, window=1.0, sleep=sleep)
    budget.acquire()
    budget.acquire()
    with pytest.raises(ProviderUnavailable, match="no request budget"):
        budget.acquire()  # the next slot is a second away, more than a shopper may wait
    assert slept == []
    with background_calls():
        assert current_priority() == "background"
        budget.acquire()  # background may wait that long
    assert current_priority() == "foreground" and slept and sum(slept) <= 1.0


def test_no_budget_without_a_limit():
    assert budget_module.provider_budget("x", credential="t", per_second=0) is None
    assert budget_module.provider_budget("x", credential="t", per_second=4).limit == 4
