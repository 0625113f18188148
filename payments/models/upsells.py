"""A shopper's one-click acceptance of an upsell offer: at most one per order and offer."""
import secrets

from django.db import models


def new_upsell_reference():
    return "up_" + secrets.token_hex(10)


class Upsell(models.Model):
    order = models.ForeignKey("shop.Order", related_name="upsells", on_delete=models.PROTECT)
    offer = models.ForeignKey("shop.UpsellOffer", related_name="upsells", on_delete=models.PROTECT)
    # Carried to the provider in the line's metadata so an unknown outcome can be read back.
    reference = models.CharField(max_length=40, unique=True, default=new_upsell_reference, editable=False)
    attempt = models.OneToOneField("payments.PaymentAttempt", on_delete=models.PROTECT, related_name="upsell")
    product = models.ForeignKey("shop.Product", null=True, on_delete=models.SET_NULL)
    name = models.CharField(max_length=120)
    sku = models.CharField(max_length=64)
    provider_product_id = models.PositiveIntegerField(null=True, blank=True)
    quantity = models.PositiveSmallIntegerField(default=1)
    unit_price = models.PositiveIntegerField(help_text="VAT included (minor units)")
    vat_rate_bp = models.PositiveIntegerField()
    # A lease instead of a long row lock: the worker holding it is the only one talking to the
    # provider about this upsell; a killed worker's lease simply runs out.
    charging_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["order", "offer"], name="one_upsell_per_order_and_offer"),
        ]

    def __str__(self):
        return f"{self.name} on {self.order_id}"

    @property
    def total(self):
        return self.unit_price * self.quantity

    @property
    def state(self):
        """pending / added / declined / cancelled, derived from the payment attempt: declined when the
        provider refused the charge, cancelled when the authorization it joined was cancelled or expired."""
        from ..states import SUCCESSFUL, Status

        if self.attempt.status in SUCCESSFUL:
            return "added"
        if self.attempt.status == Status.FAILED:
            return "declined"
        if self.attempt.status in (Status.CANCELLED, Status.EXPIRED):
            return "cancelled"
        return "pending"
