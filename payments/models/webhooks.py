"""Every message a provider (or the shopper's browser on its behalf) sent in, as it arrived, verified or
not: webhooks, per-attempt notifications, server callbacks and returns. One table because it is one path
(payments.services.inbound)."""
from django.db import models

from .attempts import PaymentAttempt


class WebhookDelivery(models.Model):
    class State(models.TextChoices):
        RECEIVED = "received", "Received"
        APPLIED = "applied", "Applied"
        IGNORED = "ignored", "Ignored (nothing to apply)"
        UNMATCHED = "unmatched", "No matching payment"
        REJECTED = "rejected", "Rejected (bad signature or body)"
        MISMATCH = "mismatch", "Does not match our payment (not applied)"
        FAILED = "failed", "Failed to apply (will be retried)"

    class Channel(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        NOTIFICATION = "notification", "Notification (attempt URL)"
        RETURN = "return", "Return or callback (attempt URL)"

    provider = models.CharField(max_length=32)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.WEBHOOK)
    method = models.CharField(max_length=8, default="POST")
    event_id = models.CharField(max_length=64, blank=True, help_text="The message's identity (shortened)")
    dedupe_key = models.CharField(max_length=64, blank=True,
                                  help_text="SHA-256 of the full identity: what deduplicates the message")
    event_type = models.CharField(max_length=64, blank=True)
    signature_valid = models.BooleanField(default=False)
    state = models.CharField(max_length=16, choices=State.choices, default=State.RECEIVED)  # indexed: Meta
    headers = models.JSONField(default=dict)
    params = models.JSONField(default=dict, blank=True, help_text="Form fields or query string")
    body = models.TextField()
    body_sha256 = models.CharField(max_length=64, blank=True, help_text="Of the raw body as received")
    error = models.CharField(max_length=500, blank=True)
    attempt = models.ForeignKey(PaymentAttempt, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="webhook_deliveries")
    apply_count = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            # Dedupe verified deliveries only: a forged body must not be able to claim (and so block)
            # the event id of a genuine delivery that arrives later.
            models.UniqueConstraint(
                fields=["provider", "dedupe_key"],
                condition=models.Q(signature_valid=True) & ~models.Q(dedupe_key=""),
                name="inbound_message_once",
            ),
        ]
        # Indexed here, not with db_index: why, in PaymentAttempt.Meta.
        indexes = [models.Index(fields=["state"], name="inbound_message_state")]

    def __str__(self):
        return f"{self.provider} {self.event_type} {self.event_id}"
