"""The Redis cache backend production uses (common/cache.py): Django's semantics, one client per pool."""
import uuid

import pytest

from common.cache import RedisCache
from tests.conftest import require_service

REDIS_URL = "redis://127.0.0.1:6379/13"


@pytest.fixture
def cache():
    backend = RedisCache(REDIS_URL, {"KEY_PREFIX": "test-" + uuid.uuid4().hex})
    try:
        backend.get_many(["probe"])
        reachable = True
    except Exception:  # noqa: BLE001 - any connection failure means no Redis here
        reachable = False
    require_service(reachable, f"needs Redis at {REDIS_URL}")
    yield backend
    backend.delete_many(["counter", "session", "gone"])


def test_behaves_like_djangos_redis_cache(cache):
    assert cache.add("counter", 0, timeout=10) is True
    assert cache.add("counter", 5, timeout=10) is False
    assert cache.incr("counter") == 1
    cache.set("session", {"cart": [1, 2]}, timeout=10)
    assert cache.get("session") == {"cart": [1, 2]}
    cache.set("gone", 1, timeout=10)
    cache.delete("gone")
    assert cache.get("gone", "missing") == "missing"


def test_one_client_serves_every_operation(cache):
    inner = cache._cache
    first = inner.get_client("a", write=True)
    assert inner.get_client("b") is first
    assert inner.get_client("c", write=True) is first


def test_incr_counts_only_an_existing_key_and_keeps_its_expiry(cache):
    with pytest.raises(ValueError):
        cache.incr("counter")
    assert cache.get("counter") is None  # a missing counter is not created (it would never expire)
    cache.add("counter", 1, timeout=10)
    assert cache.incr("counter") == 2
    assert cache.incr("counter", 5) == 7
    assert cache.get("counter") == 7
    client = cache._cache.get_client("counter")
    assert 0 < client.ttl(cache.make_and_validate_key("counter")) <= 10


def test_replace_sets_only_an_existing_key(cache):
    assert cache.replace("session", {"cart": [1]}, timeout=10) is False
    assert cache.get("session") is None
    cache.set("session", {"cart": [1]}, timeout=10)
    assert cache.replace("session", {"cart": [1, 2]}, timeout=10) is True
    assert cache.get("session") == {"cart": [1, 2]}


def test_a_session_is_saved_in_one_round_trip_and_never_brought_back(cache, monkeypatch):
    from django.contrib.sessions.backends.base import UpdateError

    from common import cache_sessions

    monkeypatch.setattr(cache_sessions.SessionStore, "cache_key_prefix", "test-session-" + uuid.uuid4().hex)
    store = cache_sessions.SessionStore()
    store._cache = cache
    store["cart"] = {"7": 2}
    store.save()  # a new session: created (add), as Django's cache backend does
    key = store.session_key
    commands = []
    client = cache._cache.get_client(write=True)
    monkeypatch.setattr(client, "execute_command", lambda *args, **kw: commands.append(args[0]) or
                        type(client).execute_command(client, *args, **kw))
    store["cart"] = {"7": 3}
    store.save()
    assert commands == ["SET"]
    again = cache_sessions.SessionStore(key)
    again._cache = cache
    assert again["cart"] == {"7": 3}
    cache.delete(store.cache_key)  # logged out in another tab meanwhile
    store["cart"] = {"7": 4}
    with pytest.raises(UpdateError):
        store.save()
    assert cache.get(store.cache_key) is None
