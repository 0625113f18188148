"""Sessions in the shared cache, saved in one round trip where the cache can (common.cache.RedisCache).

Django's cache session backend saves a changed session only if it still exists, so that a session deleted
meanwhile (a logout in another tab) is not brought back: it reads the key, then writes it, two round trips
on every request that changes the session (adding to the cart, checking out). Redis does both in one
command (SET … XX, the cache's `replace`); with any other cache this backend is Django's.
"""
from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.backends.cache import SessionStore as CacheSessionStore


class SessionStore(CacheSessionStore):
    def save(self, must_create=False):
        replace = getattr(self._cache, "replace", None)
        if self.session_key is None or must_create or replace is None:
            return super().save(must_create=must_create)
        if not replace(self.cache_key, self._get_session(), self.get_expiry_age()):
            raise UpdateError
