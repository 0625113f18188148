from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "shop"
    verbose_name = "Shop"

    def ready(self):
        # The shop emails shoppers about payment events that payments announces (payments/signals.py).
        from . import emails

        emails.connect()
