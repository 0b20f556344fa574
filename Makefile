# nyxsync: `make run` runs it, `make test` tests it. Both set up .venv first (once).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# Re-install only when the requirements change.
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-12)

.PHONY: run test install browser lint check bench services-status services-stop clean

# A local run is a development run: DEBUG on unless set (it allows http cookies and git:// on 127.0.0.1).
run: install
	DEBUG=$${DEBUG:-true} $(PY) manage.py run

test: install browser
	$(PY) -m pytest

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing dependencies into $(VENV) (once; about a minute)..."
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

# Debian's chromium for the browser tests (Playwright drives it; no browser download).
browser:
	@command -v chromium >/dev/null || { echo "Installing Debian's chromium..."; \
		(apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
		(sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null); }

# The deployment check runs with production settings and throwaway secrets (it connects to nothing).
lint: install
	$(VENV)/bin/ruff check .
	$(PY) manage.py check --database default
	$(PY) manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=nyxsync.settings.production \
	SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	NYXSYNC_ENCRYPTION_KEYS="$$($(PY) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
	DATABASE_URL=postgres://check@localhost:5432/check REDIS_URL=redis://localhost:6379/0 ALLOWED_HOSTS=nyxsync.example.com \
	$(PY) manage.py check --deploy --fail-level WARNING

bench: install
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

services-status: install
	$(PY) -m nyxsync.embedded status

services-stop: install
	$(PY) -m nyxsync.embedded stop

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
