"""Admin for money in flight, split by concept: attempts and webhooks, subscriptions, upsells."""
from . import attempts, subscriptions, upsells  # noqa: F401  (registers the ModelAdmins)
