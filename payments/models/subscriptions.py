"""Subscriptions as the provider runs them, mirrored; one SubscriptionCharge per billing cycle.

For 29 Next the platform renews and charges; the shop mirrors it from webhooks and reconcile, and
drives dunning (/retry/, /cancel/). Status changes go through payments.subscription_states.
"""
import secrets

from django.db import models

from common.db import PayloadField


class Subscription(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAST_DUE = "past_due", "Past due"
        RETRYING = "retrying", "Retrying"
        PAUSED = "paused", "Paused"
        CANCELED = "canceled", "Cancelled"

    route = models.CharField(max_length=32)
    provider_id = models.CharField(max_length=64)
    order = models.ForeignKey("shop.Order", related_name="subscriptions", on_delete=models.PROTECT,
                              help_text="The order that started it")
    email = models.EmailField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    interval = models.CharField(max_length=8)
    interval_count = models.PositiveSmallIntegerField(default=1)
    amount = models.PositiveIntegerField(help_text="Recurring total (minor units)")
    advertised_amount = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="What the shop's pages said one renewal costs (minor units): the provider must charge exactly this")
    currency = models.CharField(max_length=3)
    next_renewal_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Stored, not derived: a merchant's reschedule moves it, and nothing else remembers that. Empty only on
    # rows inserted without it (bulk inserts in tests and benchmarks): schedule_anchor falls back to created_at.
    renewal_anchor = models.DateTimeField(
        null=True, blank=True,
        help_text="Shop-run renewals fall on this moment's local day and time every period (month ends "
                  "clamped): the start, or the date a merchant last moved the next renewal to")
    cancel_reason = models.CharField(max_length=64, blank=True)
    customer_token = models.CharField(max_length=128, blank=True,
                                      help_text="Provider token charged for renewals (Klarna)")
    # The provider could not be reached for the token at checkout: what it can still be turned into one with
    # (Klarna Payments: the authorization, for its 60 minutes) and until when. payments.services.customer_tokens
    # asks again, then empties both.
    token_grant = models.CharField(max_length=255, blank=True, help_text="Asked again for the customer token "
                                   "with this until it is issued or refused (provider unreachable at checkout)")
    token_grant_until = models.DateTimeField(null=True, blank=True)
    past_due_since = models.DateTimeField(null=True, blank=True)
    dunning_step = models.PositiveSmallIntegerField(default=0, help_text="Retries made since past due")
    provider_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["route", "provider_id"], name="subscription_once_per_provider_id"),
        ]
        # Indexed here, not with db_index: why, in PaymentAttempt.Meta.
        indexes = [models.Index(fields=["status"], name="subscription_status")]

    def __str__(self):
        return f"{self.route} subscription {self.provider_id} ({self.status})"

    @property
    def is_canceled(self):
        return self.status == self.Status.CANCELED

    @property
    def schedule_anchor(self):
        """Where its renewal dates count from (payments.services.renewal_dates)."""
        return self.renewal_anchor or self.created_at


def new_charge_key():
    return "sc_" + secrets.token_hex(12)


class SubscriptionCharge(models.Model):
    """One billing cycle. Created before anything is charged, unique per cycle: the row is the
    exactly-once guard, and its key is the provider idempotency key where the provider has one."""

    # Looked up by one_charge_per_cycle (below), whose first column serves it.
    subscription = models.ForeignKey(Subscription, related_name="charges", on_delete=models.PROTECT,
                                     db_index=False)
    billing_cycle = models.PositiveIntegerField(help_text="0 is the initial purchase")
    idempotency_key = models.CharField(max_length=40, default=new_charge_key, editable=False)  # unique: Meta
    amount = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    # A foreign key, not one-to-one: one checkout can pay cycle 0 of several subscriptions (a cart with
    # two schedules); every later cycle has an attempt of its own.
    attempt = models.ForeignKey("payments.PaymentAttempt", null=True, blank=True,
                                on_delete=models.PROTECT, related_name="subscription_charges")
    provider_order = models.CharField(max_length=64, blank=True)
    failures = models.PositiveSmallIntegerField(default=0)
    last_failure = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["subscription", "billing_cycle"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "billing_cycle"], name="one_charge_per_cycle"),
            models.UniqueConstraint(fields=["idempotency_key"], name="charge_idempotency_key_unique"),
        ]

    def __str__(self):
        return f"{self.subscription} cycle {self.billing_cycle}"

    @property
    def outcome(self):
        """paid / refunded / not_charged / failed / pending, derived from the payment attempt (the one state
        machine). not_charged: closed without taking money (the subscriber cancelled first, the charge was
        undone, the merchant withdrew it, or it lapsed), which is neither waiting nor declined (probe H F7)."""
        from ..states import SUCCESSFUL, Status

        status = self.attempt.status if self.attempt_id else None
        if status == Status.REFUNDED:
            return "refunded"
        if status in SUCCESSFUL:
            return "paid"
        if status in (Status.CANCELLED, Status.EXPIRED):
            return "not_charged"
        if self.failures:
            return "failed"
        return "pending"


class SubscriptionEvent(models.Model):
    """Append-only history of a subscription: syncs, renewals, failures, dunning steps, actions."""

    subscription = models.ForeignKey(Subscription, related_name="events", on_delete=models.PROTECT)
    kind = models.CharField(max_length=32)
    source = models.CharField(max_length=24)
    message = models.CharField(max_length=500, blank=True)
    dedupe_key = models.CharField(max_length=120, null=True, blank=True)
    payload = PayloadField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "dedupe_key"], name="subscriptionevent_once_per_key"),
        ]

    def __str__(self):
        return f"{self.kind}: {self.message}"
