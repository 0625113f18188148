"""Merchant actions on one object, each on its own confirmation page (a form, then the service call).
Shared by subscriptions (renew, retry, cancel, reschedule) and payments (capture, refund, ...)."""
from django.contrib import messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from ..exceptions import PaymentError


def action_links(obj, url_name, actions):
    links = [format_html('<a class="button" href="{}">{}</a>', reverse(url_name, args=[obj.pk, key]), label)
             for key, (label, _, _) in actions.items()]
    return format_html(" ".join(["{}"] * len(links)), *links)


def action_page(model_admin, request, obj, *, title, form_class, run, template, context):
    """GET: the form. POST: run(cleaned_data) -> a success message; a PaymentError is shown as the
    refusal it is (with the provider's reason), and the object page is shown again either way."""
    form = form_class(request.POST if request.method == "POST" else None)
    change_url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    if request.method == "POST" and form.is_valid():
        try:
            done = run(form.cleaned_data)
        except PaymentError as exc:
            messages.error(request, f"{title} refused: {exc}")
        else:
            messages.success(request, f"{title}: {done}")
        return redirect(change_url)
    return TemplateResponse(request, template, {
        **model_admin.admin_site.each_context(request), "title": title, "form": form, "opts": obj._meta, **context,
    })
