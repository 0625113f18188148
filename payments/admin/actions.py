"""Merchant actions on one object, each on its own confirmation page (a form, then the service call).
Shared by subscriptions (renew, retry, cancel, reschedule) and payments (capture, refund, ...)."""
from django.contrib import messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from ..exceptions import AlreadyConfirmed, PaymentError
from ..services.confirmations import confirmation_key, new_confirmation_key
from .confirmations import Stated

# Posted by the confirmation step; an action that moves money runs only on a POST that carries it.
CONFIRMED = "confirmed"
# The form's one-time key (payments.services.confirmations): the service records it, so the same form
# posted twice acts once.
CONFIRMATION = "confirmation"


def action_links(obj, url_name, actions):
    links = [format_html('<a class="button" href="{}">{}</a>', reverse(url_name, args=[obj.pk, key]), label)
             for key, (label, _, _) in actions.items()]
    return format_html(" ".join(["{}"] * len(links)), *links)


def action_page(model_admin, request, obj, *, title, form_class, run, template, context, statement=None,
                refusal=None, replayed=None):
    """GET: the form. POST: run(cleaned_data, key) -> a success message; a PaymentError is shown as the
    refusal it is (with the provider's reason), and the object page is shown again either way.

    `statement(cleaned_data)`, given for actions that move money, says what is about to happen with the
    amount in the payment's currency. A form without inputs states it on its first page, which is then
    the confirmation page. A form with inputs (an amount) first checks them, then shows the statement
    with the inputs carried along hidden, and runs only on a POST carrying CONFIRMED: a typed amount is
    never charged or refunded before the merchant has read it back in currency.

    Every form rendered carries a fresh one-time key (CONFIRMATION) and runs only with one; `run` hands
    it to the service, which records it before calling the provider. `replayed(key)` raises
    AlreadyConfirmed when that form was already acted on: a second POST of the same form (double click,
    two tabs) is told what the first did, before `refusal` (why the action is not open now, which the
    first POST may have caused) is even looked at; concurrent twins meet in the service, under its lock.
    """
    change_url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    key = confirmation_key(request.POST.get(CONFIRMATION)) if request.method == "POST" else ""
    try:
        if key and replayed is not None:
            replayed(key)
    except AlreadyConfirmed as exc:
        messages.warning(request, f"{title}: {exc}")
        return redirect(change_url)
    if refusal:
        messages.error(request, refusal)
        return redirect(change_url)
    form = form_class(request.POST if request.method == "POST" else None)
    # A form whose fields are all hidden (what its statement carried: the renewal date a "Renew now" page was
    # for) has no inputs: it states on its first page and runs from it.
    inputs = [field for field in form if not field.is_hidden]
    confirming = False
    stated = None
    if request.method == "POST" and not inputs and not form.is_valid():
        messages.error(request, f"{title}: this page is out of date; nothing was done. Open it again.")
        return redirect(change_url)
    if request.method == "POST" and form.is_valid():
        runs = statement is None or not inputs or request.POST.get(CONFIRMED) == "1"
        if runs and key:
            try:
                done = run(form.cleaned_data, key)
            except AlreadyConfirmed as exc:  # its twin got there first, at the same moment
                messages.warning(request, f"{title}: {exc}")
            except PaymentError as exc:
                messages.error(request, f"{title} refused: {exc}")
            else:
                messages.success(request, f"{title}: {done}")
            return redirect(change_url)
        if runs:  # a form we never issued (a page from before keys, a script): nothing runs, confirm again
            messages.warning(request, "Nothing was done yet: confirm this form (again) to run it.")
        if statement is not None:
            confirming, stated = True, _stated(statement, form.cleaned_data)
            if stated.carried:
                form = _carrying(form_class, request.POST, form, stated.carried)
    elif statement is not None and not inputs:
        confirming, stated = True, _stated(statement, {})
        if stated.carried:
            form = form_class(initial=stated.carried)
    return TemplateResponse(request, template, {
        **model_admin.admin_site.each_context(request), "title": title, "form": form, "opts": obj._meta,
        "confirming": confirming, "statement": stated.text if stated else None, "moves_money": statement is not None,
        "confirmed_name": CONFIRMED, "confirmation_name": CONFIRMATION, "confirmation_key": new_confirmation_key(),
        **context,
    })


def _stated(statement, data) -> Stated:
    """What `statement` says of `data`: a sentence, or a Stated that also fills in inputs left empty."""
    said = statement(data)
    return said if isinstance(said, Stated) else Stated(said)


def _carrying(form_class, data, form, carried):
    """The form bound again with the values the statement fixed (Stated.carried), as the merchant would have
    typed them, so the confirmation page carries them hidden and the confirmed POST runs exactly them."""
    data = data.copy()
    for name, value in carried.items():
        data[name] = form.fields[name].prepare_value(value)
    bound = form_class(data)
    bound.is_valid()
    return bound
