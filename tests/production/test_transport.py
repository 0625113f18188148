"""Item 4 of issue 9: the deploy check is clean with the production example settings, HTTPS settings come
from the environment under Django's own names, and pages showing a shopper's address are never cached."""
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.utils.cache import get_max_age

from payments.models import Subscription
from shop.links import order_url, subscription_url
from tests.factories import make_order, make_product

ROOT = Path(__file__).resolve().parents[2]
# What settings.py requires when DEBUG is off; .env.example leaves them blank because they are secrets.
SECRETS = ("SECRET_KEY", "NEXT_API_TOKEN", "NEXT_WEBHOOK_SECRET", "KLARNA_USERNAME", "KLARNA_PASSWORD",
           "MULTISAFEPAY_API_KEY")


def example_environment() -> dict[str, str]:
    """.env.example as the only configuration, its blank secrets filled the way an operator would."""
    env = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    for key in SECRETS:
        assert env.get(key, "") == "", f".env.example must not ship a value for the secret {key}"
        env[key] = secrets.token_urlsafe(50)
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # Only PATH from the caller, and no .env: the check must pass on the example settings alone.
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**env, "PATH": os.environ.get("PATH", ""), "ENV_FILE": ""}, timeout=120)


def test_deploy_check_passes_with_the_production_example_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=example_environment())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("variable, warning", [
    ("SECURE_HSTS_SECONDS", "security.W004"),
    ("SECURE_SSL_REDIRECT", "security.W008"),
    ("SESSION_COOKIE_SECURE", "security.W012"),
    ("CSRF_COOKIE_SECURE", "security.W016"),
])
def test_each_transport_setting_is_read_from_the_environment(variable, warning):
    """Unsetting one of them brings its warning back: the example's value is what silenced it."""
    env = example_environment()
    env[variable] = "0"
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert warning in result.stdout + result.stderr


def test_a_malformed_proxy_header_setting_is_refused():
    env = dict(example_environment(), SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO")
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "SECURE_PROXY_SSL_HEADER" in result.stderr


def test_behind_the_proxy_https_requests_get_hsts_and_plain_ones_are_redirected(settings, db):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    client = Client()  # a new client builds its middleware under these settings
    plain = client.get("/cart/")
    assert plain.status_code == 301 and plain["Location"].startswith("https://")
    proxied = client.get("/cart/", headers={"x-forwarded-proto": "https"})
    assert proxied.status_code == 200
    assert proxied["Strict-Transport-Security"].startswith("max-age=31536000")


def cache_directives(response) -> set[str]:
    return {part.strip().split("=")[0] for part in response.get("Cache-Control", "").split(",") if part.strip()}


@pytest.mark.django_db
def test_order_pages_showing_name_and_address_are_private_and_not_stored(client):
    order = make_order()
    status_page = client.get(order_url(order))
    assert "Keizersgracht 1" in status_page.content.decode()  # the page does show where the order goes
    for name in ("shop:order_status", "shop:order_failed"):
        response = client.get(order_url(order, name))
        assert response.status_code == 200, name
        assert {"private", "no-store"} <= cache_directives(response), (name, response["Cache-Control"])
        assert get_max_age(response) == 0
    # The confirmation redirects an unpaid order elsewhere; the redirect is not cached either.
    confirmation = client.get(order_url(order, "shop:order_confirmation"))
    assert {"private", "no-store"} <= cache_directives(confirmation)


@pytest.mark.django_db
def test_the_subscription_manage_page_is_private_and_not_stored(client):
    beans = make_product(kind="subscription", interval="month", interval_count=1, price=1650)
    order = make_order(items=[(beans, 1)], shipping_fee=0)
    sub = Subscription.objects.create(route="next", provider_id="sub-1", order=order, email=order.email,
                                      interval="month", interval_count=1, amount=1650, currency="EUR")
    response = client.get(subscription_url(sub))
    assert response.status_code == 200
    assert {"private", "no-store"} <= cache_directives(response), response["Cache-Control"]
    # ...while the catalog, which shows nobody, stays cacheable by default.
    assert "no-store" not in cache_directives(client.get("/"))
