"""The Celery app and its beat schedule.

Without CELERY_BROKER_URL the settings make every task run eagerly in-process, so a laptop needs no
broker; with it (production, CI) tasks go to Redis and `make worker` runs them.
"""
import os

from celery import Celery
from celery.schedules import crontab
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # Attempts whose shopper never came back and whose webhook never arrived.
    "reconcile-stuck-payments": {
        "task": "payments.tasks.reconcile_stuck_payments",
        "schedule": crontab(minute="*/5"),
    },
    # Upsell charges left without an outcome by a dead worker or exhausted retries.
    "reconcile-upsells": {
        "task": "payments.tasks.reconcile_upsells",
        "schedule": crontab(minute="*/5"),
    },
    # Mirror of provider-run subscriptions, for webhooks that never came.
    "reconcile-subscriptions": {
        "task": "payments.tasks.reconcile_subscriptions",
        "schedule": crontab(minute=17),
    },
    # Provider-run subscriptions whose renewal price is not what the pages said (a failed alignment), nearest
    # renewal first: corrected as soon as the provider answers, before the renewal charges the wrong price.
    "align-subscription-prices": {
        "task": "payments.tasks.align_subscription_prices",
        "schedule": crontab(minute="*/15"),
    },
    # Subscriptions whose renewal date passed: read them back so renewals are recorded promptly.
    "check-due-subscriptions": {
        "task": "payments.tasks.check_due_subscriptions",
        "schedule": crontab(minute="*/15"),
    },
    # Renewals the shop charges itself (Klarna customer tokens).
    "charge-due-subscriptions": {
        "task": "payments.tasks.charge_due_subscriptions",
        "schedule": crontab(minute="*/10"),
    },
    # Customer tokens the provider could not be reached for at checkout, asked for again while the checkout's
    # authorization lives (an hour for Klarna).
    "issue-customer-tokens": {
        "task": "payments.tasks.issue_customer_tokens",
        "schedule": crontab(minute="*/5"),
    },
    # Captures and refunds the merchant made in the dashboard of a provider that sends no message about them.
    "book-dashboard-operations": {
        "task": "payments.tasks.book_dashboard_operations",
        "schedule": crontab(minute=41),
    },
    # Retry past-due subscriptions on the dunning schedule, then cancel them.
    "dunning": {
        "task": "payments.tasks.run_dunning",
        "schedule": crontab(minute=5),
    },
    # Shopper emails whose own task did not send them (broker down, mail server down past its retries).
    "send-pending-emails": {
        "task": "shop.tasks.send_pending_emails",
        "schedule": crontab(minute="*/5"),
    },
}


@worker_init.connect
def _preload(**kwargs):
    """Import what the tasks import lazily (their services, the routes' adapters, the URLconf, the email
    content) and compile the email templates in the worker's parent, before it forks its pool: every
    prefork child starts with them, shared copy-on-write, instead of each paying for them on its first
    task. Nothing here opens a connection (database, provider session, mail server): those must be made
    after the fork.

    Then freezes the garbage collector's view of all that (gc.freeze): the children never scan those
    objects again. Without it each child's full collections walked the ~150,000 preloaded objects
    (about 0.1 s of CPU each, measured) and wrote to their headers, copying the shared pages."""
    import gc
    from importlib import import_module

    from django.conf import settings
    from django.core.mail.utils import DNS_NAME
    from django.template.defaultfilters import date as date_filter
    from django.template.loader import get_template
    from django.urls import get_resolver
    from django.utils import timezone

    for name in ("payments.services.renewals", "payments.services.renewal_open", "payments.services.upsells",
                 "payments.services.reconcile", "payments.services.inbound", "payments.services.dunning",
                 "payments.services.subscription_sweep", "payments.services.subscription_actions",
                 "shop.emails", "shop.email_content"):
        import_module(name)
    from payments.providers.registry import route_keys

    route_keys()  # imports every route's adapter package (its clients are built later, per process)
    get_resolver().reverse_dict  # noqa: B018 - the URLconf imported and indexed: every charge signs links

    # Every email template, those the kinds' templates extend and include too (compiled on first render
    # otherwise); the `date` filter's month names and format modules and the host name in Message-IDs are
    # looked up on first use: 4-7 ms of each child's first send, measured, unless done here once.
    for path in sorted((settings.BASE_DIR / "templates" / "emails").iterdir()):
        get_template(f"emails/{path.name}")
    date_filter(timezone.now(), "j F Y")
    DNS_NAME.get_fqdn()
    # Last, after everything the children should share is allocated (the Python docs' advice for a
    # parent that forks without exec): the pool is forked right after this signal.
    gc.freeze()
