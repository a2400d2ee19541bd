# One place for every command the README shows. Targets create what they need on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 7071

.PHONY: install test lint typecheck run func bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python requirements.txt requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# Azurite's Node.js: node and npm on PATH, node new enough (durable_host.azurite.MINIMUM_NODE).
node_modules/.installed: package.json package-lock.json | $(VENV)/.installed
	$(BIN)/python -m durable_host.azurite --check-node
	npm ci --no-audit --no-fund
	touch $@

install: $(VENV)/.installed node_modules/.installed

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

test: install lint typecheck
	$(BIN)/python -m pytest

run: install
	$(BIN)/python -m durable_host --app-dir . --port $(PORT)

func: install
	@command -v func >/dev/null 2>&1 || { echo "make func needs Azure Functions Core Tools ('func') on PATH; use 'make run' without them." >&2; exit 1; }
	$(BIN)/python -m durable_host.azurite --location .azurite & echo $$! > .azurite.pid; \
	trap 'kill $$(cat .azurite.pid) 2>/dev/null; rm -f .azurite.pid' EXIT INT TERM; \
	. $(BIN)/activate && func start --port $(PORT)

bench: install
	$(BIN)/python -m bench.saga_bench --write docs/benchmarks.md

clean:
	rm -rf $(VENV) node_modules .azurite .pytest_cache .mypy_cache .ruff_cache
