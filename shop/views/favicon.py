"""/favicon.ico: browsers ask for it on pages that name no icon (JSON answers, error pages)."""
from django.shortcuts import redirect
from django.templatetags.static import static


def favicon(request):
    # Resolved per request: with the manifest storage the hashed name is known only once collectstatic ran.
    return redirect(static("favicon.svg"))
