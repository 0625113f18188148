"""What a money-moving admin action is about to do, in one sentence with the amounts in the payment's
currency ('Capture € 12.90 of payment pa_…'), shown on the confirmation page before anything runs.

Pure functions of the payment (or subscription) and the merchant's cleaned form data: they read no
provider and change nothing, so the page can be shown, abandoned or reloaded freely. The amounts are
the shop's own record of the payment; the provider still has the last word when the action runs.
"""
from common.money import format_minor


def _money(amount, obj):
    return format_minor(amount, obj.currency)


def _held(attempt):
    """Authorized and not yet captured: what a capture can still take and cancel/release give back."""
    return max(attempt.amount - attempt.captured_amount, 0)


def capture(attempt, data):
    amount = data.get("amount") or _held(attempt)
    return (f"Capture {_money(amount, attempt)} of payment {attempt.reference}: the shopper is charged "
            f"{_money(amount, attempt)} now ({_money(_held(attempt), attempt)} is authorized and not yet "
            f"captured).")


def refund(attempt, data):
    refundable = max(attempt.captured_amount - attempt.refunded_amount, 0)
    return (f"Refund {_money(data.get('amount') or 0, attempt)} of payment {attempt.reference} to the "
            f"shopper ({_money(attempt.captured_amount, attempt)} captured, "
            f"{_money(attempt.refunded_amount, attempt)} refunded so far, {_money(refundable, attempt)} "
            f"refundable).")


def cancel(attempt, data):
    return (f"Cancel the authorization of {_money(_held(attempt), attempt)} on payment {attempt.reference}: "
            f"the shopper will not be charged this amount and it cannot be captured afterwards.")


def release(attempt, data):
    return (f"Release the {_money(_held(attempt), attempt)} of payment {attempt.reference} that was "
            f"authorized but not captured; the {_money(attempt.captured_amount, attempt)} captured stays "
            f"charged.")


def renew(subscription, data):
    return (f"Charge {_money(subscription.amount, subscription)} for subscription {subscription.provider_id} "
            f"now, ahead of its next renewal date.")


def retry(subscription, data):
    return (f"Try again to charge the past-due {_money(subscription.amount, subscription)} of subscription "
            f"{subscription.provider_id}.")


# Payment operations that move money, by the action keys payments.admin.operations uses; an action not
# listed here (extend) moves none and needs no stated amount.
PAYMENT_STATEMENTS = {"capture": capture, "refund": refund, "cancel": cancel, "release": release}
SUBSCRIPTION_STATEMENTS = {"renew": renew, "retry": retry}
