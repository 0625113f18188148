"""A Klarna Payments upsell and the merchant's capture, cancel or release of its order take turns: neither is
told "declined", no extra is left uncaptured behind a "done", and no stuck upsell holds a capture back for good."""

import pytest

from payments.models import Upsell
from tests.integration.klarna_upsells.flow import (
    after_the_first_read,
    assert_klarna_holds_what_the_shop_booked,
    capture_from_admin,
    klarna_order_of,
)
from tests.integration.upsell_flow import accept

pytestmark = pytest.mark.django_db(transaction=True)


# --- a capture and an upsell of one order at the same moment --------------------------------------------
# Klarna adds an upsell by raising the authorization, which it refuses once the order is captured: a full
# capture clicked while an upsell was being charged captured the order as it was, and the upsell was then
# refused and booked "Declined by the payment provider", which nobody had done.


def test_a_capture_clicked_while_an_upsell_is_being_added_says_so_and_does_nothing(paid, client, emulator, queued,
                                                                                    admin_client, monkeypatch):
    from payments.models import PaymentOperation
    from payments.services.upsells import upsell_charge

    order, attempt, offer = paid
    assert accept(client, order, offer).status_code == 303
    upsell = Upsell.objects.get()
    # The upsell's charge has read the order and is about to raise its authorization: the merchant captures.
    said = after_the_first_read(monkeypatch, lambda: capture_from_admin(admin_client, attempt))
    assert upsell_charge(upsell_id=upsell.pk).state == "added"
    monkeypatch.undo()
    assert "being added to this order" in said[1] and "try again in a moment" in said[1], said
    assert "declined" not in said[1].lower() and not said[1].endswith(": done.")
    assert not PaymentOperation.objects.exists()
    assert klarna_order_of(emulator, attempt)["captured_amount"] == 0
    assert_klarna_holds_what_the_shop_booked(emulator, order, attempt)

    # A moment later the same click captures the order with its upsell, and the books say so.
    assert capture_from_admin(admin_client, attempt).endswith(": done.")
    assert klarna_order_of(emulator, attempt)["captured_amount"] == order.total
    upsell.refresh_from_db()
    attempt.refresh_from_db()
    assert attempt.status == "captured" and upsell.attempt.status == "captured"


def test_an_upsell_charged_while_a_capture_is_being_sent_waits_for_it(paid, client, emulator, queued,
                                                                      admin_client, monkeypatch):
    """The other way round: the upsell's worker starts while the merchant's capture is at Klarna. It waits,
    and once the order is captured in full it is cancelled with the true reason, not declined."""
    from payments.providers.klarna_payments.client import KlarnaClient
    from payments.services.upsells import CAPTURED_BEFORE_CHARGE, upsell_charge

    order, attempt, offer = paid
    assert accept(client, order, offer).status_code == 303
    upsell = Upsell.objects.get()
    order_action, meanwhile = KlarnaClient.order_action, []

    def the_upsell_charges_then_capture(self, order_id, action, body=None, **kwargs):
        if action == "captures" and not meanwhile:
            meanwhile.append(upsell_charge(upsell_id=upsell.pk).state)
        return order_action(self, order_id, action, body, **kwargs)

    monkeypatch.setattr(KlarnaClient, "order_action", the_upsell_charges_then_capture)
    assert capture_from_admin(admin_client, attempt).endswith(": done.")
    monkeypatch.undo()
    assert meanwhile == ["waiting"]
    assert upsell_charge(upsell_id=upsell.pk).state == "cancelled"  # the task's retry
    upsell.refresh_from_db()
    attempt.refresh_from_db()
    assert upsell.attempt.failure_reason == CAPTURED_BEFORE_CHARGE
    assert attempt.status == "captured" and attempt.captured_amount == order.total
    klarna = klarna_order_of(emulator, attempt)
    assert klarna["status"] == "CAPTURED" and klarna["captured_amount"] == klarna["order_amount"] == order.total


