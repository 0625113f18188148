"""Persistent database connections as production runs them (CONN_MAX_AGE, CONN_HEALTH_CHECKS; issue 14).

Each gunicorn worker keeps its PostgreSQL connection between requests. When the server drops it (a
restart, a failover, an idle timeout, an administrator), the next request must open a new one, not
answer 500 on the dead one: the health check before reuse is what makes that so.
"""
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import require_service

pytestmark = pytest.mark.e2e

PAGES = ("/", "/cart/")


def _admin(database_url: str):
    import psycopg

    parts = urlsplit(database_url)
    return psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True), parts.path.lstrip("/")


def _shop_connections(database_url: str) -> list[int]:
    conn, name = _admin(database_url)
    with conn:
        return [pid for (pid,) in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'", [name])]


def _drop_connections(database_url: str) -> int:
    conn, name = _admin(database_url)
    with conn:
        return sum(1 for (done,) in conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name]) if done)


def test_pages_answer_after_the_database_dropped_every_connection(production_shop):
    require_service(production_shop.database_url.startswith(("postgres://", "postgresql://")),
                    "needs PostgreSQL (set DATABASE_URL=postgres://...)")
    # Enough requests that each of the compose file's three workers serves some and keeps its connection.
    for _ in range(4):
        for page in PAGES:
            assert production_shop.get(page).status_code == 200
    kept = _shop_connections(production_shop.database_url)
    assert kept, "the workers keep no connection between requests (CONN_MAX_AGE)"
    assert _drop_connections(production_shop.database_url) >= len(kept)

    answers = [production_shop.get(page).status_code for _ in range(4) for page in PAGES]

    assert answers == [200] * len(answers)
    assert set(_shop_connections(production_shop.database_url)).isdisjoint(kept)
