"""Admin for the catalog and orders. Orders are read-only money records: totals and lines can't be
edited here because they must keep matching what the provider charged.

Merchants read and type money in currency ('€ 19.90', '19.90') and VAT as a percentage ('21 %'); the
database keeps integer minor units and basis points (shop.forms.MoneyField and PercentField convert)."""
from django import forms
from django.conf import settings
from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from payments.models import PaymentAttempt
from payments.selectors import route_names
from payments.states import SUCCESSFUL

from .forms import MoneyField, PercentField, check_address, check_details_for_route
from .models import EmailNotification, Order, OrderLine, Product, UpsellOffer, currency_refusal
from .pricing import format_interval, format_minor, format_percent


class ProductAdminForm(forms.ModelForm):
    price = MoneyField(label="Price", help_text="VAT included, in the shop's currency, e.g. 19.90")
    vat_rate_bp = PercentField(label="VAT rate (%)", help_text="e.g. 21 or 5.5")

    class Meta:
        model = Product
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Checkout charges every price in the shop's currency, so that is the only one a price is read in.
        self.fields["price"].currency = settings.SHOP_CURRENCY
        self.fields["currency"].initial = settings.SHOP_CURRENCY
        self.fields["currency"].help_text = f"The shop sells in {settings.SHOP_CURRENCY} only."

    def clean_currency(self):
        currency = (self.cleaned_data.get("currency") or "").strip().upper()
        if currency != settings.SHOP_CURRENCY:
            raise forms.ValidationError(currency_refusal(currency))
        return currency


class UpsellOfferAdminForm(forms.ModelForm):
    # A free extra would send a zero charge to the provider: an offer costs at least one minor unit.
    price = MoneyField(label="Offer price", min_minor=1,
                       help_text="VAT included, in the shop's currency, e.g. 19.90")

    class Meta:
        model = UpsellOffer
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        key = self.add_prefix("product")
        posted = str(self.data.get(key) or "") if self.is_bound else ""
        if posted and not (posted.isascii() and posted.isdigit() and int(posted) < 2**63):
            # Admin's autocomplete widget re-renders the posted id with a database lookup, which a forged
            # out-of-range id turns into a 500 on SQLite: such an id becomes an empty choice instead.
            self.data = self.data.copy()
            self.data[key] = ""
        # The offer is charged on the order, in the shop's currency: the price is read in it.
        self.fields["price"].currency = settings.SHOP_CURRENCY

    def clean_product(self):
        product = self.cleaned_data.get("product")
        if product is not None and product.is_subscription:
            # An upsell adds a one-off line to the paid order: a subscription would be sold once, never renewed.
            raise forms.ValidationError(
                f"{product.name} is a subscription, and an upsell adds a one-off line to the paid order, so it "
                "would be sold once and never renewed: choose a physical product.")
        if product is not None and product.currency != settings.SHOP_CURRENCY:
            # A row from before products were held to the shop's currency: not for sale (shop.selectors).
            raise forms.ValidationError(
                f"{product.name} is priced in {product.currency}, and the shop sells in "
                f"{settings.SHOP_CURRENCY} only: set its currency to {settings.SHOP_CURRENCY} first.")
        return product


class OrderAdminForm(forms.ModelForm):
    """Customer service may correct contact details and addresses; they are checked as checkout checks
    them, because the provider receives them on the next capture or renewal."""

    class Meta:
        model = Order
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        for name in ("shipping_country", "billing_country"):
            if cleaned.get(name):
                cleaned[name] = cleaned[name].strip().upper()
                # A country checkout does not offer is refused when typed in; an order placed before its
                # country was taken off SHOP_COUNTRIES keeps it while other details are corrected.
                if name in self.changed_data and cleaned[name] not in settings.SHOP_COUNTRIES:
                    self.add_error(name, f"The shop does not sell to {cleaned[name]}: choose one of "
                                         f"{', '.join(settings.SHOP_COUNTRIES)}.")
        check_address(self, cleaned, "shipping", ("first_name", "last_name"))
        if not cleaned.get("billing_same_as_shipping"):
            check_address(self, cleaned, "billing", ("billing_first_name", "billing_last_name"))
        # And as the order's payment route takes them (a street longer than Klarna's 99 characters would make
        # its next renewal refused: probe I I2), for the details changed here.
        for route in self._routes():
            check_details_for_route(self, cleaned, route, same_billing=bool(cleaned.get("billing_same_as_shipping")),
                                    only=set(self.changed_data))
        return cleaned

    def _routes(self) -> set[str]:
        """The routes whose providers receive this order's details: those of its payments that went through,
        else the route the shopper chose last."""
        if self.instance.pk is None:
            return set()
        paid = set(PaymentAttempt.objects.filter(order_id=self.instance.pk, status__in=sorted(SUCCESSFUL))
                   .values_list("route", flat=True))
        return (paid or {self.instance.route}) & set(route_names())  # a route since switched off checks nothing


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    form = ProductAdminForm
    list_display = ("name", "sku", "kind", "price_display", "vat_display", "interval_display", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "sku")
    prepopulated_fields = {"slug": ("name",)}
    list_editable = ("is_active",)
    fieldsets = (
        (None, {"fields": ("name", "slug", "sku", "description", "kind", "is_active", "hue")}),
        ("Price", {"fields": ("price", "currency", "vat_rate_bp")}),
        ("Subscription", {"fields": ("interval", "interval_count"),
                          "description": "Only for subscriptions: how often it renews."}),
        ("Provider", {"fields": ("next_product_id",)}),
    )

    @admin.display(description="Price", ordering="price")
    def price_display(self, obj):
        return format_minor(obj.price, obj.currency)

    @admin.display(description="VAT", ordering="vat_rate_bp")
    def vat_display(self, obj):
        return format_percent(obj.vat_rate_bp)

    @admin.display(description="Renews")
    def interval_display(self, obj):
        if not obj.is_subscription:
            return "—"
        return format_interval(obj.interval, obj.interval_count)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = ("name", "sku", "quantity", "unit_price_display", "vat_display", "total_display", "renews")
    readonly_fields = fields

    @admin.display(description="VAT")
    def vat_display(self, obj):
        return format_percent(obj.vat_rate_bp)

    @admin.display(description="Renews")
    def renews(self, obj):
        return format_interval(obj.interval, obj.interval_count) or "—"

    @admin.display(description="Unit price")
    def unit_price_display(self, obj):
        return format_minor(obj.unit_price, obj.order.currency)

    @admin.display(description="Total")
    def total_display(self, obj):
        return format_minor(obj.total, obj.order.currency)


