"""Catalog and orders. Money is always an integer in minor units plus the shop currency.

Prices are VAT-inclusive (EU retail); each line keeps its VAT rate in basis points (2100 = 21 %) and
the VAT amount contained in its total, so totals never need recomputing from a changed catalog.
"""
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import IntegrityError, models, transaction
from django.urls import reverse


class Product(models.Model):
    class Kind(models.TextChoices):
        PHYSICAL = "physical", "Physical good"
        SUBSCRIPTION = "subscription", "Subscription"

    class Interval(models.TextChoices):
        DAY = "day", "day"
        WEEK = "week", "week"
        MONTH = "month", "month"
        YEAR = "year", "year"

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=140, unique=True)
    sku = models.CharField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.PHYSICAL)
    price = models.PositiveIntegerField(help_text="VAT-inclusive unit price in minor units (cents)")
    currency = models.CharField(max_length=3, default="EUR")
    vat_rate_bp = models.PositiveIntegerField(
        default=2100, help_text="VAT rate in basis points: 2100 = 21 %"
    )
    interval = models.CharField(max_length=8, choices=Interval.choices, blank=True)
    interval_count = models.PositiveSmallIntegerField(null=True, blank=True)
    next_product_id = models.PositiveIntegerField(
        null=True, blank=True, help_text="29 Next variant id (product_id in the Admin API)"
    )
    hue = models.PositiveSmallIntegerField(default=210, help_text="Colour of the product tile (0-359)")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "name"]
        # The catalog's page order, for its LIMIT queries (shop.selectors.catalog_page).
        indexes = [models.Index(fields=["kind", "name", "id"], condition=models.Q(is_active=True),
                                name="product_catalog_order")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="physical") | models.Q(interval__gt="", interval_count__gte=1),
                name="subscription_has_interval",
            ),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("shop:product", args=[self.slug])

    @property
    def is_subscription(self):
        return self.kind == self.Kind.SUBSCRIPTION

    def clean_fields(self, exclude=None):
        """Refuses a currency other than the shop's: the cart and every route charge SHOP_CURRENCY, so a
        price in another one would be shown in it and charged as that many minor units of the shop's.
        (A check constraint cannot name a setting.) Checked here rather than in clean(), so that a form
        without the currency field (admin's list, which takes such a row off sale) is not refused for it."""
        errors = {}
        try:
            super().clean_fields(exclude=exclude)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        if (not exclude or "currency" not in exclude) and "currency" not in errors \
                and self.currency != settings.SHOP_CURRENCY:
            errors["currency"] = [currency_refusal(self.currency)]
        if errors:
            raise ValidationError(errors)


def currency_refusal(currency: str) -> str:
    return (f"The shop sells in {settings.SHOP_CURRENCY} only: checkout charges every price in "
            f"{settings.SHOP_CURRENCY}, so a price in {currency or 'no currency'} would be charged as "
            f"{settings.SHOP_CURRENCY}. Enter {settings.SHOP_CURRENCY}.")


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting payment"
        PAID = "paid", "Paid"
        PAYMENT_FAILED = "payment_failed", "Payment failed"
        CANCELLED = "cancelled", "Cancelled"

    number = models.CharField(max_length=20, editable=False)  # unique: see Meta
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    route = models.CharField(max_length=32, help_text="Payment route the shopper chose last")
    email = models.EmailField()
    phone = models.CharField(max_length=20)
    first_name = models.CharField(max_length=60)
    last_name = models.CharField(max_length=60)
    shipping_line1 = models.CharField(max_length=120)
    shipping_line2 = models.CharField(max_length=120, blank=True)
    shipping_city = models.CharField(max_length=80)
    shipping_postcode = models.CharField(max_length=16)
    shipping_country = models.CharField(max_length=2)
    billing_same_as_shipping = models.BooleanField(default=True)
    billing_first_name = models.CharField(max_length=60, blank=True)
    billing_last_name = models.CharField(max_length=60, blank=True)
    billing_line1 = models.CharField(max_length=120, blank=True)
    billing_line2 = models.CharField(max_length=120, blank=True)
    billing_city = models.CharField(max_length=80, blank=True)
    billing_postcode = models.CharField(max_length=16, blank=True)
    billing_country = models.CharField(max_length=2, blank=True)
    # Asked at checkout only for payment routes that need them (payments CustomerField), kept otherwise empty.
    birthday = models.DateField(null=True, blank=True)
    gender = models.CharField(max_length=8, blank=True, choices=[("female", "Female"), ("male", "Male")])
    # Where the order was placed from; some providers' risk checks want it.
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    currency = models.CharField(max_length=3)
    subtotal = models.PositiveIntegerField(help_text="Sum of the lines, VAT included (minor units)")
    shipping_fee = models.PositiveIntegerField(default=0, help_text="VAT included (minor units)")
    shipping_vat_rate_bp = models.PositiveIntegerField(default=0)
    tax_total = models.PositiveIntegerField(help_text="VAT contained in the total (minor units)")
    total = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    renewal_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="renewals", help_text="The order whose subscription this renews")
    billing_cycle = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(total=models.F("subtotal") + models.F("shipping_fee")),
                name="order_total_is_lines_plus_shipping",
            ),
            models.UniqueConstraint(fields=["number"], name="order_number_unique"),
        ]
        # Indexed here, not with db_index: why, in PaymentAttempt.Meta.
        indexes = [models.Index(fields=["status"], name="order_status")]

    def __str__(self):
        return self.number

    @property
    def full_name(self):
        return f"{self.first_name} {self.last_name}"

    @property
    def billing_address(self):
        """The billing address as a dict; the shipping one when the shopper said they are the same."""
        if self.billing_same_as_shipping:
            return {
                "first_name": self.first_name, "last_name": self.last_name, "line1": self.shipping_line1,
                "line2": self.shipping_line2, "city": self.shipping_city,
                "postcode": self.shipping_postcode, "country": self.shipping_country,
            }
        return {
            "first_name": self.billing_first_name, "last_name": self.billing_last_name,
            "line1": self.billing_line1, "line2": self.billing_line2, "city": self.billing_city,
            "postcode": self.billing_postcode, "country": self.billing_country,
        }

    @property
    def shipping_address(self):
        return {
            "first_name": self.first_name, "last_name": self.last_name, "line1": self.shipping_line1,
            "line2": self.shipping_line2, "city": self.shipping_city,
            "postcode": self.shipping_postcode, "country": self.shipping_country,
        }

    @property
    def is_paid(self):
        return self.status == self.Status.PAID

    @classmethod
    def new_number(cls):
        # Unguessable and short enough to read over the phone; uniqueness is enforced by the
        # database (see save_with_number), not by this function.
        alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
        return "SO-" + "".join(secrets.choice(alphabet) for _ in range(8))

    def save_with_number(self):
        """Insert a new order with a fresh number, retrying on the (astronomically rare) collision."""
        self.with_fresh_number(lambda: self.save(force_insert=True))

    def with_fresh_number(self, write):
        """Run `write()` (which inserts this order) in one transaction under a fresh number; on the rare
        clash of numbers all of it is rolled back and run again under another. Returns what `write` did."""
        for _ in range(5):
            self.number = self.new_number()
            try:
                with transaction.atomic():
                    return write()
            except IntegrityError:
                if Order.objects.filter(number=self.number).exists():
                    continue
                raise
        raise IntegrityError("could not allocate a unique order number")


