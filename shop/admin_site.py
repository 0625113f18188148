"""The admin site with a payments dashboard as its first page (the index after login).

`ShopAdminConfig` replaces django.contrib.admin in INSTALLED_APPS so the default `admin.site` is a
`ShopAdminSite`; every ModelAdmin registers on it as usual. The index shows the dashboard
(shop/dashboard.py) above the usual list of apps, and a POST to `dashboard/reconcile/` queues the same
reconcile task beat runs, for attempts stuck between checkout and an outcome.

Every admin view first checks its query string (`unusable_query`): list filters, the date hierarchy and
search reach the ORM from the URL, and a NUL byte (PostgreSQL text cannot hold one) or a date part no
calendar has (`created_at__year=-1`, a year of twenty digits) would fail inside the database or Python's
datetime, as a 500. Such a URL is answered 400 with the reason instead.
"""
import re
from functools import update_wrapper

from django.contrib import admin, messages
from django.contrib.admin.apps import AdminConfig
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse

# The parts of a date or time a lookup can filter on (Django's transforms), with the values they can have.
DATE_PARTS = {"year": (1, 9999), "iso_year": (1, 9999), "month": (1, 12), "day": (1, 31), "week": (1, 53),
              "week_day": (1, 7), "iso_week_day": (1, 7), "quarter": (1, 4), "hour": (0, 23),
              "minute": (0, 59), "second": (0, 59)}
WHOLE_NUMBER = re.compile(r"-?[0-9]{1,5}")


def unusable_query(query) -> str | None:
    """Why an admin URL's query string (a QueryDict) cannot be used as filters, or None when it can."""
    for key, values in query.lists():
        if "\x00" in key or any("\x00" in value for value in values):
            return "A NUL character cannot be part of a filter or search."
        part = next((part for part in key.split("__")[1:] if part in DATE_PARTS), None)
        if part is None:
            continue
        low, high = DATE_PARTS[part]
        items = [item for value in values for item in (value.split(",") if key.endswith("__in") else [value])]
        if not all(WHOLE_NUMBER.fullmatch(item.strip()) and low <= int(item) <= high for item in items):
            return f"{key} is not a usable filter: a {part.replace('_', ' ')} is a whole number from {low} to {high}."
    return None


class ShopAdminSite(admin.AdminSite):
    index_template = "admin/dashboard.html"

    def admin_view(self, view, cacheable=False):
        """Every admin view, behind the usual login and permission check, refuses an unusable query string."""
        def with_usable_query(request, *args, **kwargs):
            reason = unusable_query(request.GET)
            if reason is not None:
                return HttpResponseBadRequest(reason, content_type="text/plain; charset=utf-8")
            return view(request, *args, **kwargs)

        return super().admin_view(update_wrapper(with_usable_query, view), cacheable)

    def login(self, request, extra_context=None):
        """Django's sign-in, with a per-client limit on attempts (settings.PAYMENT_RATE_LIMITS["login"])."""
        from payments.throttle import allowed

        if request.method == "POST":
            ok, retry_after = allowed(request, "login")
            if not ok:
                response = HttpResponse(f"Too many sign-in attempts from this address. Try again in "
                                        f"{retry_after} seconds.", status=429, content_type="text/plain; charset=utf-8")
                response["Retry-After"] = str(retry_after)
                return response
        return super().login(request, extra_context)

    def index(self, request, extra_context=None):
        from .dashboard import dashboard

        return super().index(request, {**dashboard(period=request.GET.get("period")), **(extra_context or {})})

    def get_urls(self):
        return [path("dashboard/reconcile/", self.admin_view(self.reconcile), name="dashboard_reconcile"),
                *super().get_urls()]

    def reconcile(self, request):
        """Re-read stuck attempts from their providers now: the beat task, queued (run inline without a broker)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm("payments.change_paymentattempt"):
            messages.error(request, "You may not reconcile payments.")
            return HttpResponseRedirect(reverse("admin:index"))
        from payments.services.dispatch import enqueue_on_commit
        from payments.tasks import reconcile_stuck_payments

        enqueue_on_commit(reconcile_stuck_payments)
        messages.success(request, "Reconciling stuck payments: each is read back from its provider.")
        return HttpResponseRedirect(reverse("admin:index"))


class ShopAdminConfig(AdminConfig):
    default_site = "shop.admin_site.ShopAdminSite"
