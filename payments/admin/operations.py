"""Order management from the payment's admin page: capture (with tracking), refund, cancel, release,
extend; and a filter for authorizations about to lapse."""
from datetime import datetime, timedelta
from functools import partial

from django import forms
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils import timezone

from common.fields import MoneyField

from ..models import PaymentAttempt, PaymentOperation
from ..services.confirmations import operation_confirmed
from ..services.operation_outcomes import provider_figures_book
from ..services.order_management import (
    operations_allowed,
    payment_cancel,
    payment_capture,
    payment_extend,
    payment_refund,
    payment_release_remaining,
)
from ..services.provider_orders import provider_order
from .actions import action_page
from .confirmations import PAYMENT_STATEMENTS


class OperationForm(forms.Form):
    """Amounts are typed in the payment's currency ('12.90') and cleaned to its minor units."""

    def __init__(self, *args, currency, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if isinstance(field, MoneyField):
                field.currency = currency
                field.label = f"{field.label or 'Amount'} ({currency})"


class CaptureForm(OperationForm):
    amount = MoneyField(label="Amount", required=False, min_minor=1,
                        help_text="e.g. 12.90; empty captures everything left")
    tracking_number = forms.CharField(required=False, max_length=100)
    carrier = forms.CharField(required=False, max_length=100)
    # Set by the confirmation page when the amount was left empty: the amount it carries is "everything left"
    # as stated, and the capture is refused if that changed before the merchant confirmed.
    everything = forms.BooleanField(required=False, widget=forms.HiddenInput)


class RefundForm(OperationForm):
    amount = MoneyField(label="Amount", min_minor=1, help_text="e.g. 12.90")
    description = forms.CharField(required=False, max_length=255)


class ConfirmForm(OperationForm):
    pass


# name: (label, form, run(attempt, cleaned data, user, the form's one-time confirmation key))
OPERATIONS = {
    "capture": ("Capture", CaptureForm, lambda a, d, u, k: payment_capture(
        attempt_id=a.pk, amount=d["amount"], everything=d["everything"], tracking_number=d["tracking_number"],
        carrier=d["carrier"], user=u, confirmation=k)),
    "refund": ("Refund", RefundForm, lambda a, d, u, k: payment_refund(
        attempt_id=a.pk, amount=d["amount"], description=d["description"], user=u, confirmation=k)),
    "cancel": ("Cancel authorization", ConfirmForm,
               lambda a, d, u, k: payment_cancel(attempt_id=a.pk, user=u, confirmation=k)),
    "release": ("Release remaining authorization", ConfirmForm,
                lambda a, d, u, k: payment_release_remaining(attempt_id=a.pk, user=u, confirmation=k)),
    "extend": ("Extend authorization time", ConfirmForm,
               lambda a, d, u, k: payment_extend(attempt_id=a.pk, user=u, confirmation=k)),
}


class ExpiringFilter(admin.SimpleListFilter):
    title = "authorization expiry"
    parameter_name = "expiring"

    def lookups(self, request, model_admin):
        return [("7", "Expires within 7 days"), ("expired", "Already expired")]

    def queryset(self, request, queryset):
        now = timezone.now()
        held = queryset.filter(status="authorized", authorization_expires_at__isnull=False)
        if self.value() == "7":
            return held.filter(authorization_expires_at__gte=now,
                               authorization_expires_at__lte=now + timedelta(days=7)).order_by("authorization_expires_at")
        if self.value() == "expired":
            return held.filter(authorization_expires_at__lt=now)
        return queryset


def outcome_message(op) -> str:
    """What the merchant is told about an operation that was not refused: done, done without effect (an
    extension that did not move the expiry), or sent with its outcome unknown (the provider's answer was
    lost: it is not a refusal, the money may have moved)."""
    if op.result == PaymentOperation.Result.PENDING:
        return ("sent, but the provider's answer was lost, so the outcome is unknown. The shop reads the "
                "provider's order back and settles it; the timeline and the operations below say when. While "
                "it is pending, trying it again repeats it under the same key, never twice.")
    if op.result == PaymentOperation.Result.REFUSED:
        return f"not done: {op.error}"
    if op.kind == PaymentOperation.Kind.EXTEND and not (op.details or {}).get("moved", True):
        expires = op.attempt.authorization_expires_at
        return ("the provider accepted it, but the expiry did not move"
                + (f" (still {timezone.localtime(expires):%Y-%m-%d %H:%M})" if expires else "")
                + ": it extends to today plus its authorization period.")
    if op.error:
        return "done: the provider's answer was lost, but its order read back shows it done."
    return "done."


def authorization_expiry(attempt, order) -> datetime | None:
    """When the payment's authorization lapses, only while some of it is still held (neither captured nor
    cancelled nor released): once nothing is left to capture, the expiry of an authorization means nothing
    (a shipped MultiSafepay order kept saying when its authorization would expire)."""
    if order is None or order.remaining <= 0:
        return None
    return attempt.authorization_expires_at


def operation_urls(model_admin):
    return [path("<int:pk>/operation/<str:name>/", model_admin.admin_site.admin_view(
        lambda request, pk, name: operation_view(model_admin, request, pk, name)),
        name="payments_paymentattempt_operation")]


def operation_view(model_admin, request, pk, name):
    if name not in OPERATIONS or not request.user.has_perm("payments.change_paymentattempt"):
        messages.error(request, "That action is not available.")
        return redirect(reverse("admin:payments_paymentattempt_changelist"))
    attempt = get_object_or_404(PaymentAttempt, pk=pk)
    title, form_class, run = OPERATIONS[name]
    order = provider_order(attempt) if attempt.kind != PaymentAttempt.Kind.UPSELL else None
    if request.method == "GET" and order is not None and provider_figures_book(order, source="admin"):
        attempt.refresh_from_db()  # captured or refunded in the provider's dashboard: the figures shown below
    # A stale page or a hand-typed URL: the action is not open to this payment now; nothing runs.
    refusal = (None if order is not None and name in {op.value for op in operations_allowed(attempt, order)}
               else f"{title} is not possible for this payment now.")

    def act(data, key):
        return outcome_message(run(attempt, data, request.user.get_username(), key))

    statement = PAYMENT_STATEMENTS.get(name)
    return action_page(model_admin, request, attempt, title=f"{title}: payment {attempt.reference}",
                       form_class=partial(form_class, currency=attempt.currency), run=act,
                       template="admin/payments/paymentattempt/operation.html", context={
                           "attempt": attempt, "authorization_expires_at": authorization_expiry(attempt, order)},
                       statement=partial(statement, attempt) if statement else None, refusal=refusal,
                       replayed=lambda key: operation_confirmed(attempt_id=attempt.pk, key=key))
