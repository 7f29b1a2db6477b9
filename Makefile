# Two commands on a fresh machine: `make run` (the site on http://127.0.0.1:8000) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The site needs requirements.txt only (`make run`); the suites, lint and benches also requirements-dev.txt.
RUN_STAMP := $(VENV)/.installed-requirements
STAMP := $(VENV)/.installed-requirements-dev
HOST ?= 127.0.0.1
PORT ?= 8000
# The scale-out pass of `make test` (skipped, saying so, when these do not answer).
SCALEOUT_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/chatsite
SCALEOUT_REDIS_URL ?= redis://127.0.0.1:6379/14
# pytest-xdist workers for tests/ (the unit, integration and scale-out passes): one per core by default;
# `make test PYTEST_WORKERS=0` runs them in one process. The browser suite runs in two workers, each with
# its own daphne, database and Chromium (`make test E2E_WORKERS=0` for one process): it waits more than it
# computes, and two took it from 144 s to 114 s on two cores (docs/testing.md).
PYTEST_WORKERS ?= auto
E2E_WORKERS ?= 2

.PHONY: dashboard prometheus fuzz run test test-unit-and-integration test-unit test-integration test-e2e test-scaleout e2e-repeat browser speech venv lint bench bench-relay bench-http bench-documents perf clean

venv: $(STAMP)

# uv installs the pinned requirements in about 5 s where pip takes about 50 s, most of them compiling every
# module of every package to bytecode up front (Python compiles what is imported, once, on first use). pip,
# without the up-front compile, is the fallback wherever uv cannot be installed or cannot install.
install = { { test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet --disable-pip-version-check uv >/dev/null 2>&1; } \
	&& $(BIN)/uv pip install --quiet --python $(BIN)/python $(1); } \
	|| $(BIN)/python -m pip install --quiet --no-compile $(1)

