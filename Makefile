# Two commands matter: `make run` and `make test`. Everything else supports them.
SHELL := /bin/bash
.DEFAULT_GOAL := run

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
STAMP := $(VENV)/.installed-$(shell sha256sum requirements.lock | cut -c1-12)
PO := $(wildcard dsr/translations/*/LC_MESSAGES/messages.po)
MO := $(PO:.po=.mo)

# `PORT=5001 make run` is a shorthand for DSR_PORT.
ifdef PORT
export DSR_PORT := $(PORT)
endif

OIDC_PROVIDER := tests/oidc_provider
OIDC_STAMP := $(OIDC_PROVIDER)/node_modules/.installed-$(shell sha256sum $(OIDC_PROVIDER)/package-lock.json | cut -c1-12)

.PHONY: run test setup chromium loadgen fonts nodejs oidc-provider translations messages lint bench bench-quick clean

setup: $(STAMP) $(MO) fonts

$(STAMP): requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "dsr needs Python 3.11; set PYTHON=/path/to/python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	rm -f $(VENV)/.installed-*
	touch $@

# Compiled catalogues are build output; the .po files are the source.
dsr/translations/%/LC_MESSAGES/messages.mo: dsr/translations/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -i $< -o $@ --statistics

# Re-extract translatable strings after changing templates or code, then translate the
# new entries in dsr/translations/sv/LC_MESSAGES/messages.po.
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o dsr/translations/messages.pot --no-location --sort-output --omit-header --ignore-dirs ".* __pycache__" .
	$(BIN)/pybabel update -i dsr/translations/messages.pot -d dsr/translations --no-fuzzy-matching --ignore-obsolete --omit-header --width 100

# Debian's chromium drives the browser tests; it comes from apt, never from a downloader.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium (browser tests need it)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y --no-install-recommends chromium || \
	  { $$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends chromium; }; }

# Debian's wrk drives the intake benchmark (and the harness test, which runs it on a tiny
# size); like chromium it comes from apt.
loadgen:
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "Installing Debian's wrk (the intake benchmark's load generator)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y --no-install-recommends wrk || \
	  { $$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends wrk; }; }

# The answer PDFs are set in DejaVu Sans (it has å, ä, ö and much more), found through
# fontconfig; Debian ships it as fonts-dejavu-core.
fonts:
	@test -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf || { \
	  echo "Installing Debian's fonts-dejavu-core (the answer PDFs need it)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y --no-install-recommends fonts-dejavu-core || \
	  { $$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends fonts-dejavu-core; }; }

# The test suite signs in through a real OpenID provider, panva's oidc-provider on Node.js,
# installed from the npm registry with the versions pinned in its package-lock.json.
nodejs:
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { \
	  echo "Installing Debian's nodejs and npm (the tests' OpenID provider needs them)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y --no-install-recommends nodejs npm || \
	  { $$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends nodejs npm; }; }

oidc-provider: nodejs $(OIDC_STAMP)

$(OIDC_STAMP): $(OIDC_PROVIDER)/package-lock.json
	npm ci --prefix $(OIDC_PROVIDER) --no-audit --no-fund --loglevel=error
	touch $@

run: setup
	$(FLASK) dsr migrate
	$(FLASK) dsr seed-demo
	$(FLASK) dsr serve

test: setup chromium loadgen oidc-provider lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check dsr tests bench app.py dsr/migrations/env.py
	$(BIN)/ruff format --check --quiet dsr tests bench app.py
	$(BIN)/mypy

# Benchmarks (see BENCHMARKS.md): a million requests on the PostgreSQL server at
# 127.0.0.1:5432 (DSR_BENCH_POSTGRES_URL to use another), or a smaller run on SQLite.
# BENCH_ARGS passes more options, e.g. BENCH_ARGS="--only queue".
bench: setup loadgen
	$(BIN)/python -m bench --size full --backend postgresql $(BENCH_ARGS)

bench-quick: setup loadgen
	$(BIN)/python -m bench --size quick --backend sqlite $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance/*.sqlite3* .pytest_cache tests/artifacts $(MO) $(OIDC_PROVIDER)/node_modules
