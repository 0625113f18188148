from .attempts import PaymentAttempt, PaymentEvent, PaymentOperation, new_reference
from .subscriptions import Subscription, SubscriptionCharge, SubscriptionEvent
from .upsells import Upsell
from .webhooks import WebhookDelivery

__all__ = [
    "PaymentAttempt", "PaymentEvent", "PaymentOperation", "new_reference", "WebhookDelivery", "Subscription",
    "SubscriptionCharge", "SubscriptionEvent", "Upsell",
]
