from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from common.money import format_minor

from ..models import Upsell
from .attempts import ReadOnlyAdmin


@admin.register(Upsell)
class UpsellAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "order", "name", "price_display", "state", "attempt_link", "reference")
    list_filter = ("attempt__status", "offer", "created_at")
    search_fields = ("reference", "order__number", "order__email", "name")
    list_select_related = ("order", "attempt")
    fields = ("reference", "order", "offer", "name", "sku", "quantity", "price_display", "state",
              "attempt_link", "created_at")
    readonly_fields = fields

    @admin.display(description="price")
    def price_display(self, obj):
        return format_minor(obj.total, obj.attempt.currency)

    @admin.display(description="payment")
    def attempt_link(self, obj):
        url = reverse("admin:payments_paymentattempt_change", args=[obj.attempt_id])
        return format_html('<a href="{}">{}</a>', url, obj.attempt.status)
