"""Every webhook as it arrived (raw body), verified or not."""
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

    provider = models.CharField(max_length=32)
    event_id = models.CharField(max_length=64, blank=True)
    event_type = models.CharField(max_length=64, blank=True)
    signature_valid = models.BooleanField(default=False)
    state = models.CharField(max_length=16, choices=State.choices, default=State.RECEIVED, db_index=True)
    headers = models.JSONField(default=dict)
    body = models.TextField()
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
                fields=["provider", "event_id"],
                condition=models.Q(signature_valid=True) & ~models.Q(event_id=""),
                name="webhook_event_once",
            ),
        ]

    def __str__(self):
        return f"{self.provider} {self.event_type} {self.event_id}"
