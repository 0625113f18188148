"""Issue 9, item 1: the shop under gunicorn with DEBUG=0 serves its own assets and takes payments on both
routes in a real browser; what it logs meanwhile holds no working token (item 5)."""
import re
import subprocess
import sys

import pytest
import yaml

from tests.e2e.conftest import fill_checkout
from tests.emulator_process import free_port
from tests.production.conftest import ROOT

pytestmark = pytest.mark.e2e

TEN_YEARS = "max-age=315360000"


def hashed_asset(html: str, name: str) -> str:
    """The URL the page links for static file `name` ("css/shop.css" -> /static/css/shop.<hash>.css)."""
    stem, ext = name.rsplit(".", 1)
    match = re.search(rf'/static/{re.escape(stem)}\.([0-9a-f]{{12}})\.{ext}', html)
    assert match, f"no hashed {name} in the page"
    return match.group(0)


def test_static_assets_are_hashed_compressed_and_cached_for_years(production_shop):
    home = production_shop.get("/")
    assert home.status_code == 200
    css = hashed_asset(home.text, "css/shop.css")
    asset = production_shop.get(css, headers={"Accept-Encoding": "gzip"})
    assert asset.status_code == 200
    assert asset.headers["Content-Type"].startswith("text/css")
    assert asset.headers["Content-Encoding"] == "gzip"
    assert TEN_YEARS in asset.headers["Cache-Control"] and "immutable" in asset.headers["Cache-Control"]
    # The unhashed name still answers (old pages, external links), but may only be cached briefly.
    plain = production_shop.get("/static/css/shop.css")
    assert plain.status_code == 200 and TEN_YEARS not in plain.headers["Cache-Control"]
    # Django admin's own assets come from the same build.
    admin = production_shop.get("/admin/login/")
    admin_css = production_shop.get(hashed_asset(admin.text, "admin/css/base.css"))
    assert admin_css.status_code == 200 and TEN_YEARS in admin_css.headers["Cache-Control"]
    assert production_shop.get("/static/css/nope.css").status_code == 404


def test_requests_through_the_tls_proxy_get_hsts(production_shop):
    proxied = production_shop.get("/", headers={"X-Forwarded-Proto": "https"})
    assert proxied.headers["Strict-Transport-Security"] == "max-age=3600"
    assert "Strict-Transport-Security" not in production_shop.get("/").headers


def add_to_cart_and_check_out(page, shop, *, product: str, route: str):
    page.goto(shop.url + "/")
    page.get_by_text(product).first.click()
    page.click("#add-to-cart button[type=submit]")
    page.goto(shop.url + "/checkout/")
    fill_checkout(page, route=route)


def assert_paid_and_styled(page, shop):
    page.wait_for_url(re.compile(r".*/thanks/$"))
    assert "Thank you" in page.content()
    number = page.inner_text("#order-number").strip()
    assert re.fullmatch(r"SO-[0-9A-Z]+", number)
    # The page was styled by the hashed stylesheet: every asset it asked for was there.
    assert page.static_responses and all(status == 200 for _, status in page.static_responses), \
        page.static_responses
    assert page.evaluate("getComputedStyle(document.body).fontFamily") != \
        page.evaluate("(() => { const f = document.createElement('iframe'); document.body.append(f);"
                      " return getComputedStyle(f.contentDocument.body).fontFamily; })()")
    status_url = page.get_attribute("#order-status-link", "href")
    page.goto(status_url if status_url.startswith("http") else shop.url + status_url)
    assert number in page.content() and "Paid" in page.content()
    return number


def test_a_shopper_pays_on_the_next_route(production_browser, production_shop):
    def flow(page):
        add_to_cart_and_check_out(page, production_shop, product="Fjord Enamel Mug", route="next")
        page.wait_for_url(re.compile(r".*/next/klarna/.*"))
        page.click("#klarna-approve")
        assert_paid_and_styled(page, production_shop)

    production_browser.run(flow)


def test_a_shopper_pays_on_the_klarna_payments_route(production_browser, production_shop):
    def flow(page):
        add_to_cart_and_check_out(page, production_shop, product="Aurora Merino Beanie", route="klarna_payments")
        page.wait_for_url(re.compile(r".*/payments/widget/klarna_payments/.*"))
        # The widget script is a hashed static file: without it the button never becomes usable.
        assert any(re.search(r"/static/js/klarna-widget\.[0-9a-f]{12}\.js$", url) for url, _ in page.static_responses)
        page.wait_for_selector("#klarna-pay:not([disabled])")
        page.click("#klarna-pay")
        page.wait_for_selector("#klarna-approve")
        page.click("#klarna-approve")
        assert_paid_and_styled(page, production_shop)

    production_browser.run(flow)
    sessions = production_shop.emulator.control("GET", "/_emulator/klarna/sessions")["sessions"]
    tokens = [s["authorization_token"] for s in sessions if s["authorization_token"]]
    assert tokens
    log = production_shop.log()
    assert "payments/v1/authorizations/***/order" in log  # the request line is there, its token is not
    assert not any(token in log for token in tokens)


def test_the_shop_log_masks_signed_links(production_browser, production_shop):
    def flow(page):
        add_to_cart_and_check_out(page, production_shop, product="Polar Night Candle", route="next")
        page.wait_for_url(re.compile(r".*/next/klarna/.*"))
        page.click("#klarna-decline")
        page.wait_for_url(re.compile(r".*/orders/[^/]+/payment-failed/$"))
        return page.url.rsplit("/orders/", 1)[1].split("/")[0]

    token = production_browser.run(flow)
    number, signature = token.split(":", 1)
    # GET on the retry URL is refused, and Django logs every 4xx with its full path.
    assert production_shop.get(f"/orders/{token}/retry/").status_code == 405
    forged = production_shop.get("/orders/x%0A2099-01-01%2000:00:00,000%20ERROR%20forged/")
    assert forged.status_code == 404
    log = production_shop.log()
    assert f"/orders/{number}:***/retry/" in log
    assert signature not in log
    assert not any(line.startswith("2099") for line in log.splitlines())


def test_the_compose_health_check_passes_against_the_running_web(production_shop):
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    kind, program, flag, code = services["web"]["healthcheck"]["test"]
    assert (kind, program, flag) == ("CMD", "python", "-c") and "8000" in code
    port = production_shop.url.rsplit(":", 1)[1]
    check = subprocess.run([sys.executable, "-c", code.replace("8000", port)], capture_output=True, timeout=20)
    assert check.returncode == 0, check.stderr
    down = subprocess.run([sys.executable, "-c", code.replace("8000", str(free_port()))], capture_output=True,
                          timeout=20)
    assert down.returncode != 0  # nothing listening: unhealthy
