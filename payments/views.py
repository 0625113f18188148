"""Provider-facing endpoints: the shopper's return, per-attempt notifications, webhooks and our widget page.

Thin by design: check the signed token, hand the request to payments.services.inbound, map its result to
a page or a JSON answer. None of them knows which route it serves.
"""
import logging

from django.contrib import messages
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from .exceptions import InvalidReturn, PaymentError, ReturnMismatch, RouteNotAvailable
from .models import WebhookDelivery
from .orders import OrderPage, order_book
from .providers.inbound import MAX_BODY, clean_text
from .providers.registry import get_adapter
from .services.inbound import attempt_from_token, inbound_receive
from .services.payment_start import attempt_session_expired, payment_replace
from .states import IN_BETWEEN
from .throttle import rate_limited

log = logging.getLogger(__name__)
State = WebhookDelivery.State
Channel = WebhookDelivery.Channel


def _error_page(request, message, *, attempt=None, status=400):
    link = _page_url(attempt, OrderPage.STATUS) if attempt else None
    return render(request, "payments/return_error.html", {"message": message, "order_link": link}, status=status)


def _page_url(attempt, page) -> str:
    # Every attempt here came from attempt_from_token with its order, so the link costs no query.
    return order_book().page_url(attempt.order_id, page, order=attempt.order)


def _wants_json(request) -> bool:
    # A server-to-server callback posts JSON and reads JSON; a browser posts a form and follows redirects.
    return request.content_type == "application/json"


def _too_large(request) -> bool:
    try:
        return int(request.headers.get("Content-Length") or 0) > MAX_BODY
    except ValueError:
        return True


def _receive(request, route, channel, attempt=None):
    try:
        body = request.body  # first: once read, Django parses the form from this copy too
    except RequestDataTooBig:
        return None
    # What the provider appended to our URL (an order id, a timestamp), overlaid by the fields of a form
    # POST. A query or form Django refuses to parse (over DATA_UPLOAD_MAX_NUMBER_FIELDS fields, a multipart
    # body without its boundary) is still stored and judged as the raw message it is: the route finds none
    # of its fields and rejects it with its reason, instead of Django's bare 400 and nothing stored.
    params = {}
    try:
        params.update(request.GET.dict())
        if request.method == "POST" and not _wants_json(request):
            params.update(request.POST.dict())
    except (TooManyFieldsSent, MultiPartParserError) as exc:
        log.info("inbound %s %s: form not parsed (%s)", route, channel, clean_text(exc, limit=200))
    return inbound_receive(route=route, channel=channel, method=request.method, body=body,
                           headers=request.headers, params=params, content_type=request.content_type or "",
                           attempt=attempt)


# CSRF-exempt and cookie-free on purpose: the provider's page POSTs here cross-site, and a SameSite=Lax
# session cookie does not travel with that POST. The signed token in the URL is what binds it to us.
@csrf_exempt
@rate_limited("return")
def payment_return(request, route, token):
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    json_answer = request.method == "POST" and _wants_json(request)
    try:
        get_adapter(route)
    except RouteNotAvailable:
        return JsonResponse({"error": "unknown route"}, status=404) if json_answer else \
            _error_page(request, "This payment link is not valid.", status=404)
    try:
        attempt = attempt_from_token(route=route, token=token)
    except InvalidReturn as exc:
        return JsonResponse({"error": str(exc)}, status=400) if json_answer else \
            _error_page(request, exc.shopper_message)
    if _too_large(request):
        return JsonResponse({"error": "body too large"}, status=413) if json_answer else \
            _error_page(request, "The answer from the payment provider was too large to read.", attempt=attempt)
    result = _receive(request, route, Channel.RETURN, attempt)
    if result is None:
        return _error_page(request, "The answer from the payment provider was too large to read.", attempt=attempt)
    if json_answer:
        if result.state in (State.REJECTED, State.MISMATCH):
            return JsonResponse({"error": clean_text(result.error, limit=300)}, status=400)
        return _retry_later(JsonResponse({"status": result.attempt.status}, status=result.http_status))
    if result.state == State.REJECTED:
        return _error_page(request, f"{InvalidReturn.shopper_message} ({clean_text(result.error, limit=200)})")
    if result.state == State.MISMATCH:
        return _error_page(request, ReturnMismatch.shopper_message, attempt=attempt)
    if result.state == "shown" or (request.method == "GET" and result.attempt.status in IN_BETWEEN):
        # Nothing decided yet (or a GET that only shows): the shopper sees where the order stands.
        return redirect(_page_url(attempt, OrderPage.STATUS))
    if result.refused_after_approval:
        messages.error(request, f"{get_adapter(route).display_name} did not accept the order with these details, so "
                                "nothing was charged. Please check your address and e-mail with \"Change details\", "
                                "or choose another payment method.")
    if result.replaced:
        # An old tab: the order's page (paid, or still to pay with the newer try) says the rest.
        messages.info(request, "You started a newer payment for this order, so this one was not taken.")
    page = OrderPage.CONFIRMATION if result.paid or result.confirming else OrderPage.FAILED
    return _see_other(_page_url(attempt, page))


