"""Issue 9, item 6: the suite's configuration is its own. Plain `pytest` must start without DEBUG or
secrets in the environment, and a CELERY_BROKER_URL in the caller's shell must not switch eager mode off
(the worker tier switches it off itself)."""
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from config.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]


def test_the_pytest_process_runs_tasks_eagerly_on_no_broker_of_the_callers():
    assert settings.CELERY_TASK_ALWAYS_EAGER and celery_app.conf.task_always_eager
    assert celery_app.conf.broker_url == "memory://localhost/"
    assert settings.CELERY_RESULT_BACKEND is None


def test_plain_pytest_passes_whatever_the_callers_environment_holds():
    hostile = {key: value for key, value in os.environ.items()
               if not key.startswith(("PYTEST_", "DJANGO_")) and key not in {"SECRET_KEY", "DEBUG"}}
    hostile.update(DEBUG="0", CELERY_BROKER_URL="redis://127.0.0.1:1/0", CELERY_RESULT_BACKEND="redis://127.0.0.1:1/0")
    target = f"{Path(__file__).relative_to(ROOT)}::test_the_pytest_process_runs_tasks_eagerly_on_no_broker_of_the_callers"
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", target],
                            cwd=ROOT, env=hostile, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 passed" in result.stdout


def test_env_file_names_the_file_read_and_empty_reads_none(tmp_path):
    """The production tier and the deploy check set ENV_FILE="" so a developer's .env cannot reach them."""
    env_file = tmp_path / "hostile.env"
    env_file.write_text("SECURE_PROXY_SSL_HEADER=only-one-part\n")
    base = {"PATH": os.environ.get("PATH", ""), "DEBUG": "1"}

    def check(**extra):
        return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env={**base, **extra},
                              capture_output=True, text=True, timeout=120)

    refused = check(ENV_FILE=str(env_file))
    assert refused.returncode != 0 and "SECURE_PROXY_SSL_HEADER" in refused.stderr
    assert check(ENV_FILE="").returncode == 0
