"""The admin site with a payments dashboard as its first page (the index after login).

`ShopAdminConfig` replaces django.contrib.admin in INSTALLED_APPS so the default `admin.site` is a
`ShopAdminSite`; every ModelAdmin registers on it as usual. The index shows the dashboard
(shop/dashboard.py) above the usual list of apps, and a POST to `dashboard/reconcile/` queues the same
reconcile task beat runs, for attempts stuck between checkout and an outcome.
"""
from django.contrib import admin, messages
from django.contrib.admin.apps import AdminConfig
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse


class ShopAdminSite(admin.AdminSite):
    index_template = "admin/dashboard.html"

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
