"""Django's Redis cache backend, with one redis-py client per connection pool.

Django builds a new `redis.Redis` for every cache operation (get, add, incr...), and each one sets up ~80
response callbacks: 56 µs here, about the price of the Redis round trip itself, several times per request
(the rate limits, the session). A client holds no connection of its own (the pool does) and is safe to
share between threads, so one per pool gives the same behaviour for less. `incr` (every rate-limited request
counts itself) is one round trip instead of two, and `replace` (set only an existing key) gives sessions the
same. settings.py swaps it in for `rediscache://` URLs.
"""
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

# INCRBY only where the key exists, as Django's incr promises (it raises for a missing key): one round trip
# and atomic, where Django's EXISTS-then-INCRBY takes two and, when the key expires between them, creates
# a counter that never expires.
_INCR_EXISTING = "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCRBY', KEYS[1], ARGV[1]) end"


class _SharedClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}
        self._incr_scripts = {}

    def incr(self, key, delta):
        client = self.get_client(key, write=True)
        script = self._incr_scripts.get(id(client))
        if script is None:
            script = self._incr_scripts[id(client)] = client.register_script(_INCR_EXISTING)
        value = script(keys=[key], args=[delta])
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return value

    def replace(self, key, value, timeout):
        client = self.get_client(key, write=True)
        if timeout == 0:
            return bool(client.delete(key))
        return bool(client.set(key, self._serializer.dumps(value), ex=timeout, xx=True))

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _SharedClient

    def replace(self, key, value, timeout=DEFAULT_TIMEOUT, version=None) -> bool:
        """Set `key` only if it exists (SET … XX): one round trip for what a get and a set do. Returns
        whether it existed (common.cache_sessions saves a session this way)."""
        key = self.make_and_validate_key(key, version=version)
        return self._cache.replace(key, value, self.get_backend_timeout(timeout))
