"""What a developer meets under `make run`: a favicon, the emulator's front page, quiet Celery, one clock."""
import logging

import pytest
import requests
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_favicon_everywhere(client, admin_client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302 and response["Location"].endswith("favicon.svg")
    assert b'rel="icon"' in client.get(reverse("shop:catalog")).content
    assert b'rel="icon"' in admin_client.get(reverse("admin:index")).content


def test_emulator_front_page_lists_providers_control_api_and_personas(emulator_process):
    for path in ("/", "/_emulator/"):
        response = requests.get(emulator_process.url + path, timeout=5)
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
        page = response.text
        assert "/next/api/admin/" in page and "/klarna/" in page and "/multisafepay/v1/json/" in page
        assert "POST /_emulator/reset" in page and "+denied" in page
    assert requests.get(emulator_process.url + "/_emulator/health", timeout=5).json()


def test_an_eager_task_logs_no_kombu_hostname_warning(caplog):
    from shop.tasks import send_pending_emails

    with caplog.at_level(logging.WARNING):
        send_pending_emails.delay()
    assert not [r for r in caplog.records if "No hostname" in r.getMessage()]


def test_make_run_gives_the_emulator_the_shops_time_zone():
    from pathlib import Path

    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    run = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "print(settings.TIME_ZONE)" in run and "TZ=$$shop_tz" in run and "-m emulator" in run
