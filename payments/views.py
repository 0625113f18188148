"""Provider-facing endpoints: the shopper's return and provider webhooks. Thin by design."""
import json
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from shop.links import order_url

from .exceptions import InvalidReturn, PaymentError, ReturnMismatch, RouteNotAvailable
from .providers.registry import get_adapter
from .services.payment_start import attempt_session_expired, payment_replace
from .services.return_handle import attempt_from_token, return_handle
from .services.webhooks import notification_receive, webhook_receive

log = logging.getLogger(__name__)
MAX_WEBHOOK_BODY = 1024 * 1024


def _error_page(request, message, *, order=None, status=400):
    context = {"message": message, "order_link": order_url(order) if order else None}
    return render(request, "payments/return_error.html", context, status=status)


# CSRF-exempt and cookie-free on purpose: the provider's page POSTs here cross-site, and a SameSite=Lax
# session cookie does not travel with that POST. The signed token in the URL is what binds it to us.
@csrf_exempt
def payment_return(request, route, token):
    try:
        get_adapter(route)
    except RouteNotAvailable:
        return _error_page(request, "This payment link is not valid.", status=404)
    if request.method == "GET":
        # A refresh or a provider that returns by GET: show where the order stands, change nothing.
        try:
            attempt = attempt_from_token(route=route, token=token)
        except InvalidReturn as exc:
            return _error_page(request, exc.shopper_message)
        return redirect(order_url(attempt.order), permanent=False)
    if request.method != "POST":
        return HttpResponseNotAllowed(["GET", "POST"])
    if request.content_type == "application/json":
        return _callback(request, route, token)
    try:
        data = request.POST
    except RequestDataTooBig:
        return _error_page(request, "The answer from the payment provider was too large to read.")
    try:
        outcome = return_handle(route=route, token=token, data=data)
    except InvalidReturn as exc:
        log.warning("return rejected: %s", exc)
        return _error_page(request, f"{exc.shopper_message} ({exc})")
    except ReturnMismatch as exc:
        log.warning("return mismatch: %s", exc)
        try:
            order = attempt_from_token(route=route, token=token).order
        except InvalidReturn:
            order = None
        return _error_page(request, exc.shopper_message, order=order)
    order = outcome.attempt.order
    name = "shop:order_confirmation" if outcome.paid or outcome.confirming else "shop:order_failed"
    return _see_other(order_url(order, name))


def _callback(request, route, token):
    """A provider's server-to-server callback to the same signed URL (Klarna's authorization callback):
    the same service as the browser's return, answered in JSON with a 2xx when handled."""
    if len(request.body) > MAX_WEBHOOK_BODY:
        return JsonResponse({"error": "body too large"}, status=413)
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return JsonResponse({"error": "body is not JSON"}, status=400)
    if not isinstance(data, dict):
        return JsonResponse({"error": "body is not a JSON object"}, status=400)
    try:
        outcome = return_handle(route=route, token=token, data=data)
    except (InvalidReturn, ReturnMismatch) as exc:
        return JsonResponse({"error": str(exc)[:300]}, status=400)
    return JsonResponse({"status": outcome.attempt.status})


def widget(request, route, token):
    """Our payment page for routes whose widget runs here (Klarna Payments)."""
    try:
        attempt = attempt_from_token(route=route, token=token)
    except InvalidReturn as exc:
        return _error_page(request, exc.shopper_message, status=404)
    if attempt.status != "pending" or not attempt.client_token:
        return redirect(order_url(attempt.order))
    if attempt_session_expired(attempt):
        # Klarna sessions live 48 hours: replace it with a fresh attempt rather than reuse it.
        try:
            fresh = payment_replace(attempt=attempt)
        except PaymentError as exc:
            return _error_page(request, exc.shopper_message, order=attempt.order, status=503)
        return redirect(fresh.redirect_url)
    return render(request, "payments/widget.html", {
        "attempt": attempt, "order": attempt.order, "sdk_url": settings.KLARNA_SDK_URL,
        "authorize_url": reverse("payments:return", args=[route, token]),
        "failed_url": order_url(attempt.order, "shop:order_failed"),
    })


@csrf_exempt
def notification(request, route, token):
    """Provider notifications about one attempt (Klarna's pending-fraud decisions). Klarna v1 signs
    nothing, so the signed URL is what authenticates it, and the body is only a hint: the decision is
    read back from the provider."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if len(request.body) > MAX_WEBHOOK_BODY:
        return JsonResponse({"error": "body too large"}, status=413)
    try:
        attempt = attempt_from_token(route=route, token=token)
    except InvalidReturn as exc:
        return JsonResponse({"error": str(exc)}, status=404)
    result = notification_receive(attempt=attempt, body=request.body, headers=request.headers)
    return JsonResponse({"state": result.state}, status=result.http_status)


def _see_other(url):
    # 303 so the browser follows with a GET and a reload never re-POSTs the provider's answer.
    response = redirect(url)
    response.status_code = 303
    return response


@csrf_exempt
def webhook(request, provider):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        get_adapter(provider)
    except RouteNotAvailable:
        return JsonResponse({"error": f"unknown provider {provider!r}"}, status=404)
    if int(request.headers.get("Content-Length") or 0) > MAX_WEBHOOK_BODY:
        return JsonResponse({"error": "body too large"}, status=413)
    result = webhook_receive(provider=provider, body=request.body, headers=request.headers)
    return JsonResponse({"state": result.state}, status=result.http_status)