def test_a_capture_of_everything_left_that_an_upsell_outran_captures_nothing_and_says_why(
        paid, client, emulator, queued, monkeypatch):
    """"Capture everything left" read the order, an upsell was added, and only then was the capture claimed:
    it captured the old figure, leaving the extra uncaptured, and said "done"."""
    from payments.models import PaymentOperation
    from payments.services.order_management import OperationRefused, payment_capture
    from payments.services.upsells import upsell_charge

    order, attempt, offer = paid
    assert accept(client, order, offer).status_code == 303
    upsell = Upsell.objects.get()
    # The capture's first read (everything left), before its claim: the upsell lands.
    meanwhile = after_the_first_read(monkeypatch, lambda: upsell_charge(upsell_id=upsell.pk).state)
    with pytest.raises(OperationRefused, match="changed meanwhile") as refused:
        payment_capture(attempt_id=attempt.pk)
    monkeypatch.undo()
    assert "nothing was captured" in str(refused.value)
    assert meanwhile == [None, "added"]
    assert klarna_order_of(emulator, attempt)["captured_amount"] == 0 and not PaymentOperation.objects.exists()

    payment_capture(attempt_id=attempt.pk)  # the merchant's next click takes it all
    order.refresh_from_db()
    attempt.refresh_from_db()
    upsell.attempt.refresh_from_db()
    assert klarna_order_of(emulator, attempt)["captured_amount"] == order.total == attempt.captured_amount
    assert (attempt.status, upsell.attempt.status) == ("captured", "captured")


