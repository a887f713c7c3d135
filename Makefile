# One front door: make up / down / test / lint / fmt / bench.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
INFRA := deploy/local/infra.sh
STAMP := $(VENV)/.installed
WITH_ENV = eval "$$(bash $(INFRA) env)" &&

.PHONY: install infra-up infra-down infra-wipe up down test test-unit test-integration test-e2e lint fmt bench demo status

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

infra-up:
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

test: install lint infra-up
	$(WITH_ENV) $(BIN)/pytest tests/unit tests/integration tests/e2e -q -p no:cacheprovider

test-unit: install
	$(BIN)/pytest tests/unit -q

test-integration: install infra-up
	$(WITH_ENV) $(BIN)/pytest tests/integration -q

test-e2e: install infra-up
	$(WITH_ENV) $(BIN)/pytest tests/e2e -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared services healthlink bench

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install infra-up
	$(WITH_ENV) $(BIN)/python -m bench
