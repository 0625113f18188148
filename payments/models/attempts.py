"""Money in flight. PaymentAttempt: one try at collecting an amount for an order through one route (the
checkout total, an upsell, a renewal); its status is changed only by payments.states. PaymentEvent: the
append-only ledger of everything that happened to an attempt."""
import secrets

from django.db import models

from common.db import PayloadField

from ..states import Status


def new_reference():
    # Our id for the attempt, sent to the provider (tags/metadata) and signed into return URLs.
    return "pa_" + secrets.token_hex(10)


class PaymentAttempt(models.Model):
    class Kind(models.TextChoices):
        CHECKOUT = "checkout", "Checkout"
        UPSELL = "upsell", "Post-purchase upsell"
        RENEWAL = "renewal", "Subscription renewal"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CHECKOUT)
    order = models.ForeignKey("shop.Order", related_name="payment_attempts", on_delete=models.PROTECT)
    # Indexes are in Meta, chosen by the queries that use them (see there).
    route = models.CharField(max_length=32)
    reference = models.CharField(max_length=40, default=new_reference, editable=False)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.CREATED)
    amount = models.PositiveIntegerField(help_text="minor units")
    currency = models.CharField(max_length=3)
    provider_reference = models.CharField(
        max_length=64, blank=True, help_text="The provider's id, e.g. the 29 Next order number"
    )
    redirect_url = models.URLField(max_length=500, blank=True)
    client_token = models.TextField(blank=True, help_text="For widget routes: the token the payment widget loads")
    provider_session = models.CharField(max_length=64, blank=True, help_text="e.g. the Klarna payment session id")
    session_expires_at = models.DateTimeField(null=True, blank=True,
                                              help_text="A widget session must be replaced before this moment")
    widget = models.JSONField(default=dict, blank=True,
                              help_text="What our payment page needs to load the provider's widget")
    failure_reason = models.CharField(max_length=255, blank=True)
    captured_amount = models.PositiveIntegerField(default=0, help_text="minor units captured so far")
    refunded_amount = models.PositiveIntegerField(default=0, help_text="minor units refunded so far")
    authorization_expires_at = models.DateTimeField(null=True, blank=True, db_index=True,
                                                    help_text="When the provider's authorization lapses")
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="duplicates",
        help_text="Set when this payment arrived for an order another checkout had already paid: it is undone")
    expected_lines = models.JSONField(
        null=True, blank=True,
        help_text="What this checkout asked the provider for: quantity per provider product id. A provider "
                  "payment reporting other lines is refused. Empty for payments checked against their order")
    provider_supports_upsell = models.BooleanField(
        default=False, help_text="The provider said this payment can take one-click upsells"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        # Every index is written on each insert and on each update of a status (not a HOT update), so only
        # what a query looks up is indexed: a reference (the return URL, webhooks), a provider's id, a status
        # (reconcile, admin; the pair serves status alone too). Not the route: four values, a scan of a
        # route's attempts is never what a lookup wants, and the planner took it for one. No LIKE pattern
        # indexes Django adds beside db_index/unique text fields on PostgreSQL: no query matches a prefix
        # (admin search is case-insensitive and cannot use one). The hot tables of payments and shop
        # declare theirs in Meta for the same reason (tests/integration/test_indexes.py).
        indexes = [models.Index(fields=["status", "created_at"]),
                   models.Index(fields=["provider_reference"], name="attempt_provider_reference")]
        constraints = [models.UniqueConstraint(fields=["reference"], name="attempt_reference_unique")]

    def __str__(self):
        return f"{self.reference} ({self.route}, {self.status})"


class PaymentEvent(models.Model):
    class Kind(models.TextChoices):
        TRANSITION = "transition", "Status change"
        IGNORED = "ignored", "Ignored (not allowed from the current status)"
        NOTE = "note", "Note"
        REJECTED = "rejected", "Rejected input"

    # Looked up by the unique (attempt, dedupe_key) index below, whose first column serves it.
    attempt = models.ForeignKey(PaymentAttempt, related_name="events", on_delete=models.PROTECT, db_index=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    source = models.CharField(max_length=24, help_text="checkout, return, webhook, reconcile, admin")
    from_status = models.CharField(max_length=24, blank=True)
    to_status = models.CharField(max_length=24, blank=True)
    message = models.CharField(max_length=500, blank=True)
    dedupe_key = models.CharField(
        max_length=120, null=True, blank=True,
        help_text="Identity of the provider event; the same key is applied once per attempt",
    )
    payload = PayloadField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["attempt", "dedupe_key"], name="paymentevent_once_per_key"),
        ]
        # Reconcile finds the renewals to undo (services.renewal_voids.VOID_AFTER_CANCEL) by this key alone. A
        # partial index: the rows it holds are rare, and no other event's insert writes it.
        indexes = [models.Index(fields=["attempt"], condition=models.Q(dedupe_key="renewal:void-after-cancel"),
                                name="paymentevent_renewal_voids")]

    def __str__(self):
        return f"{self.kind} {self.from_status}→{self.to_status} ({self.source})"


def new_operation_key():
    return "op_" + secrets.token_hex(12)


class PaymentOperation(models.Model):
    """One merchant action on an authorized payment (capture, refund, cancel, release, extend).

    Created before the provider is called; its key is the provider idempotency key, so a retry after a
    timeout acts once, and it records the admin form's one-time confirmation key, so a double click
    (the same form posted twice) finds this row instead of making a second one."""

    class Kind(models.TextChoices):
        CAPTURE = "capture", "Capture"
        REFUND = "refund", "Refund"
        CANCEL = "cancel", "Cancel"
        RELEASE = "release", "Release remaining authorization"
        EXTEND = "extend", "Extend authorization time"

    class Result(models.TextChoices):
        PENDING = "pending", "Sent, no answer yet"
        DONE = "done", "Done"
        REFUSED = "refused", "Refused by the provider"

    attempt = models.ForeignKey(PaymentAttempt, related_name="operations", on_delete=models.PROTECT)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.PositiveIntegerField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=40, unique=True, default=new_operation_key, editable=False)
    result = models.CharField(max_length=16, choices=Result.choices, default=Result.PENDING)
    provider_id = models.CharField(max_length=64, blank=True, help_text="capture_id / refund_id")
    details = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    # The one-time key of the admin confirmation form that asked for it (payments.services.confirmations):
    # the same form posted twice finds this row and acts no more. Null when no form asked (a task, a test).
    confirmation_key = models.CharField(max_length=40, null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["attempt", "confirmation_key"], name="operation_once_per_confirmation"),
        ]

    def __str__(self):
        return f"{self.kind} {self.amount or ''} ({self.result})"
