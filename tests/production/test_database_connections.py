"""Persistent database connections as production runs them (CONN_MAX_AGE, CONN_HEALTH_CHECKS; issue 14).

Each gunicorn worker keeps its PostgreSQL connection between requests. When the server drops it (a
restart, a failover, an idle timeout, an administrator), the next request must open a new one, not
answer 500 on the dead one: the health check before reuse is what makes that so.
"""
from urllib.parse import urlsplit

import pytest

from tests.conftest import client_connections, drop_connections, require_service
from tests.production.conftest import admin_url

pytestmark = pytest.mark.e2e

PAGES = ("/", "/cart/")


def test_pages_answer_after_the_database_dropped_every_connection(production_shop):
    import psycopg

    url = production_shop.database_url
    require_service(url.startswith(("postgres://", "postgresql://")), "needs PostgreSQL (set DATABASE_URL=postgres://...)")
    database = urlsplit(url).path.lstrip("/")
    # Enough requests that each of the compose file's three workers serves some and keeps its connection.
    for _ in range(4):
        for page in PAGES:
            assert production_shop.get(page).status_code == 200
    with psycopg.connect(admin_url(url), autocommit=True) as admin:
        kept = drop_connections(admin.cursor(), database)
        assert kept, "the workers keep no connection between requests (CONN_MAX_AGE)"

        answers = [production_shop.get(page).status_code for _ in range(4) for page in PAGES]

        assert answers == [200] * len(answers)
        assert set(client_connections(admin.cursor(), database)).isdisjoint(kept)
