"""A merchant in a browser: log into Django admin and open a payment's page."""
from django.contrib.auth import get_user_model

PASSWORD = "merchant-pass-42"


def admin_login(page, shop, *, username="merchant"):
    """Create a staff superuser and log in through admin's own login form."""
    get_user_model().objects.create_superuser(username=username, email=f"{username}@example.com", password=PASSWORD)
    page.goto(shop.url + "/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")


def payment_page(page, shop, attempt) -> str:
    """The payment attempt's admin page, as text the merchant reads."""
    page.goto(f"{shop.url}/admin/payments/paymentattempt/{attempt.pk}/change/")
    return page.inner_text("#content")
