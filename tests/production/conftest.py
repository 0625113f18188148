"""The production tier: the shop exactly as docker-compose runs it, started once for the tier.

Why a separate process and not Django's live_server: what broke in production (issue 9, item 1) lived in
what only production runs: gunicorn, DEBUG=0, settings read from the environment, static files built
by collectstatic. So this tier builds them the way the Dockerfile does, prepares the database the way the
compose `migrate` service does, and starts the compose `web` command (its bind address swapped for a free
local port). Its environment is built here from scratch, not inherited, so the caller's shell cannot
change what is tested; the database is a SQLite file of its own, or, when DATABASE_URL names PostgreSQL, a
database of its own beside that one ("<name>_production"), dropped afterwards.

Transport: there is no TLS proxy in front, so redirects to HTTPS and Secure cookies are off here; the
proxy header is on, so a request that says it came through the proxy gets HSTS. The deploy check with the
full production settings is tests/production/test_transport.py.
"""
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
import yaml

from tests.conftest import require_service
from tests.emulator_process import EmulatorProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_SECRET = "emulator-webhook-secret"
START_TIMEOUT = 30


@dataclass
class ProductionShop:
    url: str
    emulator: EmulatorProcess
    log_path: Path
    database_url: str

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, **kwargs) -> requests.Response:
        """GET `path` from the shop, never through a proxy the caller's environment names."""
        with requests.Session() as session:
            session.trust_env = False
            return session.get(self.url + path, timeout=10, allow_redirects=False, **kwargs)


def compose_web_command(port: int) -> list[str]:
    """docker-compose.yml's web command, listening on 127.0.0.1:`port`."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    command = list(services["web"]["command"])
    command[command.index("--bind") + 1] = f"127.0.0.1:{port}"
    return [str(Path(sys.executable).with_name(command[0])), *command[1:]]


def dockerfile_collectstatic() -> tuple[dict[str, str], list[str]]:
    """The Dockerfile's collectstatic step: its variable assignments and its command."""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("RUN ") and "collectstatic" in line:
            words = shlex.split(line[4:])
            assignments = dict(word.split("=", 1) for word in words if "=" in word and not word.startswith("-"))
            command = [word for word in words if word not in {f"{k}={v}" for k, v in assignments.items()}]
            assert command[0] == "python", command
            return assignments, [sys.executable, *command[1:]]
    raise AssertionError("the Dockerfile has no collectstatic step")


def admin_url(database_url: str) -> str:
    """The same PostgreSQL server's maintenance database, for work on `database_url`'s database from outside."""
    return urlunsplit(urlsplit(database_url)._replace(path="/postgres"))


def own_database(tmp: Path):
    """(DATABASE_URL for the tier, cleanup). PostgreSQL when the caller's DATABASE_URL names it."""
    given = os.environ.get("DATABASE_URL", "")
    if not given.startswith(("postgres://", "postgresql://")):
        return f"sqlite:///{tmp / 'shop.sqlite3'}", lambda: None
    import psycopg

    parts = urlsplit(given)
    name = parts.path.lstrip("/") + "_production"
    admin = admin_url(given)

    def recreate(create: bool):
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if create:
                conn.execute(f'CREATE DATABASE "{name}"')

    recreate(create=True)
    return urlunsplit(parts._replace(path="/" + name)), lambda: recreate(create=False)


def production_environment(*, url: str, emulator_url: str, database_url: str, static_root: Path) -> dict:
    return {
        "PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8",
        "ENV_FILE": "",  # a developer's .env (say, real provider URLs) must not reach this shop
        "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "127.0.0.1",
        "SHOP_BASE_URL": url, "EMULATOR_URL": emulator_url, "DATABASE_URL": database_url,
        "NEXT_API_TOKEN": "emulator-token", "NEXT_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "KLARNA_USERNAME": "PK_TEST", "KLARNA_PASSWORD": "emulator-secret",
        # Every provider's credentials are required with DEBUG off, offered route or not (the emulator's).
        "KLARNA_AUTHORIZE_API_KEY": "klarna_test_api_emulator",
        "KLARNA_AUTHORIZE_SIGNING_KEY": "emulator-klarna-signing-key",
        "MULTISAFEPAY_API_KEY": "msp-emulator-api-key",
        "PAYMENT_ROUTES": "next,klarna_payments", "STATIC_ROOT": str(static_root), "LOG_LEVEL": "INFO",
        # Tasks run in the web process: this tier has no worker (the worker tier is test_workers.py).
        "CELERY_BROKER_URL": "", "CELERY_RESULT_BACKEND": "",
        "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https", "SECURE_HSTS_SECONDS": "3600",
        "SECURE_SSL_REDIRECT": "0", "SESSION_COOKIE_SECURE": "0", "CSRF_COOKIE_SECURE": "0",
        "PROVIDER_READ_TIMEOUT": "5", "PROVIDER_MAX_BACKOFF": "0.2",
    }


