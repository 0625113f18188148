"""The numbers of the admin dashboard (shop/admin_site.py): a fixed set of aggregate queries per page.

Every figure is one GROUP BY or conditional COUNT over an indexed column, so the page costs the same
number of queries with ten orders or ten million (tests/integration/test_dashboard.py counts them).
Each figure carries the admin changelist URL that lists the rows behind it.
"""
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone

from common.money import format_minor
from payments.models import PaymentAttempt, Subscription, Upsell, WebhookDelivery
from payments.providers.registry import all_adapters
from payments.states import IN_BETWEEN, SUCCESSFUL, Status

from .dashboard_chart import bar_chart
from .models import Order

PERIODS = {"1": "Today", "7": "Last 7 days", "30": "Last 30 days", "90": "Last 90 days"}
DEFAULT_PERIOD = "30"
# Recurring amounts per month, by billing interval (a year is 12 months, a week 52/12 of a month...).
MONTHS_PER = {"day": 12 / 365, "week": 12 / 52, "month": 1, "year": 12}
FINISHED = [Status.FAILED, Status.CANCELLED, Status.EXPIRED, *SUCCESSFUL]


@dataclass(frozen=True)
class Figure:
    label: str
    value: str
    url: str = ""
    tone: str = ""  # "", "warn" or "bad": how the card is coloured


def _list(model: str, **params) -> str:
    return reverse(f"admin:{model}_changelist") + ("?" + urlencode(params) if params else "")


def period_of(raw) -> tuple[str, date]:
    """The chosen period (anything unknown falls back to the default) and its first local day."""
    key = raw if raw in PERIODS else DEFAULT_PERIOD
    today = timezone.localdate()
    return key, today - timedelta(days=int(key) - 1)


def dashboard(*, period: str | None) -> dict:
    key, first_day = period_of(period)
    tz = timezone.get_current_timezone()
    since = timezone.make_aware(timezone.datetime.combine(first_day, timezone.datetime.min.time()), tz)
    day = since.isoformat()  # aware: the admin list filters from the same instant
    return {"periods": PERIODS, "period": key, "since": since,
            "orders": _orders(since, day), "routes": _routes(since, day), "failures": _failures(since, day),
            "attention": _attention(since, day), "subscriptions": _subscriptions(),
            "upsells": _upsells(since, day), "chart": _chart(since, first_day, tz)}


def _orders(since, day) -> list[Figure]:
    rows = (Order.objects.filter(created_at__gte=since).values("currency")
            .annotate(n=Count("pk"), paid=Count("pk", filter=Q(status=Order.Status.PAID)),
                      revenue=Sum("total", filter=Q(status=Order.Status.PAID))).order_by("currency"))
    rows = list(rows) or [{"currency": settings.SHOP_CURRENCY, "n": 0, "paid": 0, "revenue": 0}]
    # What was given back on those orders: a payment books its provider order's refunds (probe E F5: revenue
    # counted refunded orders in full).
    refunded = dict(PaymentAttempt.objects.filter(order__created_at__gte=since, order__status=Order.Status.PAID)
                    .values("currency").annotate(refunded=Sum("refunded_amount")).order_by()
                    .values_list("currency", "refunded"))
    figures = [Figure("Orders placed", str(sum(r["n"] for r in rows)), _list("shop_order", created_at__gte=day)),
               Figure("Orders paid", str(sum(r["paid"] for r in rows)),
                      _list("shop_order", created_at__gte=day, status__exact="paid"))]
    for row in rows:
        back = refunded.get(row["currency"]) or 0
        figures.append(Figure(f"Revenue net of refunds ({row['currency']})",
                              format_minor((row["revenue"] or 0) - back, row["currency"]),
                              _list("shop_order", created_at__gte=day, status__exact="paid")))
        figures.append(Figure(f"Refunded ({row['currency']})", format_minor(back, row["currency"]),
                              _list("payments_paymentattempt", created_at__gte=day, refunded_amount__gt=0)))
    return figures


def _routes(since, day) -> list[dict]:
    names = {adapter.key: adapter.display_name or adapter.key for adapter in all_adapters()}
    rows = (PaymentAttempt.objects.filter(created_at__gte=since).values("route")
            .annotate(n=Count("pk"), ok=Count("pk", filter=Q(status__in=SUCCESSFUL)),
                      done=Count("pk", filter=Q(status__in=FINISHED))).order_by("route"))
    return [{"route": row["route"], "name": names.get(row["route"], row["route"]), "attempts": row["n"],
             "succeeded": row["ok"], "rate": f"{100 * row['ok'] / row['done']:.0f} %" if row["done"] else "–",
             "url": _list("payments_paymentattempt", route=row["route"], created_at__gte=day)} for row in rows]


def _failures(since, day) -> list[dict]:
    rows = (PaymentAttempt.objects.filter(created_at__gte=since, status__in=[Status.FAILED, Status.EXPIRED,
                                                                            Status.CANCELLED])
            .values("status", "failure_reason").annotate(n=Count("pk")).order_by("-n", "status")[:12])
    labels = dict(Status.choices)
    return [{"status": labels.get(row["status"], row["status"]), "reason": row["failure_reason"] or "(no reason given)",
             "count": row["n"], "url": _list("payments_paymentattempt", status__exact=row["status"],
                                             failure_reason=row["failure_reason"], created_at__gte=day)}
            for row in rows]


def _attention(since, day) -> list[Figure]:
    now = timezone.now()
    stuck_before = now - timedelta(seconds=settings.PAYMENT_RECONCILE_AFTER)
    attempts = PaymentAttempt.objects.aggregate(
        stuck=Count("pk", filter=Q(status__in=IN_BETWEEN, created_at__lte=stuck_before)),
        expiring=Count("pk", filter=Q(status=Status.AUTHORIZED, authorization_expires_at__gte=now,
                                      authorization_expires_at__lte=now + timedelta(days=7))))
    hooks = WebhookDelivery.objects.filter(received_at__gte=since).aggregate(
        rejected=Count("pk", filter=Q(state=WebhookDelivery.State.REJECTED)),
        failed=Count("pk", filter=Q(state__in=[WebhookDelivery.State.FAILED, WebhookDelivery.State.MISMATCH])))
    return [
        Figure("Attempts stuck in between", str(attempts["stuck"]),
               _list("payments_paymentattempt", status__in="created,pending",
                     created_at__lte=stuck_before.isoformat()), "warn" if attempts["stuck"] else ""),
        Figure("Authorizations expiring within 7 days", str(attempts["expiring"]),
               _list("payments_paymentattempt", expiring="7"), "warn" if attempts["expiring"] else ""),
        Figure("Webhooks rejected", str(hooks["rejected"]),
               _list("payments_webhookdelivery", state__exact="rejected", received_at__gte=day),
               "bad" if hooks["rejected"] else ""),
        Figure("Webhooks failed or mismatched", str(hooks["failed"]),
               _list("payments_webhookdelivery", state__in="failed,mismatch", received_at__gte=day),
               "bad" if hooks["failed"] else ""),
    ]


def _subscriptions() -> list[Figure]:
    rows = Subscription.objects.values("status", "interval", "interval_count", "currency").annotate(
        n=Count("pk"), amount=Sum("amount"))
    counts, mrr = {}, {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + row["n"]
        if row["status"] == Subscription.Status.ACTIVE:
            per_month = row["amount"] / (MONTHS_PER.get(row["interval"], 1) * (row["interval_count"] or 1))
            mrr[row["currency"]] = mrr.get(row["currency"], 0) + per_month
    figures = [Figure(label, str(counts.get(status, 0)), _list("payments_subscription", status__exact=status),
                      "warn" if status == "past_due" and counts.get(status) else "")
               for status, label in (("active", "Active"), ("past_due", "Past due"), ("canceled", "Cancelled"))]
    for currency, amount in sorted(mrr.items()) or [(settings.SHOP_CURRENCY, 0)]:
        figures.append(Figure(f"Monthly recurring revenue ({currency})", format_minor(round(amount), currency),
                              _list("payments_subscription", status__exact="active")))
    return figures


def _upsells(since, day) -> list[Figure]:
    offered = PaymentAttempt.objects.filter(created_at__gte=since, kind=PaymentAttempt.Kind.CHECKOUT,
                                            status__in=SUCCESSFUL, provider_supports_upsell=True).count()
    upsells = Upsell.objects.filter(created_at__gte=since).aggregate(
        accepted=Count("pk"), charged=Count("pk", filter=Q(attempt__status__in=SUCCESSFUL)))
    return [Figure("Paid orders eligible for offers", str(offered),
                   _list("payments_paymentattempt", kind__exact="checkout", provider_supports_upsell__exact="1",
                         created_at__gte=day)),
            Figure("Offers accepted", str(upsells["accepted"]), _list("payments_upsell", created_at__gte=day)),
            Figure("Upsells charged", str(upsells["charged"]),
                   _list("payments_upsell", created_at__gte=day, attempt__status__in=",".join(SUCCESSFUL)))]


def _chart(since, first_day, tz) -> dict:
    rows = (PaymentAttempt.objects.filter(created_at__gte=since, status__in=SUCCESSFUL)
            .annotate(day=TruncDate("created_at", tzinfo=tz)).values("day", "route").annotate(n=Count("pk")))
    days = [first_day + timedelta(days=i) for i in range((timezone.localdate() - first_day).days + 1)]
    return bar_chart(days, {(row["day"], row["route"]): row["n"] for row in rows})
