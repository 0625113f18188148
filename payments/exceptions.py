"""One error tree for everything that can go wrong with a payment.

Views map these to pages: ProviderUnavailable → "try again", PaymentDeclined → failure page,
InvalidReturn/ReturnMismatch → a 400 page that marks nothing paid.
"""


class PaymentError(Exception):
    """Base class. `shopper_message` is safe to show; str(exc) is for logs and admin."""

    shopper_message = "Something went wrong with the payment. Please try again."


class ProviderError(PaymentError):
    """The provider answered with an error, or not at all. Carries what support needs."""

    def __init__(self, message, *, status=None, code=None, correlation_id=None, body=None):
        super().__init__(message)
        self.http_status = status
        self.code = code
        self.correlation_id = correlation_id
        self.body = body

    def __str__(self):
        parts = [super().__str__()]
        if self.http_status:
            parts.append(f"status={self.http_status}")
        if self.code:
            parts.append(f"code={self.code}")
        if self.correlation_id:
            parts.append(f"correlation_id={self.correlation_id}")
        return " ".join(parts)


class ProviderUnavailable(ProviderError):
    """Timeout, connection error, 5xx or rate limit after our retries: retryable later."""

    retryable = True
    shopper_message = ("The payment provider is not answering right now. Nothing was charged; "
                       "please try again in a moment.")


class StartAnswerLost(ProviderUnavailable):
    """The provider did not answer a start call that may itself have charged (Klarna v2 can approve an
    authorize at once), on a route whose start is keyed: the attempt stays open, and the same call is sent
    again (reconcile, or the shopper's retry) to learn the first answer instead of charging twice."""

    shopper_message = ("Klarna did not answer in time, so we do not know yet whether your payment went through. "
                       "If it did, you will get a confirmation email and nothing is charged twice; trying again "
                       "checks first.")


class ProviderRequestError(ProviderError):
    """The provider refused the request (4xx): retrying the same request will not help."""

    retryable = False
    shopper_message = "The payment provider could not accept this order. Please check your details."


class ProviderAuthError(ProviderRequestError):
    """401/403: our credentials or API version are wrong. A merchant problem, never the shopper's."""

    shopper_message = "Payments are temporarily unavailable. Nothing was charged."


class PaymentDeclined(ProviderRequestError):
    """The provider said no to this payment (risk decision, insufficient funds, a refused renewal).
    The request was fine; asking again with the same details will get the same answer."""

    shopper_message = "The payment was declined or cancelled. You can try again."


class TokenRevoked(PaymentDeclined):
    """A stored customer token can no longer be charged (suspended, cancelled, unknown): renewals on it
    must stop, and the subscriber has to pay again."""


class OperationNotSupported(PaymentError):
    """The route cannot do this (e.g. recurring on a route without tokens)."""


class RouteNotAvailable(PaymentError):
    """The route cannot take this payment (disabled, another market, a cart or shopper it cannot serve).
    An instance may carry its own shopper_message saying why."""

    shopper_message = "That payment method is not available. Please choose another one."

    def __init__(self, message="", *, shopper_message=None):
        super().__init__(message)
        if shopper_message:
            self.shopper_message = shopper_message


class InvalidReturn(PaymentError):
    """A return request we cannot attribute to an attempt: missing, tampered or foreign token,
    or a body that is not what the provider sends."""

    shopper_message = "We could not read the answer from the payment provider."


class ReturnMismatch(PaymentError):
    """The provider's order does not match our attempt (amount, currency, lines or reference)."""

    shopper_message = ("We could not confirm this payment. Nothing has been marked as paid; if you "
                       "were charged, our team will sort it out.")


class OrderAlreadyPaid(PaymentError):
    shopper_message = "This order is already paid. Nothing more to do."


class OrderCancelledByShop(PaymentError):
    """The merchant cancelled the order's payment (e.g. nothing left to ship): it takes no new payment."""

    shopper_message = ("We cancelled this order, so it can no longer be paid, and nothing is charged for it. "
                       "Please contact us if you still want it.")


class AlreadyConfirmed(PaymentError):
    """The merchant's confirmation form was already acted on (a double click, a second tab holding the
    same form): nothing was done again. Not a refusal: str() says what the first submission did."""
