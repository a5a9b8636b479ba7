# Outreach: `make run` starts the whole service, `make test` runs the whole suite.
# Both do all set-up on a fresh machine (Python 3.11+ and make are all they need).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
LINT_PATHS := outreach contacts workers tests $(wildcard bench)

.DEFAULT_GOAL := help
.PHONY: help run test lint format clean compose-check bench

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP) ## Start web, worker, embedded Redis and the SMTP capture server (Ctrl-C stops all)
	$(BIN)/python -m outreach.devrun

test: $(STAMP) ## Run the whole test suite (SQLite + embedded Redis unless OUTREACH_TEST_* are set)
	@test -x /usr/bin/chromium || sh .ci/install-chromium
	@test -x /usr/sbin/dovecot || sh .ci/install-dovecot
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP) ## ruff and mypy
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy

format: $(STAMP) ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)

bench: $(STAMP) ## Run every benchmark (loopback only, stops by itself; BENCH_ARGS=--quick for a first look)
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

compose-check: ## Validate compose.yaml (needs Debian's docker-compose; no engine)
	OUTREACH_SECRET_KEY=$${OUTREACH_SECRET_KEY:-config-check} docker-compose -f compose.yaml config --quiet

clean: ## Remove the virtualenv and caches (keeps instance/)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
