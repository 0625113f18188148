#!/usr/bin/env python
"""Storefront pages under gunicorn with the production settings. Prints its figures; asserts nothing.

Runs what tests/production runs (migrate, the Dockerfile's collectstatic, the demo catalog, compose's web
command with DEBUG=0) on a PostgreSQL database of its own, plus the same gunicorn command serving a bare
WSGI response (bench/bare_wsgi.py: no Django, no database). For 10, 24 (one full catalog page, as many
tiles as 10,000 show) and 10,000 active products it measures requests/s of the catalog's first page, a
product page and a cart holding one product, with --clients keep-alive clients for --seconds each, and
prints each figure with its ratio to the bare response measured in the same run (the goal: the same
figures at 10 and 10,000 products, bar the tiles a full page adds).

Needs PostgreSQL (database `wt_perf_pages`, dropped and created; --database) and Redis: the cache, as compose
gives it, in a db the bench empties (--redis).
Usage: python bench/pages.py [--clients 8] [--seconds 4]
"""
import argparse
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from provider_run import ADMIN_URL, prepare_database  # noqa: E402


def compose_web_command(port: int, app: str = "config.wsgi:application") -> list[str]:
    import yaml

    command = list(yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]["command"])
    command[command.index("--bind") + 1] = f"127.0.0.1:{port}"
    command[1] = app
    return [str(Path(sys.executable).with_name(command[0])), *command[1:]]


def production_env(port: int, database_url: str, static_root: Path, emulator_url: str, cache_url: str) -> dict:
    return {"CACHE_URL": cache_url, "PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8",
            "ENV_FILE": "", "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "127.0.0.1",
            "SHOP_BASE_URL": f"http://127.0.0.1:{port}", "EMULATOR_URL": emulator_url,
            "DATABASE_URL": database_url, "NEXT_API_TOKEN": "emulator-token", "NEXT_WEBHOOK_SECRET": "x",
            "KLARNA_USERNAME": "PK_TEST", "KLARNA_PASSWORD": "emulator-secret", "STATIC_ROOT": str(static_root),
            "PAYMENT_ROUTES": "next,klarna_payments", "KLARNA_AUTHORIZE_API_KEY": "emulator",
            "KLARNA_AUTHORIZE_SIGNING_KEY": "emulator", "MULTISAFEPAY_API_KEY": "msp-emulator-api-key",
            "LOG_LEVEL": "WARNING", "CELERY_BROKER_URL": "", "SECURE_SSL_REDIRECT": "0",
            "SESSION_COOKIE_SECURE": "0", "CSRF_COOKIE_SECURE": "0", "PYTHONPATH": str(ROOT / "bench")}


def start_gunicorn(command, env, log) -> subprocess.Popen:
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = "http://127.0.0.1:" + command[command.index("--bind") + 1].rsplit(":", 1)[1]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/", timeout=2).status_code == 200:
                return process
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit(f"gunicorn did not start: {command}")


def stop(process):
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(15)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def throughput(url: str, *, clients: int, seconds: float, prepare=None) -> float:
    """Responses per second from `clients` keep-alive sessions for `seconds` (each must answer 200)."""
    counts, errors = [0] * clients, []
    sessions = []
    for _ in range(clients):
        session = requests.Session()
        session.trust_env = False
        if prepare:
            prepare(session)
        sessions.append(session)
    stop_at = time.perf_counter() + seconds

    def client(index):
        session = sessions[index]
        while time.perf_counter() < stop_at:
            response = session.get(url, timeout=30)
            if response.status_code != 200:
                errors.append(response.status_code)
                return
            counts[index] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"{url} answered {errors[0]}")
    return sum(counts) / (time.perf_counter() - started)


def cart_with_one(shop_url: str, slug: str):
    def prepare(session):
        page = session.get(f"{shop_url}/p/{slug}/", timeout=10).text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        product_id = re.search(r'name="product_id" value="(\d+)"', page).group(1)
        added = session.post(f"{shop_url}/cart/add/", data={"csrfmiddlewaretoken": token, "product_id": product_id,
                                                            "quantity": 1},
                             headers={"Referer": shop_url + "/"}, timeout=10, allow_redirects=False)
        assert added.status_code == 302, added.status_code
    return prepare


