# The two commands in the README: `make synth` and `make test`.
# Both set up from nothing: a .venv with pinned Python packages and the pinned CDK CLI from npm.
PYTHON_BOOTSTRAP ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# checkov gets a virtual environment of its own: its dependency tree conflicts with our pins (boto3, ...).
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.PHONY: synth test lint bench clean deps dev up e2e verify-deployed

deps: $(STAMP) $(CHECKOV_STAMP) node_modules/.installed

# Lock files with hashes (requirements/README.md; regenerate with requirements/lock.sh): pip first, then the lock.
$(STAMP): requirements/pip.txt requirements/dev.txt
	test -x $(PY) || $(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/pip.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/dev.txt
	touch $@

$(CHECKOV_STAMP): requirements/pip.txt requirements/checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON_BOOTSTRAP) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/pip.txt
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/checkov.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## Synthesize every configured environment with all policy packs into cdk.out/ (fails on any unacknowledged finding).
## STRICT=1 (the project's CI): an acknowledgement past its review date fails too; otherwise it is a warning.
synth: deps
	$(if $(filter-out 0,$(STRICT)),PLATFORM_STRICT=1 )$(PY) app.py

## The whole test suite (starts its own PostgreSQL cluster when the runtime tests need one).
test: deps
	$(PY) -m pytest

lint: deps
	$(PY) -m ruff check .
	$(PY) -m mypy app.py stacks runtime

bench: deps
	$(PY) -m bench

## Local run: a throwaway TLS PostgreSQL and the data service on 127.0.0.1:8080 (dev/__main__.py). Ctrl-C stops.
dev: $(STAMP)
	$(PY) -m dev start --port $(or $(PORT),8080)

## Local emulation of a synthesized environment (e2e/, README "Local emulation"): moto on 127.0.0.1 with IAM
## enforced, a TLS PostgreSQL as Aurora, the setup step, both services and the jobs as the task definitions say.
## `make up` synthesizes one environment (ENV, default dev; CONFIG, default config/operator.toml) and leaves it
## running (Ctrl-C stops). `make e2e` runs the life cycle: without ENV against dev AND the self-hosted example
## (acme, config/selfhosted.example.toml), each to the end; with ENV (and CONFIG) against that one. Exit 1 on
## any failure.
E2E_SELFHOSTED_ENV := acme
E2E_SELFHOSTED_CONFIG := config/selfhosted.example.toml
E2E_CONFIG = $(or $(CONFIG),$(if $(filter $(E2E_SELFHOSTED_ENV),$(ENV)),$(E2E_SELFHOSTED_CONFIG),config/operator.toml))

up: deps
	$(PY) -m e2e up --synth --env $(or $(ENV),dev) --config $(E2E_CONFIG)

e2e: deps
ifeq ($(ENV),)
	@rc=0; \
	$(PY) -m e2e run --synth --env dev --config config/operator.toml || rc=1; \
	$(PY) -m e2e run --synth --env $(E2E_SELFHOSTED_ENV) --config $(E2E_SELFHOSTED_CONFIG) || rc=1; \
	exit $$rc
else
	$(PY) -m e2e run --synth --env $(ENV) --config $(E2E_CONFIG)
endif

## Read-only checks of a DEPLOYED environment against P1-P14 (README "Deployed-state verification"), compared with
## cdk.out (`make synth` first); run with credentials of the environment's auditor role (e.g. AWS_PROFILE). Writes
## cdk.out/verify-deployed/ENV/report.{md,json,csv}; exit 1 when any promise fails.
verify-deployed: $(STAMP)
	@test -n "$(ENV)" || { echo "usage: make verify-deployed ENV=<environment>" >&2; exit 2; }
	$(PY) -m runtime verify-deployed --env $(ENV) --cdk-out cdk.out --out cdk.out/verify-deployed/$(ENV)

clean:
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache
