"""`python manage.py load_demo_catalog`: a small, realistic catalog and an admin login for demos.

Safe to run any number of times (`make run` runs it on every start): the demo products and offer are
loaded only into an empty catalog, so a merchant's edits (a price, a description, a deleted product)
survive restarts; an existing `admin` user is never touched (its password is not reset or printed).
"""
import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils.text import slugify

from shop.models import Product, UpsellOffer

PHYSICAL = Product.Kind.PHYSICAL
SUBSCRIPTION = Product.Kind.SUBSCRIPTION

# (sku, name, kind, price in cents, VAT bp, interval, interval count, 29 Next product id, hue, description)
DEMO_PRODUCTS = [
    ("NS-BEANIE", "Aurora Merino Beanie", PHYSICAL, 2900, 2100, "", None, 101, 205,
     "A soft, double-layered merino beanie knitted in Finland. Warm without the itch."),
    ("NS-MUG", "Fjord Enamel Mug", PHYSICAL, 1850, 2100, "", None, 102, 175,
     "Speckled enamel over steel, 350 ml. Survives campfires, dishwashers and toddlers."),
    ("NS-CANDLE", "Polar Night Candle", PHYSICAL, 2450, 2100, "", None, 103, 32,
     "Rapeseed wax with birch tar and cardamom. About 45 hours of slow, even light."),
    ("NS-BOARD", "Birch Cutting Board", PHYSICAL, 3900, 2100, "", None, 104, 45,
     "End-grain birch, oiled by hand. Large enough for bread, gentle on knives."),
    ("NS-SOCKS", "Tundra Wool Socks, 2 pairs", PHYSICAL, 2200, 2100, "", None, 105, 262,
     "Cushioned hiking socks in a wool blend that dries overnight."),
    ("NS-BOOK", "Field Notes on the Northern Lights", PHYSICAL, 2495, 900, "", None, 106, 290,
     "A hardback guide to seeing, photographing and understanding the aurora. Books carry 9 % VAT."),
    ("NS-COFFEE-M", "Roaster's Choice Coffee Beans", SUBSCRIPTION, 1650, 900, "month", 1, 201, 20,
     "500 g of freshly roasted single-origin beans, a different farm every month. Free shipping."),
    ("NS-TEA-Q", "Seasonal Tea Discovery Box", SUBSCRIPTION, 3450, 900, "month", 3, 202, 140,
     "Four loose-leaf teas picked for the season, delivered every quarter. Free shipping."),
    ("NS-CLUB-Y", "Nordlicht Club Membership", SUBSCRIPTION, 4900, 2100, "year", 1, 203, 230,
     "A year of members-only drops, early access to sales and a welcome gift."),
]


class Command(BaseCommand):
    help = "Create or update the demo catalog (by SKU) and an 'admin' superuser if none exists."

    def handle(self, *args, **options):
        existing = Product.objects.count()
        if existing:
            self.stdout.write(f"Demo catalog: not loaded, the catalog already has {existing} product(s).")
        else:
            created, updated = self._load_products()
            self._load_offers()
            self.stdout.write(self.style.SUCCESS(
                f"Demo catalog: {created} product(s) created, {updated} updated."))
        self.stdout.write(self._ensure_admin())

    @transaction.atomic
    def _load_products(self):
        created = updated = 0
        for (sku, name, kind, price, vat_bp, interval, count, next_id, hue, description) in DEMO_PRODUCTS:
            _, was_created = Product.objects.update_or_create(
                sku=sku,
                defaults={
                    "name": name, "slug": slugify(name), "kind": kind, "price": price,
                    "currency": settings.SHOP_CURRENCY, "vat_rate_bp": vat_bp, "interval": interval,
                    "interval_count": count, "next_product_id": next_id, "hue": hue,
                    "description": description, "is_active": True,
                },
            )
            created += was_created
            updated += not was_created
        return created, updated

    @transaction.atomic
    def _load_offers(self):
        """One post-purchase offer: a second mug at a discount after any purchase of physical goods."""
        mug = Product.objects.get(sku="NS-MUG")
        offer, _ = UpsellOffer.objects.update_or_create(
            name="Add a second Fjord Enamel Mug",
            defaults={"product": mug, "price": 1290, "is_active": True,
                      "pitch": "30 % off, shipped in the same parcel."},
        )
        offer.trigger_products.set(Product.objects.filter(kind=PHYSICAL))

    def _ensure_admin(self):
        admin_url = f"{settings.SHOP_BASE_URL}/admin/"
        users = get_user_model()
        if users.objects.filter(username="admin").exists():
            return (f"Admin: {admin_url}  user admin  (password printed when it was created; "
                    f"forgot it? python manage.py changepassword admin)")
        password = os.environ.get("DEMO_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        users.objects.create_superuser("admin", "admin@example.com", password)
        return f"Admin: {admin_url}  user admin  password {password}"
