# sceau — one command runner. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SCEAU_HOME ?= $(CURDIR)/var
SCEAU_PORT ?= 8443
SCEAU_TLS_HOSTNAME ?= sceau.localhost
SCEAU_PUBLIC_URL ?= https://$(SCEAU_TLS_HOSTNAME):$(SCEAU_PORT)
# Only the platform's own targets get these; the tests make their own data directories.
RUN_ENV := SCEAU_HOME=$(SCEAU_HOME) SCEAU_PUBLIC_URL=$(SCEAU_PUBLIC_URL) SCEAU_PORT=$(SCEAU_PORT) SCEAU_TLS_HOSTNAME=$(SCEAU_TLS_HOSTNAME)

.PHONY: help install system-deps services serve init test test-fast lint types imports check bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/sceau: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(BIN)/sceau

install: $(BIN)/sceau ## Create the virtualenv and install sceau with its dev tools

system-deps: ## Install the system packages the tests use (nginx, chromium, softhsm2, openssl, curl)
	bash scripts/install-system-deps

services: ## Make sure PostgreSQL is running (tests use it)
	bash scripts/ensure-services

init: install ## Create the data directory, database, TEST CA hierarchy and demo data
	$(RUN_ENV) $(BIN)/sceau init
	$(RUN_ENV) $(BIN)/sceau demo

serve: init ## Install, initialise and start sceau on embedded defaults (SQLite, in-process worker, TLS with card login)
	$(RUN_ENV) $(BIN)/sceau serve --tls

test: install system-deps services ## Install everything and run the whole test suite (SQLite and PostgreSQL)
	bash scripts/run-tests

test-fast: install ## The default run: no slow tests, SQLite only (under 10 minutes)
	$(BIN)/pytest -q

lint: install ## ruff (lint + format check)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src

types: install ## mypy (strict on sceau.pki)
	$(BIN)/mypy

imports: install ## import-linter architecture contracts
	$(BIN)/lint-imports

check: lint types imports test ## Everything CI checks

bench: install ## Print the performance figures (see docs/performance.md)
	$(BIN)/python bench/bench_issuance.py

clean: ## Remove the local data directory
	rm -rf var