class OrderLine(models.Model):
    order = models.ForeignKey(Order, related_name="lines", on_delete=models.CASCADE)
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.SET_NULL)
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=120)
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    unit_price = models.PositiveIntegerField(help_text="VAT included (minor units)")
    vat_rate_bp = models.PositiveIntegerField()
    total = models.PositiveIntegerField(help_text="quantity × unit price (minor units)")
    tax = models.PositiveIntegerField(help_text="VAT contained in total (minor units)")
    next_product_id = models.PositiveIntegerField(null=True, blank=True)
    interval = models.CharField(max_length=8, blank=True)
    interval_count = models.PositiveSmallIntegerField(null=True, blank=True)
    is_upsell = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(total=models.F("quantity") * models.F("unit_price")),
                name="orderline_total_is_quantity_times_price",
            ),
        ]

    def __str__(self):
        return f"{self.quantity} × {self.name}"

    @property
    def is_subscription(self):
        return bool(self.interval)


class UpsellOffer(models.Model):
    """A one-click extra offered on the confirmation page after a paid order."""

    name = models.CharField(max_length=120, help_text="Shown to the shopper, e.g. 'Add a second mug'")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="upsell_offers")
    price = models.PositiveIntegerField(help_text="Offer price, VAT included (minor units)")
    pitch = models.CharField(max_length=255, blank=True)
    trigger_products = models.ManyToManyField(
        Product, blank=True, related_name="triggered_upsell_offers",
        help_text="Offer it after purchases of these products; empty means after any purchase",
    )
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__isnull=True) | models.Q(starts_at__isnull=True)
                | models.Q(ends_at__gt=models.F("starts_at")),
                name="upsell_window_ends_after_start",
            ),
        ]

    def __str__(self):
        return self.name


class EmailNotification(models.Model):
    """One email to a shopper about one event, created before it is sent (like a charge row).

    `key` names the event ("order-confirmation:<order id>", "refund:<operation id>", ...); its unique
    constraint makes a repeated webhook, a retried task or a second signal for the same event find the
    existing row instead of mailing again. `claimed_until` is a short lease so two workers never send
    the same row at once; a worker that died mid-send leaves a lease that simply runs out.
    """

    class Kind(models.TextChoices):
        ORDER_CONFIRMATION = "order_confirmation", "Order confirmation"
        UPSELL_ADDED = "upsell_added", "Upsell added"
        RENEWAL_PAID = "renewal_paid", "Subscription renewed"
        RENEWAL_FAILED = "renewal_failed", "Renewal failed"
        SUBSCRIPTION_CANCELLED = "subscription_cancelled", "Subscription cancelled"
        REFUND_ISSUED = "refund_issued", "Refund issued"

    class State(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENT = "sent", "Sent"
        FAILED = "failed", "Gave up"

    key = models.CharField(max_length=120)  # unique: see Meta
    kind = models.CharField(max_length=32, choices=Kind.choices)
    to = models.EmailField()
    params = models.JSONField(default=dict, blank=True, help_text="The event's ids, read when the mail is built")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)  # indexed: Meta
    tries = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=255, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["key"], name="email_key_unique")]
        # Indexed here, not with db_index: why, in PaymentAttempt.Meta.
        indexes = [models.Index(fields=["state"], name="email_state")]

    def __str__(self):
        return f"{self.get_kind_display()} to {self.to}"