$(RUN_STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(call install,-r requirements.txt)
	touch $@

$(STAMP): $(RUN_STAMP) requirements.txt requirements-dev.txt
	$(call install,-r requirements-dev.txt)
	touch $@

# A local, git-ignored .env on first run (DEBUG on, a generated SECRET_KEY), so `manage.py createsuperuser`
# and friends work in this checkout. Production sets both in its own environment: with no .env and no
# variables, DEBUG is off and SECRET_KEY is required (chatsite/settings.py).
.env:
	@umask 077; { echo "# Written by 'make run' for local development; git-ignored. Production sets its own environment."; \
		echo "DEBUG=true"; \
		echo "SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')"; } > $@.tmp && mv $@.tmp $@
	@echo "Wrote $@ for local development: DEBUG on and a generated SECRET_KEY"

# `python -m daphne`, not the `daphne` script: a calculator worker (chat/offloop.py, spawned) re-runs the
# parent's main script, and daphne's imports all of Twisted first (docs/operations.md, "Starting daphne").
run: $(RUN_STAMP) .env speech
	DEBUG=true $(BIN)/python manage.py migrate --noinput
	DEBUG=true $(BIN)/python manage.py ensure_demo_user
	@echo "Open http://$(HOST):$(PORT)/ and log in with the demo account above."
	DEBUG=true $(BIN)/python -m daphne -b $(HOST) -p $(PORT) chatsite.asgi:application

# Every suite, each in its own pytest process (async and Playwright tests cannot share one);
# runs them all, prints each one's time and the total, and fails if any failed.
test: venv browser speech
	@failed=""; times=""; began=$$(date +%s); \
	suite() { name=$$1; shift; start=$$(date +%s); "$$@" || failed="$$failed $$name"; \
		times="$$times$$(printf '\n  %-10s %5d s' "$$name" $$(( $$(date +%s) - start )))"; }; \
	suite lint $(MAKE) --no-print-directory lint; \
	suite tests $(MAKE) --no-print-directory test-unit-and-integration; \
	suite e2e $(MAKE) --no-print-directory test-e2e; \
	suite scale-out $(MAKE) --no-print-directory test-scaleout; \
	echo "make test: time per suite:$$times"; \
	printf '  %-10s %5d s\n' total $$(( $$(date +%s) - began )); \
	$(BIN)/python scripts/machine_speed.py; \
	if [ -n "$$failed" ]; then echo "make test: FAILED suites:$$failed"; exit 1; fi; \
	echo "make test: every suite passed"

test-unit-and-integration: venv
	$(BIN)/pytest tests -q -n $(PYTEST_WORKERS)

test-unit: venv
	$(BIN)/pytest tests/unit -q

test-integration: venv
	$(BIN)/pytest tests/integration -q -n $(PYTEST_WORKERS)

test-e2e: venv browser
	$(BIN)/pytest e2e -q -n $(E2E_WORKERS)

# The integration suite again on PostgreSQL and Redis, as a scaled-out deployment runs.
test-scaleout: venv
	@if $(BIN)/python scripts/services_up.py "$(SCALEOUT_DATABASE_URL)" "$(SCALEOUT_REDIS_URL)"; then \
		echo "Scale-out pass: PostgreSQL and Redis answer; running tests/integration against them"; \
		DATABASE_URL="$(SCALEOUT_DATABASE_URL)" REDIS_URL="$(SCALEOUT_REDIS_URL)" $(BIN)/pytest tests/integration -q -n $(PYTEST_WORKERS); \
	else \
		echo "Scale-out pass SKIPPED: PostgreSQL or Redis does not answer (set SCALEOUT_DATABASE_URL / SCALEOUT_REDIS_URL)"; \
	fi

# The socket fuzz test with 20,000 examples instead of the default run's 2,000.
fuzz: venv
	FUZZ_EXAMPLES=20000 $(BIN)/pytest tests/integration/test_fuzz.py -q

# The browser suite five times in a row, no retries: a flaky test fails this.
e2e-repeat: venv browser
	@for run in 1 2 3 4 5; do echo "e2e run $$run/5"; $(BIN)/pytest e2e -q -n $(E2E_WORKERS) || exit 1; done

# A Chromium for the browser suite: CHROMIUM_PATH, Debian's /usr/bin/chromium, or Playwright's own. As root with
# apt-get, Debian's chromium-headless-shell too: headless runs use it (playwright.config.py), at about two thirds
# of the full browser's cost; `--headed` keeps the full one.
browser: venv
	@if [ -z "$$CHROMIUM_PATH" ] && [ ! -x /usr/bin/chromium-headless-shell ] && [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium, chromium-headless-shell and xvfb with apt-get"; \
		install() { apt-get install -y -q "$$@" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q "$$@" >/dev/null; }; }; \
		install chromium chromium-headless-shell xvfb || install chromium xvfb || true; \
	fi
	@$(BIN)/python scripts/browser_check.py || { \
		echo "Install a Chromium first: 'sudo apt-get install chromium chromium-headless-shell xvfb' (Debian/Ubuntu), or set CHROMIUM_PATH"; exit 1; }

# espeak-ng reads replies aloud offline (TTS_PROVIDER=espeak, the default) and speaks the voice tests' questions.
# Installed with apt-get when running as root; otherwise a note, and the site keeps replies as text (its tests skip).
speech:
	@command -v espeak-ng >/dev/null || { \
		if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
			echo "Installing Debian's espeak-ng with apt-get"; \
			apt-get install -y -q espeak-ng >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q espeak-ng >/dev/null; }; \
			command -v espeak-ng >/dev/null || { echo "espeak-ng could not be installed"; exit 1; }; \
		else \
			echo "Note: espeak-ng is not installed: replies cannot be read aloud offline, and the tests that need it skip."; \
			echo "      Install it with 'sudo apt-get install espeak-ng' (Debian/Ubuntu) or 'brew install espeak-ng'."; \
		fi; }

lint: venv
	$(BIN)/ruff check .

bench: venv
	$(BIN)/python bench/socket_throughput.py

# N concurrent streamed replies through the site vs a bare channels relay (3-6 min; RELAY_ARGS=--quick ~2 min).
bench-relay: venv
	$(BIN)/python bench/relay.py $(RELAY_ARGS)

# HTTP API requests as ratios to /healthz, and the PostgreSQL connections they open (about 1 min).
bench-http: venv
	$(BIN)/python bench/http_requests.py $(HTTP_BENCH_ARGS)

# A ~5 MB PDF uploaded vs extracted in-process, and 50 replies over SSE vs over the socket (about 1 min).
bench-documents: venv
	$(BIN)/python bench/documents_sse.py $(DOCUMENTS_BENCH_ARGS)

# docs/grafana-dashboard.png: the Grafana dashboard's panels drawn from a real Prometheus scraping a 90 s workload
# (bench/dashboard.py, about 2 min); fails naming any panel whose queries return nothing.
dashboard: venv prometheus
	$(BIN)/python bench/dashboard.py $(DASHBOARD_ARGS)

# Debian's prometheus for `make dashboard`, installed with apt-get when running as root (it is not started as a service).
prometheus:
	@command -v prometheus >/dev/null || { \
		if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
			echo "Installing Debian's prometheus with apt-get"; \
			apt-get install -y -q --no-install-recommends prometheus >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends prometheus >/dev/null; }; \
		else \
			echo "Install Prometheus first: 'sudo apt-get install --no-install-recommends prometheus', or put a prometheus binary on PATH"; exit 1; \
		fi; }

# The performance suite (pytest marker `performance`, deselected from every other run): the communicator
# scenarios, then the browser one in its own process, then perf-results/perf.json and perf.png.
# Sizes by PERF_* variables (docs/testing.md, "Performance suite"); fails only on a leak or super-linear growth.
PERF_DIR ?= perf-results
perf: venv browser
	@rm -rf $(PERF_DIR); mkdir -p $(PERF_DIR); failed=""; \
	PERF_RESULTS_DIR=$(PERF_DIR) $(BIN)/pytest tests -m performance -q || failed="$$failed communicator"; \
	PERF_RESULTS_DIR=$(PERF_DIR) $(BIN)/pytest e2e -m performance -q || failed="$$failed browser"; \
	$(BIN)/python -m tests.support.perf $(PERF_DIR) || failed="$$failed report"; \
	if [ -n "$$failed" ]; then echo "make perf: FAILED:$$failed (figures so far in $(PERF_DIR)/)"; exit 1; fi; \
	echo "make perf: figures in $(PERF_DIR)/perf.json, chart in $(PERF_DIR)/perf.png"

clean:
	rm -rf $(VENV) perf-results test-results db.sqlite3 test-db.sqlite3 media
