# rainbond-ha: `make lab` deploys the platform onto a local lab; `make test` runs every test tier.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The toolchain's environment: PATH with pulumi, the project's PULUMI_HOME, offline settings.
TOOLCHAIN_ENV := source toolchain/.env
# The local state backend used unless the caller chose one.
export PULUMI_BACKEND_URL ?= file://$(CURDIR)/.state

.PHONY: help
help:
	@echo "make lab        toolchain + local lab + pulumi up -s lab, then the stack outputs"
	@echo "make test       everything CI runs: lint, unit, e2e and lab tiers"
	@echo "make unit       the fast tier (Pulumi mocks, no network)"
	@echo "make lint       ruff and mypy"
	@echo "make toolchain  pulumi CLI and plugins (built offline when missing)"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

.PHONY: venv
venv: $(VENV)/.installed

.PHONY: toolchain
toolchain:
	bash toolchain/build.sh

.PHONY: lint
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

.PHONY: unit
unit: venv
	$(PY) -m pytest tests/unit -q

# End-to-end tests of the engine itself run in a network namespace that has only loopback, so they
# prove that nothing is downloaded and that no address outside this machine is contacted.
.PHONY: e2e-offline
e2e-offline: venv toolchain
	$(TOOLCHAIN_ENV) && unshare --net bash -c 'ip link set lo up && $(PY) -m pytest tests/e2e/offline -q'

.PHONY: test
test: lint unit e2e-offline
