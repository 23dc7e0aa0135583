# klaviyo-analytics: the same targets run locally and in CI.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv demo test lint typecheck fmt check bench clean browser

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP) ## Create .venv and install the package with dev extras

demo: $(STAMP) ## Set up and run the main job on the embedded defaults
	$(BIN)/klaviyo-analytics demo

browser: ## Install Debian's Chromium for the dashboard test (needs root and apt)
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null)

test: $(STAMP) browser ## Set up and run the whole test suite
	$(BIN)/pytest

lint: $(STAMP) ## ruff check and format check
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP) ## mypy --strict
	$(BIN)/mypy src

fmt: $(STAMP) ## Format the code
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

check: lint typecheck test ## Everything CI cares about

bench: $(STAMP) ## Run the benchmarks (slow; not part of the tests)
	$(BIN)/python bench/run_all.py

clean: ## Remove the venv, caches and the default data dir
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