def run(command: list[str], env: dict, log) -> None:
    log.write(f"$ {shlex.join(command)}\n".encode())
    log.flush()
    result = subprocess.run(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=120)
    assert result.returncode == 0, f"{command} failed, see the log"


@pytest.fixture(scope="session")
def production_shop(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("production")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    setup_log_path, log_path = tmp / "setup.log", tmp / "gunicorn.log"
    emulator = EmulatorProcess()
    web, drop_database = None, lambda: None
    try:
        emulator.start(env={
            "EMULATOR_RATE_LIMIT": "0", "EMULATOR_NEXT_WEBHOOK_TARGET": url + "/payments/webhooks/next/",
            "EMULATOR_NEXT_WEBHOOK_SECRET": WEBHOOK_SECRET})
        database_url, drop_database = own_database(tmp)
        env = production_environment(url=url, emulator_url=emulator.url, database_url=database_url,
                                     static_root=tmp / "static")
        with open(setup_log_path, "ab") as setup_log:
            run([sys.executable, "manage.py", "migrate", "--noinput"], env, setup_log)
            build_env, build_command = dockerfile_collectstatic()
            run(build_command, {**env, **build_env}, setup_log)
            run([sys.executable, "manage.py", "load_demo_catalog"], env, setup_log)
        with open(log_path, "ab") as log:
            web = subprocess.Popen(compose_web_command(port), cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        _wait_until_up(url, web, log_path)
        yield ProductionShop(url=url, emulator=emulator, log_path=log_path, database_url=database_url)
    except Exception:
        sys.stderr.write(setup_log_path.read_text(errors="replace")[-4000:] if setup_log_path.exists() else "")
        raise
    finally:
        if web is not None:
            _stop(web)
        emulator.stop()
        drop_database()


def _wait_until_up(url: str, web: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    session = requests.Session()
    session.trust_env = False
    while time.monotonic() < deadline and web.poll() is None:
        try:
            if session.get(url + "/", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer on {url}:\n{log_path.read_text(errors='replace')[-4000:]}")


def _stop(web: subprocess.Popen) -> None:
    """SIGTERM to gunicorn's process group (arbiter and workers), SIGKILL if it hangs."""
    if web.poll() is None:
        os.killpg(web.pid, signal.SIGTERM)
        try:
            web.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(web.pid, signal.SIGKILL)
            web.wait(timeout=5)


class BrowserThread:
    """Headless Chromium driven from a thread of its own.

    Playwright's sync API refuses to start in a thread where another instance runs its event loop, and the
    e2e tier keeps its session-wide browser open until the end of the run. So every Playwright call of
    this tier runs in one dedicated thread: `run(flow)` calls `flow(page)` there with a fresh context (a
    phone) and returns its result, re-raising its assertion errors in the test.
    """

    def __init__(self):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="production-browser")
        self._pool.submit(self._launch).result()

    def _launch(self):
        from playwright.sync_api import sync_playwright

        from tests.e2e.conftest import CHROMIUM, LAUNCH_ARGS

        self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)

    def run(self, flow):
        return self._pool.submit(self._in_context, flow).result()

    def _in_context(self, flow):
        context = self._browser.new_context(viewport={"width": 390, "height": 844})
        page = context.new_page()
        page.set_default_timeout(20000)
        page.static_responses = []  # (url, status) of every static file the page asked for
        page.on("response", lambda response: "/static/" in response.url and page.static_responses.append(
            (response.url, response.status)))
        try:
            return flow(page)
        finally:
            context.close()

    def close(self):
        def stop():
            self._browser.close()
            self._playwright.stop()
        self._pool.submit(stop).result()
        self._pool.shutdown()


@pytest.fixture(scope="session")
def production_browser():
    from tests.e2e.conftest import CHROMIUM

    require_service(os.path.exists(CHROMIUM), "needs Debian's chromium (make test installs it)")
    browser = BrowserThread()
    yield browser
    browser.close()
