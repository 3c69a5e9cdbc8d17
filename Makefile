# `make run` and `make test` set up everything they need on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test faults mutants bench lint lock audit venv postgres nginx chromium wrk clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## Start the demo hub on http://127.0.0.1:8000 with its demo network (SQLite under var/).
run: $(STAMP)
	$(BIN)/hub demo

## Format check, lint, type check, schema drift check and the whole test suite, run on SQLite and
## on a throwaway PostgreSQL server that the suite starts and stops itself.
test: lint postgres nginx chromium
	$(BIN)/pytest

## The fault tests at full size: 2,000 reports, the hub SIGKILLed 10 times, on both engines.
faults: $(STAMP) postgres
	$(BIN)/pytest -m faults --fault-reports=2000 --fault-kills=10

## Mutation testing (not part of `make test`): mutmut mutates the modules listed in pyproject's
## [tool.mutmut] (crypto, credentials, authorisation, the dashboard's session, the audit log and
## its verifier, receipts) and runs the tests that cover them on SQLite. See docs/mutants.md.
mutants: $(STAMP)
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2
	$(BIN)/python -m tests.mutants_score

## The benchmark (not part of `make test`): ratios against ceilings measured in the same run,
## on both engines; prints a table and writes var/bench/bench.json. See tests/bench/__main__.py.
bench: $(STAMP) postgres wrk
	$(BIN)/python -m tests.bench

## wrk, from Debian's packages where missing: the benchmark's load generator.
wrk:
	bash deploy/dev/install-wrk.sh

## nginx, from Debian's packages where missing: the deployment test runs the hub behind it.
nginx:
	bash deploy/dev/install-nginx.sh

## Chromium, from Debian's packages where missing: the dashboard's browser test drives it headless.
chromium:
	bash deploy/dev/install-chromium.sh

## PostgreSQL's server binaries, from Debian's packages where missing.
postgres:
	bash deploy/dev/install-postgres.sh

## Pin the hub's runtime dependencies with their hashes, at the versions the tests ran with, in
## requirements.lock (deploy with: pip install --require-hashes -r requirements.lock).
lock: $(STAMP)
	mkdir -p var
	$(BIN)/python -m pip freeze --exclude-editable > var/tested-versions.txt
	CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes \
	    --strip-extras --no-emit-index-url --no-emit-find-links \
	    --constraint var/tested-versions.txt --output-file requirements.lock pyproject.toml

## Known vulnerabilities in the pinned dependencies: pip-audit against requirements.lock, with
## PyPI's advisories (AUDIT_SERVICE=osv for the OSV database). Needs that service on the network.
AUDIT_SERVICE ?= pypi
audit: $(STAMP)
	$(BIN)/pip-audit --requirement requirements.lock --require-hashes --disable-pip --strict \
	    --progress-spinner off --vulnerability-service $(AUDIT_SERVICE)

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy .
	$(BIN)/python -m schemas --check

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