class PaymentAttemptInline(ReadOnlyInline):
    model = PaymentAttempt
    fields = ("reference_link", "route", "status", "amount_display", "provider_reference", "created_at")
    readonly_fields = fields
    ordering = ("-created_at",)

    @admin.display(description="Reference")
    def reference_link(self, obj):
        try:
            url = reverse("admin:payments_paymentattempt_change", args=[obj.pk])
        except NoReverseMatch:
            # The payments admin is optional for this page; without it the reference is plain text.
            return obj.reference
        return format_html('<a href="{}">{}</a>', url, obj.reference)

    @admin.display(description="Amount")
    def amount_display(self, obj):
        return format_minor(obj.amount, obj.currency)


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    form = OrderAdminForm
    list_display = ("number", "created_at", "email", "total_display", "status", "route")
    list_filter = ("status", "route", "created_at")
    search_fields = ("number", "email", "last_name")
    date_hierarchy = "created_at"
    inlines = [OrderLineInline, PaymentAttemptInline]
    # Status belongs to the payment state machine and totals to what was charged: neither is
    # edited by hand here. Contact details stay editable for customer service.
    readonly_fields = (
        "number", "status", "route", "currency", "subtotal_display", "shipping_display", "tax_display",
        "total_display", "created_at", "updated_at", "paid_at", "birthday", "gender", "ip_address",
    )
    fieldsets = (
        (None, {"fields": ("number", "status", "route", "created_at", "updated_at", "paid_at")}),
        ("Totals", {"fields": ("currency", "subtotal_display", "shipping_display", "tax_display",
                               "total_display")}),
        ("Customer", {"fields": ("email", "phone", "first_name", "last_name", "birthday", "gender", "ip_address")}),
        ("Shipping address", {"fields": ("shipping_line1", "shipping_line2", "shipping_postcode",
                                         "shipping_city", "shipping_country")}),
        ("Billing address", {"fields": ("billing_same_as_shipping", "billing_first_name",
                                        "billing_last_name", "billing_line1", "billing_line2",
                                        "billing_postcode", "billing_city", "billing_country")}),
    )

    def has_add_permission(self, request):
        # Orders come from checkout (with their lines and a payment); an order made here would have neither.
        return False

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "email" in form.changed_data:
            # The subscriptions this order started mail their subscriber at the corrected address too.
            from payments.services.subscriptions import subscriptions_readdress

            subscriptions_readdress(order_id=obj.pk, email=obj.email, source="admin")

    def has_delete_permission(self, request, obj=None):
        # Once a payment was tried the order is part of the money trail (attempts are PROTECTed anyway).
        if obj is not None and obj.payment_attempts.exists():
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(description="Total", ordering="total")
    def total_display(self, obj):
        return format_minor(obj.total, obj.currency)

    @admin.display(description="Subtotal")
    def subtotal_display(self, obj):
        return format_minor(obj.subtotal, obj.currency)

    @admin.display(description="Shipping")
    def shipping_display(self, obj):
        return format_minor(obj.shipping_fee, obj.currency)

    @admin.display(description="VAT included")
    def tax_display(self, obj):
        return format_minor(obj.tax_total, obj.currency)


@admin.register(UpsellOffer)
class UpsellOfferAdmin(admin.ModelAdmin):
    form = UpsellOfferAdminForm
    list_display = ("name", "product", "price_display", "starts_at", "ends_at", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name", "product__name")
    filter_horizontal = ("trigger_products",)
    autocomplete_fields = ("product",)

    @admin.display(description="Price", ordering="price")
    def price_display(self, obj):
        return format_minor(obj.price, settings.SHOP_CURRENCY)  # charged on the order, in its currency


@admin.register(EmailNotification)
class EmailNotificationAdmin(admin.ModelAdmin):
    """What the shop mailed to whom and whether it went out; rows are written by shop.emails only."""

    list_display = ("created_at", "kind", "to", "state", "tries", "sent_at", "last_error")
    list_filter = ("state", "kind")
    search_fields = ("to", "key")
    readonly_fields = [field.name for field in EmailNotification._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
