"""Subscriptions in admin: the mirror (read-only) plus the merchant's actions, each on its own
confirmation page: renew now, retry a past-due payment, cancel with a reason, move the next renewal."""
from datetime import datetime

from django import forms
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html

from common.money import format_interval, format_minor

from ..models import Subscription, SubscriptionCharge, SubscriptionEvent
from ..services.confirmations import subscription_confirmed
from ..services.renewal_strategies import CHARGING
from ..services.subscription_actions import (
    CANCEL_REASONS,
    SubscriptionActionError,
    subscription_actions_allowed,
    subscription_cancel,
    subscription_renew_now,
    subscription_reschedule,
    subscription_retry,
)
from ..services.subscription_prices import subscriptions_mispriced
from .actions import action_links, action_page
from .attempts import LedgerInline, ReadOnlyAdmin, ReadOnlyInline
from .confirmations import SUBSCRIPTION_STATEMENTS


class CancelForm(forms.Form):
    reason = forms.ChoiceField(choices=list(CANCEL_REASONS.items()))
    message = forms.CharField(required=False, max_length=255, widget=forms.Textarea(attrs={"rows": 2}))


class RescheduleForm(forms.Form):
    next_renewal_at = forms.DateTimeField(
        label="Next renewal", help_text="A date in the past makes the provider renew within about 30 minutes",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))


class ConfirmForm(forms.Form):
    pass


class RenewForm(forms.Form):
    """Renew now, for the renewal date its page stated (carried hidden: confirmations.renew)."""

    due = forms.CharField(required=False, max_length=40, widget=forms.HiddenInput)

    def clean_due(self):
        text = self.cleaned_data["due"]
        if not text:
            return None
        try:
            due = datetime.fromisoformat(text)
        except ValueError:
            raise forms.ValidationError("not a date") from None
        if due.tzinfo is None:
            raise forms.ValidationError("not a date with its time zone")
        return due


# action: (label, form, run(subscription, cleaned data, the form's one-time confirmation key))
ACTIONS = {
    "renew": ("Renew now", RenewForm,
              lambda sub, data, key: subscription_renew_now(subscription_id=sub.pk, confirmation=key, due=data["due"])),
    "retry": ("Retry the past-due payment", ConfirmForm,
              lambda sub, data, key: subscription_retry(subscription_id=sub.pk, confirmation=key)),
    "cancel": ("Cancel subscription", CancelForm,
               lambda sub, data, key: subscription_cancel(subscription_id=sub.pk, reason=data["reason"],
                                                          message=data["message"], confirmation=key)),
    "reschedule": ("Change next renewal date", RescheduleForm,
                   lambda sub, data, key: subscription_reschedule(subscription_id=sub.pk, when=data["next_renewal_at"],
                                                                  confirmation=key)),
}


class ChargeInline(ReadOnlyInline):
    model = SubscriptionCharge
    fields = ("billing_cycle", "outcome", "amount_display", "provider_order", "attempt", "failures",
              "last_failure", "idempotency_key", "created_at")
    readonly_fields = fields

    @admin.display(description="amount")
    def amount_display(self, obj):
        return format_minor(obj.amount, obj.currency)


class EventInline(LedgerInline):
    model = SubscriptionEvent
    fields = ("created_at", "kind", "source", "message", "payload_pretty")
    readonly_fields = fields


class PriceFilter(admin.SimpleListFilter):
    """Subscriptions whose provider renews at another price than the pages said (subscription_prices)."""

    title = "renewal price"
    parameter_name = "price"

    def lookups(self, request, model_admin):
        return [("mispriced", "Not the advertised price")]

    def queryset(self, request, queryset):
        if self.value() == "mispriced":
            return queryset.filter(pk__in=subscriptions_mispriced().values("pk"))
        return queryset


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = ("provider_id", "route", "email", "status", "amount_display", "every", "next_renewal_at",
                    "dunning_step")
    list_filter = ("status", "route", "interval", PriceFilter)
    search_fields = ("provider_id", "email", "order__number")
    date_hierarchy = "created_at"
    inlines = [ChargeInline, EventInline]
    fields = ("provider_id", "route", "order", "email", "status", "amount_display", "every", "next_renewal_at",
              "renewal_anchor", "cancel_reason", "past_due_since", "dunning_step", "provider_synced_at", "created_at", "actions_html")
    readonly_fields = fields

    @admin.display(description="amount")
    def amount_display(self, obj):
        """What the provider renews at, and a warning while that is not what the pages said (the shop keeps
        setting it: payments.services.subscription_prices; the history says why it has not yet)."""
        amount = format_minor(obj.amount, obj.currency)
        if obj.advertised_amount is None or obj.advertised_amount == obj.amount or obj.is_canceled:
            return amount
        return format_html('{} <strong class="errornote">renews at this, not the advertised {}: not yet '
                           'corrected at the provider (see the history)</strong>', amount,
                           format_minor(obj.advertised_amount, obj.currency))

    @admin.display(description="renews")
    def every(self, obj):
        return format_interval(obj.interval, obj.interval_count)

    @admin.display(description="merchant actions")
    def actions_html(self, obj):
        allowed = subscription_actions_allowed(obj) if obj.pk else []
        if not allowed:
            return "—"
        return action_links(obj, "admin:payments_subscription_action",
                            {key: value for key, value in ACTIONS.items() if key in allowed})

    def get_urls(self):
        return [path("<int:pk>/action/<str:action>/", self.admin_site.admin_view(self.action_view),
                     name="payments_subscription_action")] + super().get_urls()

    def action_view(self, request, pk, action):
        if action not in ACTIONS or not request.user.has_perm("payments.change_subscription"):
            messages.error(request, "That action is not available.")
            return redirect(reverse("admin:payments_subscription_changelist"))
        sub = get_object_or_404(Subscription, pk=pk)
        title, form_class, run = ACTIONS[action]
        refusal = (None if action in subscription_actions_allowed(sub)
                   else f"{title} is not possible: the subscription is {sub.status}.")

        def act(data, key):
            after = run(sub, data, key)
            if action in CHARGING and after.status in (Subscription.Status.PAST_DUE, Subscription.Status.CANCELED):
                # The charge was declined (or the token is gone): said as a refusal, with the provider's
                # reason, never as a green "done" (probe E F8).
                reason = (after.charges.order_by("-billing_cycle").values_list("last_failure", flat=True).first()
                          or "see the subscription's history")
                raise SubscriptionActionError(f"the charge was not taken ({reason}). The subscription is now "
                                              f"{after.get_status_display()}.")
            return f"done. The subscription is now {after.get_status_display()}."

        statement = SUBSCRIPTION_STATEMENTS.get(action)
        return action_page(self, request, sub, title=f"{title}: subscription {sub.provider_id}",
                           form_class=form_class, run=act, template="admin/payments/subscription/action.html",
                           context={"subscription": sub},
                           statement=(lambda data: statement(sub, data)) if statement else None, refusal=refusal,
                           replayed=lambda key: subscription_confirmed(subscription_id=sub.pk, key=key))
