"""No input gives a 500 (issue: hostile bytes answered 500 on several public endpoints).

Property tests over every public endpoint, on whichever database the suite runs on (CI: PostgreSQL, which
refuses NUL in text): random bytes, NUL and lone surrogates, wrong JSON types, deep nesting, oversized
fields. Each answer must be below 500, and nothing may become paid.
"""
import json
from urllib.parse import quote

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payments.models import PaymentAttempt
from payments.providers.registry import route_keys
from payments.services.payment_start import return_token
from payments.states import SUCCESSFUL, Status, transition
from shop.links import order_token
from tests.factories import make_order

pytestmark = pytest.mark.django_db

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])
# Text that breaks naive code: NUL, control characters, lone surrogates, very long runs.
nasty_text = st.one_of(
    st.text(max_size=80),
    st.text(alphabet=st.sampled_from("\x00\x01\n\r\"'<>{}[]\\\ud800\udfff€"), max_size=40),
    st.sampled_from(["[" * 5000, "{" * 5000, "\x00" * 10, "9" * 400, "{}", "[]", "null", "true"]),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | nasty_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(nasty_text, children, max_size=4),
    max_leaves=12,
)


def as_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def json_body(value) -> bytes:
    return as_bytes(json.dumps(value))


bodies = st.one_of(st.binary(max_size=300), json_values.map(json_body),
                   st.sampled_from([b"[" * 100_000, b"{" * 100_000, b'{"a":' * 3000]))


@pytest.fixture
def pending_attempts(settings):
    settings.PAYMENT_RATE_LIMITS = {"return": (10**6, 60), "provider": (10**6, 60)}
    settings.PAYMENT_ROUTES = route_keys()
    # Point every provider at a closed port: a message that gets as far as a provider call fails like an
    # outage, which must still never be a 500.
    for name in dir(settings._wrapped):
        if name.endswith("_API_BASE_URL"):
            setattr(settings, name, "http://127.0.0.1:9/")
    settings.PROVIDER_MAX_RETRIES = 0
    settings.PROVIDER_CONNECT_TIMEOUT = 0.2
    from payments.providers.registry import reset_cache

    reset_cache()
    attempts = []
    for route in route_keys():
        attempt = PaymentAttempt.objects.create(order=make_order(), route=route, amount=100, currency="EUR")
        transition(attempt.pk, Status.PENDING, source="test")
        attempts.append(attempt)
    yield attempts
    reset_cache()


def assert_answered(response, where=""):
    """Below 500, or the one deliberate 5xx: 503 with Retry-After when a provider had to be asked and could
    not be reached (these tests point every provider at a closed port), so the sender tries again."""
    assert response.status_code < 500 or (response.status_code == 503 and response.has_header("Retry-After")), \
        (response.status_code, where)


def assert_nothing_paid():
    assert not PaymentAttempt.objects.filter(status__in=SUCCESSFUL).exists()


@FUZZ
@given(route=st.sampled_from(["next", "klarna_payments", "nope", "x" * 40]), body=bodies,
       signature=nasty_text, content_type=st.sampled_from(["application/json", "text/plain", "",
                                                           "application/x-www-form-urlencoded"]))
def test_webhooks(pending_attempts, route, body, signature, content_type):
    headers = {"X-29Next-Signature": signature.encode("utf-8", "replace").decode("latin-1")[:200]}
    response = Client().generic("POST", f"/payments/webhooks/{quote(route)}/", body, content_type=content_type,
                                headers=headers)
    assert_answered(response)
    assert_nothing_paid()


@FUZZ
@given(index=st.integers(min_value=0, max_value=10), body=bodies,
       form=st.dictionaries(st.sampled_from(["response", "authorization_token", "declined", "transactionid",
                                             "x"]), nasty_text, max_size=3),
       as_json=st.booleans(), method=st.sampled_from(["POST", "GET", "PUT"]))
def test_returns(pending_attempts, index, body, form, as_json, method):
    attempt = pending_attempts[index % len(pending_attempts)]
    path = f"/payments/return/{attempt.route}/{return_token(attempt)}/"
    client = Client()
    safe_form = {k: v.encode("utf-8", "replace").decode("utf-8") for k, v in form.items()}
    if method == "GET":
        response = client.get(path, safe_form)
    elif as_json:
        response = client.generic(method, path, body, content_type="application/json")
    else:
        response = client.generic(method, path, as_bytes("&".join(f"{quote(k)}={quote(v, safe='')}"
                                                              for k, v in safe_form.items())),
                                  content_type="application/x-www-form-urlencoded")
    assert_answered(response)
    assert_nothing_paid()


@FUZZ
@given(index=st.integers(min_value=0, max_value=10), body=bodies, token=nasty_text,
       method=st.sampled_from(["POST", "GET"]))
def test_notifications_and_tokens(pending_attempts, index, body, token, method):
    attempt = pending_attempts[index % len(pending_attempts)]
    good = f"/payments/notify/{attempt.route}/{return_token(attempt)}/"
    bad_token = quote(token.encode("utf-8", "replace"), safe="") or "x"
    client = Client()
    for path in (good, f"/payments/notify/{attempt.route}/{bad_token}/",
                 f"/payments/widget/{attempt.route}/{bad_token}/", f"/payments/return/{attempt.route}/{bad_token}/"):
        response = client.generic(method, path, body, content_type="application/json")
        assert_answered(response, path)
    assert_nothing_paid()


@FUZZ
@given(fields=st.dictionaries(st.sampled_from(["product_id", "quantity", "email", "phone", "first_name",
                                               "shipping_postcode", "shipping_country", "route", "line"]),
                              nasty_text, max_size=6),
       token=nasty_text)
def test_shop_pages(pending_attempts, fields, token):
    client = Client()
    form = {k: v.encode("utf-8", "replace").decode("utf-8") for k, v in fields.items()}
    bad_token = quote(token.encode("utf-8", "replace"), safe="") or "x"
    order = pending_attempts[0].order
    for method, path in (("POST", "/cart/add/"), ("POST", "/cart/update/"), ("POST", "/cart/remove/"),
                         ("POST", "/checkout/"), ("GET", f"/orders/{bad_token}/"),
                         ("POST", f"/orders/{order_token(order)}/retry/"),
                         ("POST", f"/orders/{order_token(order)}/upsells/1/"),
                         ("GET", f"/subscriptions/{bad_token}/")):
        response = client.post(path, form) if method == "POST" else client.get(path, form)
        assert_answered(response, path)
    assert_nothing_paid()