def _retry_later(response):
    """A 503 means "the provider could not be asked; send it again": say when, as HTTP asks."""
    if response.status_code == 503:
        response["Retry-After"] = "60"
    return response


def _answer(route, result):
    """The provider's answer: the route's own acknowledgement for an accepted message when it wants one
    (capabilities.inbound_ack), else JSON. `X-Inbound-State` says what happened either way."""
    ack = get_adapter(route).capabilities.inbound_ack
    if ack is not None and result.http_status == 200:
        response = HttpResponse(ack.body, content_type=ack.content_type)
    else:
        response = JsonResponse({"state": result.state}, status=result.http_status)
    response["X-Inbound-State"] = result.state
    return _retry_later(response)


@csrf_exempt
@rate_limited("provider")
def notification(request, route, token):
    """Provider notifications about one attempt, authenticated by the attempt's signed URL (and whatever
    the route adds); the body is only a hint that the route checks with the provider. GET as well as
    POST: some providers notify by GET (no body) and expect the order to be read back."""
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    try:
        get_adapter(route)
        attempt = attempt_from_token(route=route, token=token)
    except (RouteNotAvailable, InvalidReturn) as exc:
        return JsonResponse({"error": str(exc)}, status=404)
    if _too_large(request):
        return JsonResponse({"error": "body too large"}, status=413)
    result = _receive(request, route, Channel.NOTIFICATION, attempt)
    if result is None:
        return JsonResponse({"error": "body too large"}, status=413)
    return _answer(route, result)


@csrf_exempt
@rate_limited("provider")
def webhook(request, provider):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        get_adapter(provider)
    except RouteNotAvailable:
        return JsonResponse({"error": "unknown provider"}, status=404)
    if _too_large(request):
        return JsonResponse({"error": "body too large"}, status=413)
    result = _receive(request, provider, Channel.WEBHOOK)
    if result is None:
        return JsonResponse({"error": "body too large"}, status=413)
    return _answer(provider, result)


@never_cache  # it shows the shopper's name and email, and its URL is the credential
@rate_limited("return")
def widget(request, route, token):
    """Our payment page for routes whose provider widget runs on it; what it loads comes from the route's
    Widget outcome, stored on the attempt."""
    try:
        attempt = attempt_from_token(route=route, token=token)
    except InvalidReturn as exc:
        return _error_page(request, exc.shopper_message, status=404)
    if attempt.status != "pending" or not attempt.client_token or not attempt.widget:
        return redirect(_page_url(attempt, OrderPage.STATUS))
    if attempt_session_expired(attempt):
        # Sessions are not kept past their lifetime: replace it with a fresh attempt rather than reuse it.
        try:
            fresh = payment_replace(attempt=attempt)
        except PaymentError as exc:
            return _error_page(request, exc.shopper_message, attempt=attempt, status=503)
        return redirect(fresh.redirect_url)
    return render(request, attempt.widget["template"], {
        "attempt": attempt, "order": attempt.order, "sdk_url": attempt.widget["sdk_url"],
        "authorize_url": reverse("payments:return", args=[route, token]),
        "failed_url": _page_url(attempt, OrderPage.FAILED),
    })


def _see_other(url):
    # 303 so the browser follows with a GET and a reload never re-POSTs the provider's answer.
    response = redirect(url)
    response.status_code = 303
    return response
