"""The shop's one settings module: every value comes from the environment (django-environ).

`.env.example` lists every variable. Unset DATABASE_URL means SQLite under var/; unset CELERY_BROKER_URL
means tasks run eagerly in-process. Provider base URLs default to the emulator so that development
never reaches a real provider by accident; secrets only have defaults when DEBUG is on.

The test process (pytest) is the one exception to "everything from the environment": the suite must pass
whatever the caller's shell or `.env` holds, so under pytest `.env` is not read, DEBUG's development
defaults apply and tasks run eagerly (see TESTING below). Processes the tests start (gunicorn, Celery
workers) are not pytest and read their environment like production does.
"""
import os
import sys
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from config.logging import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

# True only inside the pytest process itself: its children inherit its environment (PYTEST_VERSION
# included) but never import pytest, so they are configured as production configures them.
TESTING = "pytest" in sys.modules
# Variables already in the environment win over the file. ENV_FILE="" reads none: the production test tier
# and the deploy check test set everything themselves and must not pick up a developer's .env.
ENV_FILE = os.environ.get("ENV_FILE", str(BASE_DIR / ".env"))
if ENV_FILE and not TESTING:
    environ.Env.read_env(ENV_FILE, overwrite=False)

DEBUG = True if TESTING else env.bool("DEBUG", default=False)


def _secret(name, dev_default):
    value = env.str(name, default="")
    if value:
        return value
    if DEBUG:
        return dev_default
    raise ImproperlyConfigured(f"{name} must be set when DEBUG is off")


SECRET_KEY = _secret("SECRET_KEY", "dev-only-insecure-key-do-not-use-in-production")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "shop.admin_site.ShopAdminConfig",  # django.contrib.admin with the payments dashboard as its index
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "shop",
    "payments",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Right after SecurityMiddleware (HTTPS redirect and HSTS apply to assets too), before anything that
    # touches the session or the database: an asset request costs no query.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "shop.context_processors.cart_summary",
            ],
        },
    },
]

if not env.str("DATABASE_URL", default=""):
    (BASE_DIR / "var").mkdir(exist_ok=True)
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"),
}
DATABASES["default"].setdefault("ATOMIC_REQUESTS", False)
# Persistent connections: opening one per request was most of a page's cost. Health checks make a
# connection dropped by the server (restart, idle timeout) reconnect instead of failing the request.
# (Not in the test process: live-server threads would keep connections the test database teardown needs gone.)
DATABASES["default"]["CONN_MAX_AGE"] = 0 if TESTING else env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The laptop default: wait for the writer instead of failing with "database is locked".
    # IMMEDIATE takes the write lock at BEGIN, so two transactions never deadlock upgrading a read lock.
    DATABASES["default"].setdefault("OPTIONS", {}).update(timeout=20, transaction_mode="IMMEDIATE")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Amsterdam")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
# The web process serves its own assets (WhiteNoise): no separate file server to keep in step with the
# code. In production, collectstatic writes compressed copies under content-hashed names, which
# WhiteNoise sends with a ten-year immutable Cache-Control; a deploy changes the names, so browsers never
# hold a stale script. Development serves the source files straight from the finders instead.
STATICFILES_MANIFEST = False if TESTING else env.bool("STATICFILES_MANIFEST", default=not DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage" if STATICFILES_MANIFEST
                    else "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# --- Transport: Django's own names, all off by default (development is plain HTTP) -------------------
# Production sits behind a TLS-terminating proxy and sets every one of these (.env.example); the deploy
# check (`manage.py check --deploy --fail-level WARNING`) passes with those values (tests/production/test_transport.py).
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# "HTTP_X_FORWARDED_PROTO,https": the header the proxy sets, and its value on HTTPS requests. Only set it
# when the proxy always overwrites that header, or a client could claim HTTPS.
_proxy_ssl_header = env.list("SECURE_PROXY_SSL_HEADER", default=[])
if _proxy_ssl_header and len(_proxy_ssl_header) != 2:
    raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER is 'HEADER,value', e.g. HTTP_X_FORWARDED_PROTO,https")
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) or None

SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=SESSION_COOKIE_SECURE)

