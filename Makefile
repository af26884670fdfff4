# mesocycle: `make dev` runs the whole system locally; `make test` runs every check.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: dev test install system axe lint typecheck unit integration e2e token time clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the dependency pins change.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests need, as command:package: Debian's chromium for the browser
# tests (never a downloaded browser), Java and Maven for Apache Kafka's jars, and kcat,
# the stock Kafka client that reads our topics in a test.
SYSTEM := chromium:chromium java:openjdk-17-jre-headless mvn:maven kcat:kcat
system:
	@missing=$$(for pair in $(SYSTEM); do \
	  command -v $${pair%%:*} >/dev/null || echo $${pair#*:}; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update && apt-get install -y $$missing; \
	  else \
	    echo "error: the tests need Debian's $$missing. As root:" >&2; \
	    echo "       sudo apt-get update && sudo apt-get install -y $$missing" >&2; \
	    exit 1; \
	  fi; \
	fi

# axe-core, the accessibility engine the browser tests run, from the npm registry: one
# pinned version whose tarball must match its pinned sha512 integrity (tests/e2e/axe.py),
# kept in .cache/axe/ (git-ignored); nothing is fetched once it is there.
axe: install
	$(BIN)/python -m tests.e2e.axe

dev: install
	$(BIN)/python -m devstack

# Every test runs on a pinned clock at TEST_NOW (default: a weekday morning in Paris, see
# tests/clock.py); the e2e suite runs again in quiet hours on the night Paris moves to
# summer time, so neither the hour nor the season can make it pass or fail.
NIGHT_TEST_NOW := 2027-03-28T01:30:00+01:00
# The fault suite (tests/faults) mostly waits on its faults (a broker frozen 45 s...):
# it runs beside the night run, with a pytest temp dir and a runtime dir of its own (two
# runs must not share them: embedded PostgreSQL keeps its lock and data there), and its
# output follows the night run's.
# A smoke run on Tansu, the memory-only broker make dev falls back to without Java or
# Maven, keeps that fallback working.
FAULTS_TMP := $(or $(TMPDIR),/tmp)/mesocycle-faults-$(shell id -u)
test: install system axe lint typecheck
	$(BIN)/pytest --ignore=tests/faults
	@rm -rf $(FAULTS_TMP) && mkdir -p -m 700 $(FAULTS_TMP)/run
	@XDG_RUNTIME_DIR=$(FAULTS_TMP)/run $(BIN)/pytest tests/faults -p no:cacheprovider \
	  --basetemp=$(FAULTS_TMP)/pytest > $(FAULTS_TMP)/faults.log 2>&1 & faults=$$!; \
	TEST_NOW=$(NIGHT_TEST_NOW) $(BIN)/pytest tests/e2e; night=$$?; \
	wait $$faults; status=$$?; \
	echo "=== tests/faults (ran beside the night run)"; cat $(FAULTS_TMP)/faults.log; \
	[ $$night -eq 0 ] && [ $$status -eq 0 ]
	MESOCYCLE_BROKER=tansu $(BIN)/pytest tests/integration/test_consumer.py tests/e2e/test_plan_to_sms.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy shared services tests bench

unit: install
	$(BIN)/pytest tests/unit

integration: install system
	$(BIN)/pytest tests/integration

e2e: install system axe
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