def fill_catalog(database_url: str, cache_url: str, total: int) -> str:
    """Active products up to `total` (bulk), returns the slug of one of them for the product page."""
    os.environ.update(DATABASE_URL=database_url, CACHE_URL=cache_url, DEBUG="1", ENV_FILE="",
                      DJANGO_SETTINGS_MODULE="config.settings")
    import django

    django.setup()
    from shop.models import Product

    have = Product.objects.filter(is_active=True).count()
    template = Product.objects.filter(is_active=True, kind="physical").first()
    fields = {f.attname: getattr(template, f.attname) for f in Product._meta.concrete_fields
              if f.attname not in ("id", "slug", "sku", "name", "created_at")}
    Product.objects.bulk_create([Product(**fields, name=f"Bench item {n:05d}", slug=f"bench-item-{n}",
                                         sku=f"BENCH-{n}") for n in range(have, total)], batch_size=2000)
    from shop.selectors import forget_catalog_count

    forget_catalog_count()  # bulk_create sends no signal: the pager's cached size is forgotten by hand
    from django.db import connection

    with connection.cursor() as cursor:  # fresh statistics, as autovacuum would give a live shop
        cursor.execute(f"VACUUM ANALYZE {Product._meta.db_table}")
    connection.close()
    return template.slug


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--sizes", default="10,24,10000",
                        help="catalog sizes; 24 is one full catalog page, what 10,000 shows too")
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES", ADMIN_URL))
    parser.add_argument("--database", default=os.environ.get("BENCH_PAGES_DATABASE", "wt_perf_pages"))
    parser.add_argument("--redis", default=os.environ.get("BENCH_PAGES_REDIS", "redis://127.0.0.1:6379/11"),
                        help="a Redis db the bench may empty (the shop's cache and sessions)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="wt-perf-pages-"))
    database_url = prepare_database(args.postgres, args.database)
    redis.Redis.from_url(args.redis).flushdb()
    cache_url = "rediscache://" + args.redis.split("://", 1)[1]
    shop_port, bare_port = free_port(), free_port()
    env = production_env(shop_port, database_url, tmp / "static", "http://127.0.0.1:9", cache_url)
    log = open(tmp / "setup.log", "ab")
    for command, extra in (([sys.executable, "manage.py", "migrate", "--noinput"], {}),
                           ([sys.executable, "manage.py", "collectstatic", "--noinput"],
                            {"DEBUG": "1", "STATICFILES_MANIFEST": "1"}),
                           ([sys.executable, "manage.py", "load_demo_catalog"], {})):
        subprocess.run(command, cwd=ROOT, env={**env, **extra}, stdout=log, stderr=subprocess.STDOUT, check=True)
    shop = start_gunicorn(compose_web_command(shop_port), env, log)
    bare = start_gunicorn(compose_web_command(bare_port, "bare_wsgi:application"), env, log)
    shop_url, bare_url = f"http://127.0.0.1:{shop_port}", f"http://127.0.0.1:{bare_port}"
    try:
        print(f"gunicorn as docker-compose runs it (DEBUG=0, collectstatic, 3 workers), PostgreSQL, "
              f"{args.clients} keep-alive clients x {args.seconds:.0f} s per figure, {os.cpu_count()} CPU cores")
        for total in (int(size) for size in args.sizes.split(",")):
            slug = fill_catalog(database_url, cache_url, total)
            bare_rps = throughput(bare_url + "/", clients=args.clients, seconds=args.seconds)
            print(f"products {total:>6}: bare WSGI response (no database) {bare_rps:7.1f} req/s")
            for name, path, prepare in (("catalog", "/", None), ("product", f"/p/{slug}/", None),
                                        ("cart", "/cart/", cart_with_one(shop_url, slug))):
                rps = throughput(shop_url + path, clients=args.clients, seconds=args.seconds, prepare=prepare)
                print(f"products {total:>6}: {name:<8} {rps:7.1f} req/s, "
                      f"ratio {rps / bare_rps:5.3f} to the bare response")
    finally:
        stop(shop)
        stop(bare)
        log.close()


if __name__ == "__main__":
    main()
