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
	@echo "make lab-up     start the local lab (root); LAB_NODES=6 for more nodes"
	@echo "make lab-down   stop the lab and remove everything it made"

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

# --- the local lab (root) -------------------------------------------------------------------------

.PHONY: lab-up lab-down lab-status
lab-up:
	lab/lab up
lab-down:
	lab/lab down
lab-status:
	lab/lab status

# The lab stack's secrets are throwaway; its stack file carries the salt for this passphrase.
LAB_ENV := export PULUMI_CONFIG_PASSPHRASE=rainbond-ha-lab

.PHONY: lab
lab: venv toolchain lab-up
	@echo "== pulumi up -s lab: the whole platform onto the lab nodes"
	lab/lab check
	mkdir -p .state
	$(TOOLCHAIN_ENV) && $(LAB_ENV) && pulumi stack select --create lab && pulumi up -s lab --yes --skip-preview
	@echo "== stack outputs (pulumi stack output -s lab --show-secrets shows the secrets)"
	$(TOOLCHAIN_ENV) && $(LAB_ENV) && pulumi stack output -s lab

# Component scripts against real software on the lab nodes, then component stacks through the engine.
# The lab's own lifecycle tests take it down and up again, so they run last.
.PHONY: lab-test
lab-test: venv toolchain lab-up
	$(TOOLCHAIN_ENV) && RBD_E2E_FULL=1 $(PY) -m pytest tests/lab tests/e2e/lab -q
	LAB_TEST_LIFECYCLE=1 $(PY) -m pytest tests/lab/test_lab_nodes.py -q -k lifecycle

.PHONY: test
test: lint unit e2e-offline lab-test

# Benchmarks write bench/REPORT.md; they are measurements, not pass/fail tests. The preview figures
# come from a network namespace with only loopback, the others from the lab (root), which starts
# if it is not up. BENCH_LAB_WRAP prefixes the lab part, e.g. with a lock other lab users take too.
BENCH_LAB_WRAP ?=
.PHONY: bench
bench: venv toolchain
	$(TOOLCHAIN_ENV) && unshare --net bash -c 'ip link set lo up && $(PY) bench/report.py preview'
	$(TOOLCHAIN_ENV) && $(BENCH_LAB_WRAP) bash -c 'lab/lab up && lab/lab check && $(PY) bench/report.py lab'
	$(PY) bench/report.py write
