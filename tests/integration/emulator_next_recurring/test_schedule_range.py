"""A schedule past the calendar is a validation error, never a 500 (found by the spec tier's fuzzing: the
29 Next spec allows interval_count up to 2**31 - 1)."""
from tests.integration.emulator_next_recurring.helpers import call, monthly_subscription, ok, order_body


def test_an_order_line_renewing_past_the_calendar_is_refused(emulator):
    body = order_body(lines=[{"product_id": 11, "quantity": 1, "price": "9.99",
                              "subscription": {"interval": "year", "interval_count": 2147483647}}])
    answer = call(emulator, "POST", "/orders/", body)
    assert answer.status_code == 400 and "interval_count" in answer.text


def test_patching_or_renewing_past_the_calendar_is_refused(emulator):
    subscription = monthly_subscription(emulator)
    patched = call(emulator, "PATCH", f"/subscriptions/{subscription['id']}/", {"interval_count": 2147483647})
    assert patched.status_code == 400 and "interval_count" in patched.text
    renewed = call(emulator, "POST", f"/subscriptions/{subscription['id']}/renew/")
    assert renewed.status_code == 200  # the schedule is unchanged, so renewing still works
    ok(call(emulator, "GET", f"/subscriptions/{subscription['id']}/"))
