from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "shop"
    verbose_name = "Shop"

    def ready(self):
        # The shop emails shoppers about payment events that payments announces (payments/signals.py).
        from django.db.models.signals import post_delete, post_save

        from . import emails
        from .models import Product

        emails.connect()
        # The catalog's pager counts products from the cache (selectors.catalog_page).
        post_save.connect(_catalog_changed, sender=Product, dispatch_uid="catalog-count-save")
        post_delete.connect(_catalog_changed, sender=Product, dispatch_uid="catalog-count-delete")


def _catalog_changed(**kwargs):
    from .selectors import forget_catalog_count

    forget_catalog_count()
