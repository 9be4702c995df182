# quantdesk — developer commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv from PATH, else the copy pip installs as a module (see `install`).
UV ?= $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
RUN := $(UV) run --frozen

# RQAlpha (engine: rqalpha) lives in its own venv: it pins numpy < 2 on Python 3.11.
RQALPHA_VENV := .venv-rqalpha
# The server and the tests use it when RQALPHA_COMMAND is not set already.
export RQALPHA_COMMAND ?= $(if $(wildcard $(RQALPHA_VENV)/bin/rqalpha),$(abspath $(RQALPHA_VENV)/bin/rqalpha))

.PHONY: help install rqalpha run demo test check lint format typecheck arch bench

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-10s %s\n", $$1, $$2}'

install: ## Install uv if missing, then the package and dev tools into .venv (uv.lock)
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --extra research

run: install web ## Build the web UI, start the platform on http://127.0.0.1:54321 with 2 workers and the demo data
	$(RUN) quantdesk serve

demo: install ## Import the demo data and backtest the SMA crossover on AAPL vs the S&P 500
	$(RUN) quantdesk data import-demo
	$(RUN) quantdesk backtest examples/sma_crossover.py --start 2005-01-03 --end 2012-12-31 \
		--universe AAPL --benchmark SPX --param fast=10 --param slow=30

rqalpha: ## Create .venv-rqalpha with RQAlpha 6.4.2 (pinned in requirements-rqalpha.txt)
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) venv --quiet --allow-existing --python 3.11 $(RQALPHA_VENV)
	$(UV) pip install --quiet --python $(RQALPHA_VENV)/bin/python -r requirements-rqalpha.txt
	$(RQALPHA_VENV)/bin/rqalpha version

test: install rqalpha ## Run the test suite with branch coverage (creates .venv-rqalpha for the RQAlpha cross-checks)
	$(RUN) pytest -q -n 2 --cov --cov-report=term

lint: install ## ruff lint + format check
	$(RUN) ruff check src tests examples bench
	$(RUN) ruff format --check src tests examples bench

format: install ## Apply ruff formatting and safe fixes
	$(RUN) ruff format src tests examples bench
	$(RUN) ruff check --fix src tests examples bench

typecheck: install ## mypy --strict on src
	$(RUN) mypy

arch: install ## Check the layers of DESIGN.md §3 with import-linter
	$(RUN) lint-imports

check: lint typecheck arch web-check test ## Everything CI runs: lint, types, layers, web UI, tests

bench: install ## Benchmarks vs peers (slow; prints figures and ratios)
	$(UV) sync --frozen --extra research --group bench
	$(UV) run --frozen --group bench python bench/engines.py

# The web UI (web/, DESIGN §8): npm ci from package-lock.json, the API client generated from
# the app's OpenAPI schema, Vitest, and the Vite build into web/dist (served at /).
.PHONY: web web-deps web-client web-client-check web-build web-test web-lint web-check
WEB_OPENAPI := $(RUN) python web/scripts/dump_openapi.py
WEB_TYPES := cd web && npx --no-install openapi-typescript

web/node_modules/.package-lock.json: web/package-lock.json web/package.json
	cd web && npm ci --no-audit --no-fund
	@touch $@

web-deps: web/node_modules/.package-lock.json

web-client: install web-deps ## Regenerate web/openapi.json and the API types (web/src/api/schema.d.ts)
	$(WEB_OPENAPI) web/openapi.json
	$(WEB_TYPES) openapi.json -o src/api/schema.d.ts

web-client-check: install web-deps ## Fail if the generated API client is stale
	@tmp=$$(mktemp -d) && $(WEB_OPENAPI) $$tmp/openapi.json \
	  && ($(WEB_TYPES) $$tmp/openapi.json -o $$tmp/schema.d.ts >/dev/null) \
	  && if cmp -s $$tmp/openapi.json web/openapi.json && cmp -s $$tmp/schema.d.ts web/src/api/schema.d.ts; \
	     then echo "web client is up to date"; rm -rf $$tmp; \
	     else diff -u web/openapi.json $$tmp/openapi.json | head -40; rm -rf $$tmp; \
	          echo "web/openapi.json or web/src/api/schema.d.ts is stale: run make web-client and commit"; exit 1; fi

web-build: web-deps ## Build the UI into web/dist (tsc + vite)
	cd web && npm run build

web-test: web-deps ## Vitest component tests of the UI
	cd web && npx --no-install vitest run

web: web-client web-build ## The web UI: npm ci, regenerate the API client, build web/dist

web-lint: web-deps ## Biome: the UI's lint rules and formatting (web/biome.json)
	cd web && npx --no-install biome ci .

web-check: web-client-check web-lint web-test web-build
