# The shop's two everyday commands are `make run` and `make test`; everything they need is installed
# on first use (Python packages into .venv, Debian's chromium for the browser tests).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
EMULATOR_PORT ?= 8100
HOST ?= 127.0.0.1
# Local development defaults; production sets its own environment (see .env.example).
DEV_ENV := DEBUG=$${DEBUG:-1} SHOP_BASE_URL=$${SHOP_BASE_URL:-http://$(HOST):$(PORT)} \
	EMULATOR_URL=$${EMULATOR_URL:-http://$(HOST):$(EMULATOR_PORT)}

.PHONY: run test install emulator worker migrate demo clean browser bench static

$(VENV)/.installed: requirements.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

install: $(VENV)/.installed

# Debian's chromium for the end-to-end tests (Playwright drives it; it never downloads a browser).
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
		echo "Installing Debian's chromium for the browser tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null \
		|| echo "chromium could not be installed: browser tests will be skipped"; \
	fi

migrate: install
	$(DEV_ENV) $(PY) manage.py migrate --noinput

demo: migrate
	$(DEV_ENV) $(PY) manage.py load_demo_catalog

# Shop on $(PORT) and emulator on $(EMULATOR_PORT) until Ctrl-C; the emulator sends 29 Next and Klarna v2
# webhooks to the shop; run_schedule runs production's beat schedule (config/celery.py) without a broker.
# Django logs in TIME_ZONE (it sets TZ for its own process); the emulator gets the same TZ so their lines agree.
run: demo
	@echo "Shop:     http://$(HOST):$(PORT)/"
	@echo "Emulator: http://$(HOST):$(EMULATOR_PORT)/"
	@trap 'kill 0' INT TERM; \
	shop_tz=$$($(DEV_ENV) $(PY) manage.py shell --no-imports -c "from django.conf import settings; print(settings.TIME_ZONE)"); \
	TZ=$$shop_tz EMULATOR_NEXT_WEBHOOK_TARGET=http://$(HOST):$(PORT)/payments/webhooks/next/ \
	EMULATOR_KLARNA_GLOBAL_WEBHOOK_TARGET=http://$(HOST):$(PORT)/payments/webhooks/klarna_authorize/ \
		$(PY) -m emulator --host $(HOST) --port $(EMULATOR_PORT) & \
	$(DEV_ENV) $(PY) manage.py runserver $(HOST):$(PORT) & \
	$(DEV_ENV) $(PY) manage.py run_schedule & \
	wait

emulator: install
	$(PY) -m emulator --host $(HOST) --port $(EMULATOR_PORT)

# A Celery worker with beat, for when CELERY_BROKER_URL points at Redis.
worker: install
	@test -n "$$CELERY_BROKER_URL" || { echo "Set CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0); without it tasks run eagerly in the web process."; exit 1; }
	$(DEV_ENV) $(VENV)/bin/celery -A config worker -B -l info

# The whole suite, including tests/production (gunicorn with DEBUG=0, as docker-compose runs it). The
# test settings decide everything else (config/settings.py, TESTING), whatever the shell or .env holds.
test: install browser
	$(PY) -m pytest $(PYTEST_ARGS)

# What the production image builds (see Dockerfile): compressed, content-hashed static files.
static: install
	DEBUG=1 STATICFILES_MANIFEST=1 $(PY) manage.py collectstatic --noinput

# They need PostgreSQL and Redis and make their own database and Redis db (see each script's --help).
bench: install
	$(PY) bench/checkout.py
	$(PY) bench/renewals.py
	$(PY) bench/renewals.py --shop-run --n 10000
	$(PY) bench/budget.py
	$(PY) bench/pages.py

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
