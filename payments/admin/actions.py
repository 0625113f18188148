"""Merchant actions on one object, each on its own confirmation page (a form, then the service call).
Shared by subscriptions (renew, retry, cancel, reschedule) and payments (capture, refund, ...)."""
from django.contrib import messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from ..exceptions import PaymentError

# Posted by the confirmation step; an action that moves money runs only on a POST that carries it.
CONFIRMED = "confirmed"


def action_links(obj, url_name, actions):
    links = [format_html('<a class="button" href="{}">{}</a>', reverse(url_name, args=[obj.pk, key]), label)
             for key, (label, _, _) in actions.items()]
    return format_html(" ".join(["{}"] * len(links)), *links)


def action_page(model_admin, request, obj, *, title, form_class, run, template, context, statement=None):
    """GET: the form. POST: run(cleaned_data) -> a success message; a PaymentError is shown as the
    refusal it is (with the provider's reason), and the object page is shown again either way.

    `statement(cleaned_data)`, given for actions that move money, says what is about to happen with the
    amount in the payment's currency. A form without inputs states it on its first page, which is then
    the confirmation page. A form with inputs (an amount) first checks them, then shows the statement
    with the inputs carried along hidden, and runs only on a POST carrying CONFIRMED: a typed amount is
    never charged or refunded before the merchant has read it back in currency.
    """
    form = form_class(request.POST if request.method == "POST" else None)
    change_url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    confirming = False
    stated = None
    if request.method == "POST" and form.is_valid():
        if statement is None or not form.fields or request.POST.get(CONFIRMED) == "1":
            try:
                done = run(form.cleaned_data)
            except PaymentError as exc:
                messages.error(request, f"{title} refused: {exc}")
            else:
                messages.success(request, f"{title}: {done}")
            return redirect(change_url)
        confirming, stated = True, statement(form.cleaned_data)
    elif statement is not None and not form.fields:
        confirming, stated = True, statement({})
    return TemplateResponse(request, template, {
        **model_admin.admin_site.each_context(request), "title": title, "form": form, "opts": obj._meta,
        "confirming": confirming, "statement": stated, "moves_money": statement is not None,
        "confirmed_name": CONFIRMED, **context,
    })