def test_a_confirmed_capture_of_everything_left_captures_nothing_when_an_upsell_came_since(paid, client, emulator,
                                                                                           queued, admin_client):
    """The merchant left the amount empty ("everything left") and read "Capture € X" on the confirmation page;
    an upsell was added before they confirmed. The confirmed form captured X plus the upsell, a figure the
    merchant never saw (and, carrying X alone, it left the extra uncaptured with a plain "done": the review
    of stop 29). It captures nothing now and says the new figure; confirmed again, it takes everything."""
    import re

    from django.urls import reverse

    from common.money import format_minor
    from payments.services.upsells import upsell_charge
    from tests.integration.admin_forms import confirmation_key

    order, attempt, offer = paid
    url = reverse("admin:payments_paymentattempt_operation", args=[attempt.pk, "capture"])
    opened = admin_client.get(url)
    statement = admin_client.post(url, {"amount": "", "tracking_number": "", "carrier": "",
                                        "confirmation": confirmation_key(opened)}).content.decode()
    stated = attempt.amount
    assert f"Capture {format_minor(stated, 'EUR')} of provider order" in statement
    hidden = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', statement))

    assert accept(client, order, offer).status_code == 303  # the shopper takes the offer meanwhile
    assert upsell_charge(upsell_id=Upsell.objects.get().pk).state == "added"
    assert klarna_order_of(emulator, attempt)["order_amount"] == stated + 1290

    said = admin_client.post(url, hidden, follow=True).content.decode()  # the merchant confirms the page they read
    assert "changed meanwhile" in said and format_minor(stated + 1290, "EUR") in said, said
    assert klarna_order_of(emulator, attempt)["captured_amount"] == 0

    opened = admin_client.get(url)
    statement = admin_client.post(url, {"amount": "", "tracking_number": "", "carrier": "",
                                        "confirmation": confirmation_key(opened)}).content.decode()
    assert f"Capture {format_minor(stated + 1290, 'EUR')} of provider order" in statement
    admin_client.post(url, dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', statement)))
    assert klarna_order_of(emulator, attempt)["captured_amount"] == stated + 1290
    attempt.refresh_from_db()
    assert attempt.captured_amount == stated + 1290 and attempt.status == "captured"


# --- review of stop 29: an upsell waits for every capture not yet booked, and never for good ----------------

def test_an_upsell_charged_while_a_capture_is_being_booked_waits_for_it(paid, client, emulator, queued, monkeypatch):
    """The capture's row said DONE as soon as Klarna answered, before the books were written (after one more
    read of Klarna's order): an upsell charged in that gap raised an authorization Klarna had captured and was
    booked "Declined by the payment provider". The operation now stays pending until it is booked."""
    from payments.providers.klarna_payments.client import KlarnaClient
    from payments.services.order_management import payment_capture
    from payments.services.upsells import CAPTURED_BEFORE_CHARGE, upsell_charge

    order, attempt, offer = paid
    assert accept(client, order, offer).status_code == 303
    upsell = Upsell.objects.get()
    order_action, read_order, seen = KlarnaClient.order_action, KlarnaClient.read_order, {}

    def capture(self, order_id, action, body=None, **kwargs):
        answer = order_action(self, order_id, action, body, **kwargs)
        seen["captured"] = seen.get("captured") or action == "captures"
        return answer

    def read_while_the_upsell_charges(self, order_id):
        if seen.get("captured") and "upsell" not in seen:  # the capture's read-back, before its booking
            seen["upsell"] = None
            seen["upsell"] = upsell_charge(upsell_id=upsell.pk).state
        return read_order(self, order_id)

    monkeypatch.setattr(KlarnaClient, "order_action", capture)
    monkeypatch.setattr(KlarnaClient, "read_order", read_while_the_upsell_charges)
    payment_capture(attempt_id=attempt.pk, amount=attempt.amount)
    monkeypatch.undo()
    assert seen["upsell"] == "waiting"
    assert upsell_charge(upsell_id=upsell.pk).state == "cancelled"  # the task's retry, once it is booked
    upsell.refresh_from_db()
    assert upsell.attempt.failure_reason == CAPTURED_BEFORE_CHARGE


def test_an_upsell_waits_for_a_capture_whose_answer_was_lost_until_the_reconcile_settles_it(
        paid, client, emulator, queued, monkeypatch):
    """A capture whose answer was lost stays pending with its error recorded: it did not count as running, so
    an upsell's retry raised the authorization Klarna had captured, and was told "declined"."""
    from payments.exceptions import ProviderUnavailable
    from payments.models import PaymentOperation
    from payments.providers.klarna_payments.client import KlarnaClient
    from payments.services.operation_outcomes import operation_settle
    from payments.services.order_management import payment_capture
    from payments.services.upsells import CAPTURED_BEFORE_CHARGE, upsell_charge

    order, attempt, offer = paid
    assert accept(client, order, offer).status_code == 303
    upsell = Upsell.objects.get()
    order_action, read_order, sent = KlarnaClient.order_action, KlarnaClient.read_order, []

    def capture_then_lose_the_answer(self, order_id, action, body=None, **kwargs):
        answer = order_action(self, order_id, action, body, **kwargs)
        if action == "captures":
            sent.append(answer)
            raise ProviderUnavailable("read timed out")
        return answer

    def unreachable_after_it(self, order_id):
        if sent:
            raise ProviderUnavailable("connect timed out")
        return read_order(self, order_id)

    monkeypatch.setattr(KlarnaClient, "order_action", capture_then_lose_the_answer)
    monkeypatch.setattr(KlarnaClient, "read_order", unreachable_after_it)
    op = payment_capture(attempt_id=attempt.pk, amount=attempt.amount)
    monkeypatch.undo()
    assert op.result == PaymentOperation.Result.PENDING and op.error
    assert upsell_charge(upsell_id=upsell.pk).state == "waiting"
    assert operation_settle(operation_id=op.pk, source="reconcile").result == PaymentOperation.Result.DONE
    assert upsell_charge(upsell_id=upsell.pk).state == "cancelled"
    upsell.refresh_from_db()
    assert upsell.attempt.failure_reason == CAPTURED_BEFORE_CHARGE


def test_an_upsell_klarna_will_not_tell_about_holds_the_capture_back_for_a_while_not_for_good(
        paid, client, emulator, queued, monkeypatch):
    """An upsell left pending whose read-back Klarna refuses (a 4xx) stopped the reconcile run for every upsell
    after it, and refused the order's capture, cancel and release for good ("try again in a moment")."""
    from datetime import timedelta

    from django.utils import timezone

    from payments.exceptions import ProviderRequestError, ProviderUnavailable
    from payments.models import PaymentAttempt
    from payments.providers.klarna_payments.client import KlarnaClient
    from payments.selectors import UPSELL_OUTCOME_WAIT
    from payments.services.order_management import OperationRefused, payment_capture
    from payments.services.upsells import upsell_charge, upsells_reconcile

    order, attempt, offer = paid
    assert accept(client, order, offer).status_code == 303
    upsell = Upsell.objects.get()
    read_order = KlarnaClient.read_order

    def outage(self, order_id):
        raise ProviderUnavailable("connect timed out")

    def refused(self, order_id):
        raise ProviderRequestError("not found", status=404, code="NOT_FOUND")

    monkeypatch.setattr(KlarnaClient, "read_order", outage)
    with pytest.raises(ProviderUnavailable):
        upsell_charge(upsell_id=upsell.pk)
    upsell.refresh_from_db()
    assert upsell.attempt.status == "pending"
    monkeypatch.setattr(KlarnaClient, "read_order", refused)
    assert upsells_reconcile(older_than=0) == 0  # logged and passed over, not raised
    monkeypatch.setattr(KlarnaClient, "read_order", read_order)
    with pytest.raises(OperationRefused, match="being added to this order right now"):
        payment_capture(attempt_id=attempt.pk, amount=attempt.amount)
    PaymentAttempt.objects.filter(pk=upsell.attempt_id).update(
        updated_at=timezone.now() - UPSELL_OUTCOME_WAIT - timedelta(seconds=1))
    payment_capture(attempt_id=attempt.pk)  # everything left at Klarna, as read
    assert klarna_order_of(emulator, attempt)["captured_amount"] == klarna_order_of(emulator, attempt)["order_amount"]