# --- The shop -----------------------------------------------------------------------------------
# Absolute base URL the providers send shoppers and callbacks back to.
SHOP_BASE_URL = env.str("SHOP_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
SHOP_NAME = env.str("SHOP_NAME", default="Nordlicht Supply")
SHOP_CURRENCY = env.str("SHOP_CURRENCY", default="EUR")
SHOP_COUNTRIES = env.list("SHOP_COUNTRIES", default=["NL", "DE", "AT", "BE", "FI", "SE", "DK", "NO", "ES", "IT", "FR"])
# Flat shipping fee in minor units (VAT included) for carts with physical goods.
SHOP_SHIPPING_FEE = env.int("SHOP_SHIPPING_FEE", default=495)
SHOP_SHIPPING_VAT_BP = env.int("SHOP_SHIPPING_VAT_BP", default=2100)

# --- Email ---------------------------------------------------------------------------------------
# EMAIL_URL: smtp://user:password@host:587 (STARTTLS: smtp+tls://, TLS: smtps://), consolemail://, or
# filemail:///path. Development writes each message as a file under var/mail/ for the developer to read;
# production defaults to a local MTA. The shop sends only from Celery tasks (shop/tasks.py).
_email = env.email_url("EMAIL_URL", default="filemail://" if DEBUG else "smtp://127.0.0.1:25")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "")
EMAIL_PORT = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS", False))
EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL", False))
# filemail:// alone means var/mail/; django-environ reads filemail:///x/y as the relative path x/y.
EMAIL_FILE_PATH = str(BASE_DIR / (_email.get("EMAIL_FILE_PATH") or "var/mail"))
# Seconds before a mail server that does not answer counts as down (the task retries later).
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Nordlicht Supply <shop@example.com>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Payments -------------------------------------------------------------------------------------
PAYMENT_ROUTES = env.list("PAYMENT_ROUTES", default=["next", "klarna_payments", "klarna_authorize", "multisafepay"])
# Per-client limits on the public payment endpoints: (requests, seconds). Returns and the widget page are a
# shopper's browser (a few per payment); notifications and webhooks come from the providers (bursts).
PAYMENT_RATE_LIMITS = {
    "return": (env.int("PAYMENT_RETURN_RATE_LIMIT", default=30), 60),
    "provider": (env.int("PAYMENT_PROVIDER_RATE_LIMIT", default=600), 60),
    # Admin sign-in attempts per client address in 5 minutes: bounds password guessing, and the hashing each
    # guess costs a web worker (probe E F10). Tests sign in far more often from one address.
    "login": (env.int("ADMIN_LOGIN_RATE_LIMIT", default=1000 if TESTING else 10), 300),
}
PAYMENT_TRUSTED_PROXIES = env.int("PAYMENT_TRUSTED_PROXIES", default=0)
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["BACKEND"] = "common.cache.RedisCache"  # one client per pool, see common/cache.py
# Sessions (carts, checkout details, admin logins) live in the cache when every process shares it (Redis in
# production, see docker-compose.yml): adding to the cart or checking out then costs no database statement
# for the session, and common.cache_sessions saves a changed one in one Redis round trip. With a per-process
# cache (locmem: `make run`, the tests) they stay in the database.
_SHARED_CACHE = not CACHES["default"]["BACKEND"].endswith(("LocMemCache", "DummyCache"))
SESSION_ENGINE = env.str("SESSION_ENGINE", default="") or (
    "common.cache_sessions" if _SHARED_CACHE else "django.contrib.sessions.backends.db")
