# `make run` and `make test` set up everything they need on a fresh machine.
# The environment is the lock: uv installs exactly what uv.lock pins, runtime and dev dependencies
# alike, each checked against its hash; versions move only through `make lock`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TOOLS  := .tools
UV     := $(TOOLS)/bin/uv
STAMP  := $(VENV)/.installed
# The machine's Python, never one that uv would download.
export UV_PYTHON_DOWNLOADS := never

.PHONY: run test test-dates faults mutants bench lint lock audit venv postgres nginx chromium fonts wrk clean

## uv itself, pinned with its hashes (deploy/dev/uv.txt), in a small environment of its own.
$(UV): deploy/dev/uv.txt
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --isolated --quiet --require-hashes --no-deps -r deploy/dev/uv.txt
	touch $(UV)

$(STAMP): $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --extra dev --python $(PYTHON)
	touch $(STAMP)

venv: $(STAMP)

## Start the demo hub on http://127.0.0.1:8000 with its demo network (SQLite under var/).
run: $(STAMP)
	$(BIN)/hub demo

## Format check, lint, type check, schema drift check and the whole test suite, run on SQLite and
## on a throwaway PostgreSQL server that the suite starts and stops itself.
## The suite runs on TEST_WORKERS processes (pytest-xdist; one test file per worker at a time),
## each with its own throwaway PostgreSQL server.
TEST_WORKERS ?= 2
test: lint postgres nginx chromium fonts promtool
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

## The suite once per date of tests/clock.py, on SQLite and without the fault tests: proof that no
## test passes or fails by the day it runs (HUB_TEST_DATE=<date> make test runs one date in full).
SUITE_DATES := monday wednesday friday christmas-eve christmas boxing-day december-27 \
    at-national-day be-national-day de-good-friday nl-kings-day end-of-summer-time
test-dates: lint nginx chromium fonts promtool
	for day in $(SUITE_DATES); do \
	    echo "== suite date: $$day"; \
	    HUB_TEST_DATE=$$day $(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile --engines sqlite \
	        -m "not faults" || exit 1; \
	done

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

## The Noto fonts of Thai, Khmer, Lao, Burmese and Arabic (fonts-noto-core) that the PDF readings
## draw with, and pdftoppm (poppler-utils) for the readings' picture, from Debian's packages where
## missing. A connector's machine needs fonts-noto-core too (docs/onboarding.md).
fonts:
	bash deploy/dev/install-fonts.sh

## PostgreSQL's server binaries, from Debian's packages where missing.
postgres:
	bash deploy/dev/install-postgres.sh

## Move versions: resolve pyproject.toml's ranges into uv.lock (UPGRADE=1 takes the newest releases
## the ranges allow; otherwise only what pyproject.toml's changes need), then export the runtime part
## with its hashes to requirements.lock for deployments that install with pip
## (pip install --require-hashes -r requirements.lock).
lock: $(UV)
	$(UV) lock $(if $(UPGRADE),--upgrade)
	$(UV) export --frozen --no-dev --no-emit-project --format requirements-txt \
	    --output-file requirements.lock --quiet

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
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) $(TOOLS) var .mypy_cache .ruff_cache .pytest_cache

## promtool, from Debian's packages where missing: the alert rules' test checks deploy/prometheus/
## with it (tests/deploy/test_alert_rules.py); make test installs it.
.PHONY: promtool
promtool:
	bash deploy/dev/install-promtool.sh
