# mesocycle: `make dev` runs the whole system locally; `make test` runs every check.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: dev test install browser lint typecheck unit integration e2e token time clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the dependency pins change.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The browser tests drive Debian's chromium through Playwright; no browser is downloaded.
CHROMIUM := /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update && apt-get install -y chromium; \
	  else \
	    echo "error: $(CHROMIUM) is missing and the browser tests need it." >&2; \
	    echo "       Install Debian's chromium as root: sudo apt-get update && sudo apt-get install -y chromium" >&2; \
	    echo "       (never 'playwright install': the tests use the system browser)" >&2; \
	    exit 1; \
	  fi; \
	fi

dev: install
	$(BIN)/python -m devstack

# Every test runs on a pinned clock at TEST_NOW (default: a weekday morning in Paris, see
# tests/clock.py); the e2e suite runs again in quiet hours on the night Paris moves to
# summer time, so neither the hour nor the season can make it pass or fail.
NIGHT_TEST_NOW := 2027-03-28T01:30:00+01:00
test: install browser lint typecheck
	$(BIN)/pytest
	TEST_NOW=$(NIGHT_TEST_NOW) $(BIN)/pytest tests/e2e

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy shared services tests bench

unit: install
	$(BIN)/pytest tests/unit

integration: install
	$(BIN)/pytest tests/integration

e2e: install browser
	$(BIN)/pytest tests/e2e

# A staff token for the dev secret: make token ROLE=staff
ROLE ?= admin
token: install
	@$(BIN)/python -m shared.auth token --role $(ROLE)

# Move the clock of a running `make dev`: make time SHIFT=+1d (SHIFT=0 resets)
SHIFT ?=
time: install
	@$(BIN)/python -m devstack time $(SHIFT)

clean:
	rm -rf $(VENV) .devstack .mypy_cache .ruff_cache .pytest_cache
