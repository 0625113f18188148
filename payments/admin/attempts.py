"""Merchant views of money in flight. Everything here is read-only: payment state changes only through
the state machine, and the ledger is append-only."""
import json

from django.contrib import admin, messages
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

from common.money import format_minor

from ..models import PaymentAttempt, PaymentEvent, PaymentOperation, WebhookDelivery
from ..providers.registry import get_adapter
from ..providers.types import Operation
from ..services.inbound import inbound_apply
from ..services.operation_outcomes import provider_figures_book
from ..services.order_management import operations_allowed, provider_order
from .actions import action_links
from .operations import OPERATIONS, ExpiringFilter, operation_urls


def pretty_json(value):
    """Payloads as indented JSON inside <pre>; format_html escapes them, so a hostile payload stays text."""
    if value in (None, "", {}):
        return "—"
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return format_html("<pre style='white-space:pre-wrap;max-width:80ch'>{}</pre>", value)
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    return format_html("<pre style='white-space:pre-wrap;max-width:80ch'>{}</pre>", text)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    """A ledger shown inside its owner's page: nothing added, changed or deleted from admin."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class LedgerInline(ReadOnlyInline):
    """Event timelines: oldest first, payloads pretty-printed and escaped."""

    ordering = ("created_at", "id")

    @admin.display(description="payload")
    def payload_pretty(self, obj):
        return pretty_json(obj.payload)


class PaymentEventInline(LedgerInline):
    model = PaymentEvent
    fields = ("created_at", "kind", "source", "from_status", "to_status", "message", "payload_pretty")
    readonly_fields = fields


class PaymentOperationInline(ReadOnlyInline):
    model = PaymentOperation
    fields = ("created_at", "kind", "amount_display", "result", "provider_id", "error", "created_by",
              "idempotency_key")
    readonly_fields = fields

    @admin.display(description="amount")
    def amount_display(self, obj):
        return "—" if obj.amount is None else format_minor(obj.amount, obj.attempt.currency)


class DuplicateFilter(admin.SimpleListFilter):
    """Second payments for an already paid order: undone by the shop, or waiting for the merchant."""

    title = "duplicate payments"
    parameter_name = "duplicate"

    def lookups(self, request, model_admin):
        return [("open", "Not undone yet"), ("all", "All duplicates")]

    def queryset(self, request, queryset):
        if self.value() == "all":
            return queryset.filter(duplicate_of__isnull=False)
        if self.value() == "open":
            return queryset.filter(duplicate_of__isnull=False, status__in=["authorized", "captured",
                                                                          "partially_refunded"])
        return queryset


def order_figures(order) -> str:
    """The provider order's money in words. Money left to capture only where the route captures from the
    shop; "could not be read" only when a read was tried and failed (a payment that is not held, or a
    route without order management, is not read: our books are then simply ours)."""
    capabilities = get_adapter(order.head.route).capabilities
    if not capabilities.operations:
        return format_html("{} ({}) offers no order management from the shop",
                           get_adapter(order.head.route).display_name, order.head.get_status_display().lower())
    figures = [f"{order.money(order.captured)} captured", f"{order.money(order.refunded)} refunded"]
    if Operation.CAPTURE in capabilities.operations:
        figures.append(f"{order.money(order.remaining)} left to capture")
    source = "" if order.from_provider else \
        " (from our books: the provider could not be read)" if order.read_failed else " (from our books)"
    return format_html("{}{}", ", ".join(figures), source)


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(ReadOnlyAdmin):
    list_display = ("reference", "order_link", "kind", "route", "status", "amount_display", "captured_display",
                    "refunded_display", "provider_reference", "created_at")
    list_filter = (ExpiringFilter, DuplicateFilter, "status", "kind", "route", "created_at")
    search_fields = ("reference", "provider_reference", "order__number", "order__email")
    date_hierarchy = "created_at"
    list_select_related = ("order",)
    inlines = [PaymentEventInline, PaymentOperationInline]
    readonly_fields = ("reference", "order_link", "kind", "route", "status", "amount_display", "currency",
                       "captured_display", "refunded_display", "authorization_expiry", "provider_reference",
                       "redirect_url", "failure_reason", "duplicate_of", "created_at", "updated_at", "operations_html")
    fields = readonly_fields

    def get_urls(self):
        return operation_urls(self) + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # What was captured or refunded in the provider's own dashboard is booked before the page shows the
        # figures (probe I I8).
        pk = int(object_id) if str(object_id).isdigit() and len(str(object_id)) < 19 else None
        attempt = PaymentAttempt.objects.filter(pk=pk).first() if pk else None
        if attempt is not None and attempt.kind != PaymentAttempt.Kind.UPSELL:
            provider_figures_book(provider_order(attempt), source="admin")
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="order management")
    def operations_html(self, obj):
        if obj.pk is None:
            return "—"
        order = provider_order(obj)
        if order.head.pk != obj.pk:
            url = reverse("admin:payments_paymentattempt_change", args=[order.head.pk])
            return format_html('Part of the provider order of <a href="{}">{}</a>: manage it there.', url,
                               order.head.reference)
        allowed = {op.value for op in operations_allowed(obj, order)}
        offered = {key: value for key, value in OPERATIONS.items() if key in allowed}
        summary = format_html("Provider order {}: {}.", order.head.provider_reference or "—", order_figures(order))
        if not offered:
            return summary
        return format_html("{}<br>{}", summary, action_links(obj, "admin:payments_paymentattempt_operation", offered))

    @admin.display(description="order", ordering="order__number")
    def order_link(self, obj):
        url = reverse("admin:shop_order_change", args=[obj.order_id])
        return format_html('<a href="{}">{}</a>', url, obj.order.number)

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj):
        return format_minor(obj.amount, obj.currency)

    @admin.display(description="captured", ordering="captured_amount")
    def captured_display(self, obj):
        return format_minor(obj.captured_amount, obj.currency)

    @admin.display(description="refunded", ordering="refunded_amount")
    def refunded_display(self, obj):
        return format_minor(obj.refunded_amount, obj.currency)

    @admin.display(description="authorization expires")
    def authorization_expiry(self, obj):
        # Only while some of it is held: a payment stays Authorized while money is left to capture, and once
        # nothing is (captured in full, cancelled, released), its expiry means nothing (as on the operation page).
        if obj.status != "authorized" or obj.authorization_expires_at is None:
            return "—"
        return date_format(timezone.localtime(obj.authorization_expires_at), "DATETIME_FORMAT")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "provider", "channel", "event_type", "event_id", "signature_valid", "state",
                    "attempt", "apply_count")
    list_filter = ("provider", "channel", "state", "signature_valid", "event_type")
    search_fields = ("event_id", "event_type", "attempt__reference", "attempt__order__number")
    date_hierarchy = "received_at"
    actions = ["reapply"]
    readonly_fields = ("provider", "channel", "method", "event_id", "event_type", "signature_valid", "state", "error",
                       "attempt", "apply_count", "received_at", "processed_at", "headers_pretty",
                       "params", "body_sha256", "body_pretty")
    fields = readonly_fields

    @admin.display(description="headers")
    def headers_pretty(self, obj):
        return pretty_json(obj.headers)

    @admin.display(description="body")
    def body_pretty(self, obj):
        return pretty_json(obj.body)

    def has_change_permission(self, request, obj=None):
        # Needed for the action; every field stays read-only.
        return request.user.has_perm("payments.change_webhookdelivery")

    @admin.action(description="Re-apply selected deliveries (verified ones only)")
    def reapply(self, request, queryset):
        applied = skipped = 0
        for delivery in queryset:
            if not delivery.signature_valid:
                skipped += 1
                continue
            inbound_apply(delivery_id=delivery.pk, force=True)
            applied += 1
        self.message_user(request, f"Re-applied {applied} deliveries; skipped {skipped} unverified.",
                          messages.SUCCESS if applied else messages.WARNING)
