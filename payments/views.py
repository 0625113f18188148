"""Provider-facing endpoints: the shopper's return and provider webhooks. Thin by design."""
import logging

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt

from shop.links import order_url

from .exceptions import InvalidReturn, ReturnMismatch, RouteNotAvailable
from .providers.registry import get_adapter
from .services.return_handle import attempt_from_token, return_handle
from .services.webhooks import webhook_receive

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
