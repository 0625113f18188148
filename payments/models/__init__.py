from .attempts import PaymentAttempt, PaymentEvent, new_reference
from .subscriptions import Subscription, SubscriptionCharge, SubscriptionEvent
from .upsells import Upsell
from .webhooks import WebhookDelivery

__all__ = [
    "PaymentAttempt", "PaymentEvent", "new_reference", "WebhookDelivery", "Subscription",
    "SubscriptionCharge", "SubscriptionEvent", "Upsell",
]