# payments reaches the shop's orders only through this implementation of payments.orders.OrderBook.
PAYMENTS_ORDER_BOOK = "shop.payment_orders.ShopOrderBook"
# How long a signed return link or status link stays valid.
PAYMENT_RETURN_MAX_AGE = env.int("PAYMENT_RETURN_MAX_AGE", default=7 * 24 * 3600)
# An attempt still waiting at the provider after this long is re-read by the reconcile task.
PAYMENT_RECONCILE_AFTER = env.int("PAYMENT_RECONCILE_AFTER", default=15 * 60)
# ...and given up on (marked expired) when the provider has no order for it after this long; an attempt
# replaced by a newer checkout is re-read for as long (its old provider page may still be paid).
PAYMENT_EXPIRE_AFTER = env.int("PAYMENT_EXPIRE_AFTER", default=48 * 3600)
PROVIDER_CONNECT_TIMEOUT = env.float("PROVIDER_CONNECT_TIMEOUT", default=3.05)
PROVIDER_READ_TIMEOUT = env.float("PROVIDER_READ_TIMEOUT", default=15.0)
PROVIDER_MAX_RETRIES = env.int("PROVIDER_MAX_RETRIES", default=3)
# Whether provider HTTP calls honour HTTP(S)_PROXY / NO_PROXY from the environment (off: direct).
PROVIDER_TRUST_ENV = env.bool("PROVIDER_TRUST_ENV", default=False)
# Upper bound on one Retry-After / backoff sleep inside a shopper's request.
PROVIDER_MAX_BACKOFF = env.float("PROVIDER_MAX_BACKOFF", default=4.0)
# No retry starts this many seconds after a call's first try. A call then takes at most about
# PROVIDER_RETRY_WINDOW + PROVIDER_MAX_BACKOFF + the connect and read timeouts (about 32 s with the defaults),
# and a request's few calls fit in the web worker's timeout (docker-compose: gunicorn --timeout 120).
PROVIDER_RETRY_WINDOW = env.float("PROVIDER_RETRY_WINDOW", default=10.0)
# The request budget of rate-limited providers (payments/providers/budget.py): shared by every process
# through this Redis (default: REDIS_URL), per process when neither is set.
PROVIDER_BUDGET_URL = env.str("PROVIDER_BUDGET_URL", default="") or env.str("REDIS_URL", default="")
# Seconds added to the provider's window: a call arrives a little after its slot was taken.
PROVIDER_BUDGET_MARGIN = env.float("PROVIDER_BUDGET_MARGIN", default=0.1)
# Longest wait for a slot before giving up (ProviderUnavailable): a shopper's call, background work.
PROVIDER_BUDGET_WAIT = {"foreground": env.float("PROVIDER_BUDGET_FOREGROUND_WAIT", default=8.0),
                        "background": env.float("PROVIDER_BUDGET_BACKGROUND_WAIT", default=120.0)}
# Slots of each window background work leaves free for this many seconds after a shopper's call.
PROVIDER_BUDGET_HEADROOM = env.int("PROVIDER_BUDGET_HEADROOM", default=2)
PROVIDER_BUDGET_HEADROOM_SECONDS = env.float("PROVIDER_BUDGET_HEADROOM_SECONDS", default=5.0)

# Seconds an upsell charge's lease outlives the longest provider call (connect + read timeout).
UPSELL_LEASE_PADDING = env.float("UPSELL_LEASE_PADDING", default=10.0)
# Days after a subscription fell past due on which its payment is retried; then it is cancelled.
SUBSCRIPTION_DUNNING_DAYS = [int(d) for d in env.list("SUBSCRIPTION_DUNNING_DAYS", default=["1", "3", "7"])]

EMULATOR_URL = env.str("EMULATOR_URL", default="http://127.0.0.1:8100").rstrip("/")

# 29 Next Admin API
NEXT_API_BASE_URL = env.str("NEXT_API_BASE_URL", default=f"{EMULATOR_URL}/next/api/admin/")
NEXT_API_TOKEN = _secret("NEXT_API_TOKEN", "emulator-token")
NEXT_API_VERSION = env.str("NEXT_API_VERSION", default="2024-04-01")
# Calls per second per token (29 Next allows 4); 0 = no budget. The test suite's emulator runs without
# its rate limit, so the tests' default is 0 (tests of the budget build their own).
NEXT_API_RATE_LIMIT = env.int("NEXT_API_RATE_LIMIT", default=0 if TESTING else 4)
NEXT_WEBHOOK_SECRET = _secret("NEXT_WEBHOOK_SECRET", "emulator-webhook-secret")
NEXT_PAYMENT_GATEWAY = env.int("NEXT_PAYMENT_GATEWAY", default=None)

