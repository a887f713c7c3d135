# One front door: make up / down / test / lint / fmt / bench.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
INFRA := deploy/local/infra.sh
STAMP := $(VENV)/.installed
WITH_ENV = eval "$$(bash $(INFRA) env)" &&
ADAPTER := clients/healthlink-adapter

# Exact installs: uv (bootstrapped from PyPI at this version into .tools/) syncs .venv to
# requirements.lock, every package pinned with its hashes; then the two local packages
# (the platform and the hospital adapter) are installed editable on top, without deps.
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
UV_STAMP := $(TOOLS)/.uv-$(UV_VERSION)
LOCK := requirements.lock
export UV_PYTHON_DOWNLOADS := never
# The lock is compiled from the platform with its dev extra (the adapter comes with it
# through [tool.uv.sources]), for every platform and Python >= 3.11; the two local
# packages are left out of it (they are installed from the tree).
COMPILE = echo "-e .[dev]" | $(UV) pip compile - --quiet --universal --python-version 3.11 \
	--generate-hashes --no-emit-package healthlink --no-emit-package healthlink-adapter \
	--custom-compile-command "make lock"

# axe-core for the browser tests' accessibility checks (tests/support/a11y.py), exactly as
# tests/a11y/package-lock.json pins it (version and sha512), with npm (Debian's when
# missing); no install scripts run. docs/portal.md#accessibility-checks says why npm.
A11Y := tests/a11y
A11Y_STAMP := $(A11Y)/node_modules/.installed

.PHONY: a11y browser install lock lock-upgrade lock-check infra-up infra-down infra-wipe up down test test-unit test-integration test-e2e lint fmt bench bench-scale demo status

$(UV_STAMP):
	test -x $(TOOLS)/bin/python || $(PY) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q uv==$(UV_VERSION)
	touch $(UV_STAMP)

$(STAMP): $(LOCK) pyproject.toml $(ADAPTER)/pyproject.toml | $(UV_STAMP)
	test -x $(BIN)/python || $(UV) venv -q --python $(PY) $(VENV)
	$(UV) pip sync -q --python $(BIN)/python --require-hashes $(LOCK)
	$(UV) pip install -q --python $(BIN)/python --no-deps -e ./$(ADAPTER) -e .
	$(UV) pip check -q --python $(BIN)/python
	touch $(STAMP)

install: $(STAMP)

# Re-resolve after editing dependencies in a pyproject.toml (current pins are kept
# where they still fit); `make lock-upgrade PACKAGE=name` moves one package to its
# newest allowed version, `make lock-upgrade` every package.
lock: $(UV_STAMP)
	$(COMPILE) --output-file $(LOCK)

lock-upgrade: $(UV_STAMP)
	$(COMPILE) --output-file $(LOCK) $(if $(PACKAGE),--upgrade-package $(PACKAGE),--upgrade)

# Fails when a pyproject.toml changed without `make lock` (run by `make lint`).
lock-check: $(UV_STAMP)
	cp $(LOCK) $(TOOLS)/check.lock
	$(COMPILE) --output-file $(TOOLS)/check.lock
	diff -q $(LOCK) $(TOOLS)/check.lock >/dev/null || \
	  { echo "$(LOCK) does not match the pyproject.toml files: run make lock"; exit 1; }

# infra.sh up applies the Kafka ACLs and credentials from shared/acl.py with the venv.
infra-up: install
	bash $(INFRA) up

infra-down:
	bash $(INFRA) down

infra-wipe:
	bash $(INFRA) down --wipe

# Refuses first (naming the process) if a service port is held by a process it did not start.
up: install
	bash deploy/local/services.sh check
	bash $(INFRA) up
	bash deploy/local/services.sh up
	$(WITH_ENV) $(BIN)/healthlink demo

down:
	bash deploy/local/services.sh down
	bash $(INFRA) down

# Exit 1 if anything is down; every line is printed either way.
status:
	@rc=0; bash $(INFRA) status || rc=1; bash deploy/local/services.sh status || rc=1; exit $$rc

# The real browser of the portal's browser test (tests/e2e/test_portal_browser.py):
# Debian's Chromium and its WebDriver, installed when missing (browser builds cannot be
# downloaded by the test tools here; selenium is pointed at these), and a Thai font so
# the screenshots show Thai (Garuda, 250 kB).
BROWSER_PACKAGES := chromium chromium-driver fonts-tlwg-garuda-otf
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null \
	  && fc-list 2>/dev/null | grep -qi garuda || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(BROWSER_PACKAGES); }
	@$(MAKE) --no-print-directory a11y

$(A11Y_STAMP): $(A11Y)/package.json $(A11Y)/package-lock.json
	@command -v npm >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends npm; }
	cd $(A11Y) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(A11Y_STAMP)

a11y: $(A11Y_STAMP)

test: install lint infra-up browser
	$(WITH_ENV) $(BIN)/pytest tests/unit tests/integration tests/e2e -q -p no:cacheprovider

test-unit: install
	$(BIN)/pytest tests/unit -q

test-integration: install infra-up
	$(WITH_ENV) $(BIN)/pytest tests/integration -q

test-e2e: install infra-up browser
	$(WITH_ENV) $(BIN)/pytest tests/e2e -q

lint: install lock-check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared services healthlink bench $(ADAPTER)/src

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install infra-up
	$(WITH_ENV) $(BIN)/python -m bench

# Grows one store in rounds toward 5 M resources and 50 k patients (hours; not in CI).
# Small: HEALTHLINK_SCALE_RESOURCES=36000 HEALTHLINK_SCALE_PATIENTS=90
# HEALTHLINK_SCALE_ROUNDS=3 make bench-scale. See docs/benchmarks-scale.md.
# Then writes docs/performance.md's table and docs/img/scale.png (python -m bench.report).
bench-scale: install infra-up
	$(WITH_ENV) $(BIN)/python -m bench.scale
	$(BIN)/python -m bench.report
