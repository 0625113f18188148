"""docker-compose.yml cannot run here (no Docker engine), so check what can be checked: it parses,
long-running services have health checks, and every command names something this project has."""
import importlib.util
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
LONG_RUNNING = {"proxy", "web", "worker", "beat", "emulator", "postgres", "redis"}


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_production_topology():
    services = compose()["services"]
    assert LONG_RUNNING <= set(services)
    for name in LONG_RUNNING:
        assert "healthcheck" in services[name], name


def test_every_command_exists_in_the_project():
    for name, service in compose()["services"].items():
        command = service.get("command")
        if not command:
            continue
        program = command[0]
        if program == "gunicorn":
            module = command[1].split(":")[0]
            assert importlib.util.find_spec(module), (name, module)
        elif program == "celery":
            app = command[command.index("-A") + 1]
            assert (ROOT / app / "celery.py").exists(), name
        elif program == "python" and command[1] == "-m":
            assert (ROOT / command[2] / "__main__.py").exists(), (name, command[2])
        elif program == "python":
            assert (ROOT / command[1]).exists(), (name, command[1])
        elif program == "redis-server":
            assert service["image"].startswith("redis:"), name  # the image's own server, with its options
        else:
            raise AssertionError(f"{name}: unexpected program {program}")


def test_env_example_lists_every_setting_read_from_the_environment():
    settings_text = (ROOT / "config" / "settings.py").read_text()
    import re

    read = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z_]+)"', settings_text))
    read |= set(re.findall(r'_secret\("([A-Z_]+)"', settings_text))
    example = {line.split("=")[0] for line in (ROOT / ".env.example").read_text().splitlines()
               if line and not line.startswith("#")}
    assert read - example == set()


def dockerfile_cmd():
    import json

    line = next(line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD "))
    return json.loads(line[4:])


def test_the_image_and_compose_run_the_same_web_command():
    """tests/production runs compose's web command; the image's default must be that same command."""
    assert dockerfile_cmd() == compose()["services"]["web"]["command"]
    assert dockerfile_cmd()[0] == "gunicorn"


def test_the_image_builds_hashed_static_files():
    """Without the manifest the web process (DEBUG=0) cannot resolve a single {% static %} URL."""
    build = [line for line in (ROOT / "Dockerfile").read_text().splitlines()
             if line.startswith("RUN ") and "collectstatic" in line]
    assert len(build) == 1 and "STATICFILES_MANIFEST=1" in build[0].split()
    assert build[0].index("collectstatic") > build[0].index("STATICFILES_MANIFEST=1")


def test_the_emulator_sends_every_providers_webhooks_to_the_shop():
    """Each provider the emulator sends webhooks for reads its target from one variable; compose (to the
    web service) and `make run` (to the local shop) must set every one, or that route's webhooks go nowhere."""
    import re

    read = set()
    for path in (ROOT / "emulator").rglob("*.py"):
        read |= set(re.findall(r'"(EMULATOR_\w+_WEBHOOK_TARGET)"', path.read_text()))
    assert read, "no webhook target variable found in the emulator"
    environment = compose()["services"]["emulator"]["environment"]
    makefile = (ROOT / "Makefile").read_text()
    for name in read:
        assert environment.get(name, "").startswith("http://web:8000/payments/webhooks/"), name
        assert f"{name}=http://$(HOST):$(PORT)/payments/webhooks/" in makefile, name


def test_the_web_workers_timeout_outlasts_a_requests_provider_calls(settings):
    """A gunicorn worker killed mid provider call loses the answer (probe D F5: a Klarna order placed and
    never recorded). The timeout must outlast a request's three provider calls at their worst: retries stop
    starting after PROVIDER_RETRY_WINDOW, then one more backoff, connect and read."""
    command = compose()["services"]["web"]["command"]
    timeout = float(command[command.index("--timeout") + 1])
    call = (settings.PROVIDER_RETRY_WINDOW + settings.PROVIDER_MAX_BACKOFF + settings.PROVIDER_CONNECT_TIMEOUT
            + settings.PROVIDER_READ_TIMEOUT)
    assert timeout >= 3 * call, (timeout, call)


def test_only_the_buffering_proxy_is_published_and_the_web_trusts_it():
    """Probe E F7: three slow clients held gunicorn's three sync workers and stopped the shop. Only nginx is
    published; it reads each request whole before gunicorn sees it (deploy/nginx.conf), drops a client that
    stalls, and is the one proxy the rate limits trust for the client's address."""
    import re

    services = compose()["services"]
    assert "ports" not in services["web"] and services["proxy"]["ports"] == ["8000:80"]
    assert services["web"]["environment"]["PAYMENT_TRUSTED_PROXIES"] == "1"
    mounted = services["proxy"]["volumes"][0].split(":")[0]
    conf = (ROOT / mounted).read_text()
    assert "server web:8000;" in conf and "proxy_pass http://shop_web;" in conf
    assert "proxy_request_buffering on;" in conf and "proxy_request_buffering off" not in conf
    assert re.search(r"client_body_timeout (\d+)s;", conf) and re.search(r"client_header_timeout (\d+)s;", conf)
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in conf  # overwritten: one trusted hop
    web = services["web"]["command"]
    assert int(re.search(r"proxy_read_timeout (\d+)s;", conf).group(1)) > int(web[web.index("--timeout") + 1])

