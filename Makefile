# mesocycle: `make dev` runs the whole system locally; `make test` runs every check.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: dev test install lint typecheck unit integration e2e token time clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the dependency pins change.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

dev: install
	$(BIN)/python -m devstack

test: install lint typecheck
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy shared services tests bench

unit: install
	$(BIN)/pytest tests/unit

integration: install
	$(BIN)/pytest tests/integration

e2e: install
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