# Klarna Payments (+ Customer Token, Order Management). EU playground: https://api.playground.klarna.com/
KLARNA_API_BASE_URL = env.str("KLARNA_API_BASE_URL", default=f"{EMULATOR_URL}/klarna/")
KLARNA_USERNAME = _secret("KLARNA_USERNAME", "PK_TEST")
KLARNA_PASSWORD = _secret("KLARNA_PASSWORD", "emulator-secret")
# The JS SDK: Klarna's CDN in production (https://x.klarnacdn.net/kp/lib/v1/api.js), the emulator's stand-in here.
KLARNA_SDK_URL = env.str("KLARNA_SDK_URL", default=f"{EMULATOR_URL}/klarna/js/klarna-payments.js")
# Mixed carts (one-off goods + a subscription) use intent buy_and_default_tokenize when on.
KLARNA_DEFAULT_TOKENIZE = env.bool("KLARNA_DEFAULT_TOKENIZE", default=False)

# Klarna Payment Authorize v2 (route klarna_authorize). Test host: https://api-global.test.klarna.com/
KLARNA_AUTHORIZE_API_BASE_URL = env.str("KLARNA_AUTHORIZE_API_BASE_URL", default=f"{EMULATOR_URL}/klarna-global/")
KLARNA_AUTHORIZE_PARTNER_ACCOUNT_ID = env.str("KLARNA_AUTHORIZE_PARTNER_ACCOUNT_ID",
                                              default="krn:partner:global:account:test:EMULATOR")
KLARNA_AUTHORIZE_API_KEY = _secret("KLARNA_AUTHORIZE_API_KEY", "klarna_test_api_emulator")
# The signing key of the webhook pointing at /payments/webhooks/klarna_authorize/ (shown once by Klarna).
KLARNA_AUTHORIZE_SIGNING_KEY = _secret("KLARNA_AUTHORIZE_SIGNING_KEY", "emulator-klarna-signing-key")
# While rotating: every signing key still active, by its id (Klarna-Signing-Key-Id), as a JSON object
# {"<key id>": "<key>"}. A webhook naming one of these ids is checked with its key, any other with the one above.
KLARNA_AUTHORIZE_SIGNING_KEYS = env.json("KLARNA_AUTHORIZE_SIGNING_KEYS", default={})

# MultiSafepay JSON API, Klarna orders.
# Test https://testapi.multisafepay.com/v1/json/, live https://api.multisafepay.com/v1/json/
MULTISAFEPAY_API_BASE_URL = env.str("MULTISAFEPAY_API_BASE_URL", default=f"{EMULATOR_URL}/multisafepay/v1/json/")
# The site API key: authenticates our calls and keys the HMAC of the notifications' Auth header.
MULTISAFEPAY_API_KEY = _secret("MULTISAFEPAY_API_KEY", "msp-emulator-api-key")
# redirect: MultiSafepay's payment page first; direct: straight to Klarna (show your terms at checkout).
MULTISAFEPAY_KLARNA_TYPE = env.str("MULTISAFEPAY_KLARNA_TYPE", default="redirect")
if MULTISAFEPAY_KLARNA_TYPE not in ("redirect", "direct"):
    raise ImproperlyConfigured("MULTISAFEPAY_KLARNA_TYPE must be redirect or direct")
# Seconds a notification's signed timestamp may differ from our clock (php-sdk's default; 0 disables).
MULTISAFEPAY_NOTIFICATION_TOLERANCE = env.int("MULTISAFEPAY_NOTIFICATION_TOLERANCE", default=600)

# --- Celery -----------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
# Eager tasks still borrow a producer from the broker's pool: name an in-memory broker with a host, or
# kombu falls back to amqp://localhost and warns "No hostname was supplied" on every task.
CELERY_BROKER_URL = CELERY_BROKER_URL or "memory://localhost/"
if TESTING:
    # The tests decide eager versus worker, not the caller's CELERY_BROKER_URL: in-process tiers run tasks
    # eagerly, and the worker tier (tests/integration/test_workers.py) points the app at its own Redis
    # database and starts a real worker. "memory://localhost/" keeps a stray send from reaching anyone's broker.
    CELERY_BROKER_URL, CELERY_RESULT_BACKEND, CELERY_TASK_ALWAYS_EAGER = "memory://localhost/", None, True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="shop")
# A task whose worker dies is redelivered: every task is idempotent, so running one twice is safe.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Redis redelivers an unacknowledged (acks_late) task after this many seconds.
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
}
CELERY_TIMEZONE = TIME_ZONE

# One record per line, control characters escaped, signed tokens masked (config/logging.py).
LOGGING = logging_config(level=env.str("LOG_LEVEL", default="INFO"), fmt=env.str("LOG_FORMAT", default="plain"))
