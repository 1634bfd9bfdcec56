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
# The kubernetes provider writes every kubeconfig it is given (client key included) to a new file
# in TMPDIR, for Helm, and never removes it. So pulumi, and the tests and benchmarks that run it,
# get a private TMPDIR, removed when the recipe line ends, whatever its outcome.
PRIVATE_TMP := export TMPDIR=$$(mktemp -d) && trap 'rm -rf "$$TMPDIR"' EXIT

# pytest trims its closing summary's lines to this width when there is no terminal.
export COLUMNS ?= 180

.PHONY: help
help:
	@echo "make lab          toolchain + local lab + pulumi up -s lab, then the stack outputs (root;"
	@echo "                  cold: about 15 min toolchain + 15 min lab; warm: under a minute)"
	@echo "make test         lint, unit, e2e-offline, lab-test, test-trixie, the builds beside the lab"
	@echo "                  tests (65-80 min cold, about 58 warm; destroys the lab stack first)"
	@echo "make unit         the fast tier (Pulumi mocks, no network; about 2 min)"
	@echo "make lint         ruff check, ruff format --check, mypy"
	@echo "make e2e-offline  the engine offline, in a network namespace with only loopback"
	@echo "make lab-test     the lab tiers (tests/lab_scripts, tests/lab_stacks; root, the lab)"
	@echo "make test-trixie  the component lab tests on Debian 13 nodes (root; remakes the lab's nodes)"
	@echo "make bench        benchmarks (root, the lab; about 22 min); rewrites bench/REPORT.md"
	@echo "make toolchain    pulumi CLI and plugins (built from Go modules when missing)"
	@echo "make venv         the Python virtualenv .venv"
	@echo "make lab-up       start the local lab (root); LAB_NODES=6 for more nodes"
	@echo "make lab-status   what the lab runs, and which node holds the gateway VIP"
	@echo "make lab-down     stop the lab and remove everything it made"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

.PHONY: venv
venv: $(VENV)/.installed

.PHONY: toolchain toolchain-engine lab-kube lab-kube-host
toolchain:
	bash toolchain/build.sh
# The CLI, the language host and the command and random plugins: what stacks without Kubernetes use.
toolchain-engine:
	bash toolchain/build.sh --without-kubernetes
# The lab's Kubernetes, built from Go modules (lab up builds it too, when it is missing); -host:
# its first stage, what the host's control plane runs (the kubeadm artifacts come after).
lab-kube:
	bash lab/kube/build.sh >/dev/null
lab-kube-host:
	bash lab/kube/build.sh --host >/dev/null

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
	$(TOOLCHAIN_ENV) && $(PRIVATE_TMP) && unshare --net bash -c 'ip link set lo up && $(PY) -m pytest tests/e2e/offline -q'

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

# A lab stack deployed to an earlier lab (before `lab down`, `lab up`) describes nodes that are gone:
# `lab/lab stack sync` forgets it, with a line saying so, and the up deploys onto the new lab.
.PHONY: lab
lab: venv toolchain lab-up
	@echo "== pulumi up -s lab: the whole platform onto the lab nodes"
	lab/lab check
	mkdir -p .state
	$(TOOLCHAIN_ENV) && $(LAB_ENV) && lab/lab stack sync && pulumi stack select --create lab
	$(TOOLCHAIN_ENV) && $(LAB_ENV) && $(PRIVATE_TMP) && pulumi up -s lab --yes --skip-preview
	@echo "== stack outputs (pulumi stack output -s lab --show-secrets shows the secrets)"
	$(TOOLCHAIN_ENV) && $(LAB_ENV) && pulumi stack output -s lab
	@echo "== lab/lab status: the nodes, and which one holds the gateway VIP"
	lab/lab status

# Component scripts against real software on the lab nodes, then component stacks through the engine.
# They need the nodes as the image made them: a lab stack that `make lab` deployed is destroyed
# first (`lab/lab stack clear` says so; with no lab stack in the local backend it needs no pulumi).
# The lab's own lifecycle tests take it down and up again, so they run last.
LAB_CLEAR := mkdir -p .state && { [ ! -f toolchain/.env ] || $(TOOLCHAIN_ENV); } && $(LAB_ENV) && lab/lab stack clear
LAB_PYTEST := $(PRIVATE_TMP) && RBD_E2E_FULL=1 $(PY) -m pytest -q --durations=20
LAB_TIERS := tests/lab_scripts tests/lab_stacks
LAB_LIFECYCLE := $(PRIVATE_TMP) && LAB_TEST_LIFECYCLE=1 $(PY) -m pytest tests/lab_scripts/test_lab_nodes.py -q -k lifecycle
.PHONY: lab-test
lab-test: venv toolchain lab-up
	$(LAB_CLEAR)
	$(TOOLCHAIN_ENV) && $(LAB_PYTEST) $(LAB_TIERS)
	$(LAB_LIFECYCLE)

# The second row of the OS matrix: the components whose packages come from the node's release
# (keepalived, MariaDB, the registry, the build node's) on lab nodes made from Debian 13 (trixie).
# The nodes are made anew from the trixie image, and from bookworm again afterwards, whatever the
# outcome (about 4 minutes).
TRIXIE_TESTS := tests/lab_scripts/test_gateway.py tests/lab_scripts/test_registry.py \
	tests/lab_stacks/test_gateway.py tests/lab_stacks/test_database.py \
	tests/lab_stacks/test_registry.py tests/lab_stacks/test_build.py
# None of them needs the lab's Kubernetes: the ups leave it as it is.
.PHONY: test-trixie
test-trixie: export LAB_KUBERNETES := later
test-trixie: venv toolchain-engine
	LAB_SUITE=trixie lab/lab up
	$(LAB_CLEAR)
	$(TOOLCHAIN_ENV) && $(PRIVATE_TMP) && status=0 && \
		{ RBD_E2E_FULL=1 LAB_SUITE=trixie $(PY) -m pytest $(TRIXIE_TESTS) -q || status=$$?; } && \
		LAB_SUITE= lab/lab up >/dev/null && exit $$status

# `make test` runs two lanes side by side, each a chain of targets (`-j2` runs one of each):
#   builds:  toolchain-engine, toolchain, lab-kube-host, lab-kube, lint, unit, e2e-offline
#   the lab: lab-first (the lab tests that need neither pulumi nor the lab's Kubernetes), then
#            lab-stacks-first (those that need no Kubernetes; after toolchain-engine),
#            test-trixie, lab-kubernetes (the `kubernetes`-marked ones but test_kubeadm; after
#            toolchain and lab-kube-host), lab-kubeadm (after lab-kube), the lab's lifecycle.
# The lab lane mostly waits (on SSH, apt, keepalived's and Kubernetes' timers), so with empty caches
# the Go builds (niced; about 40 minutes of both cores) run beside lab tests instead of before them.
# Lint and unit come after the builds, which the lab lane waits for; warm, they come at once.
# A failure stops both lanes once the running targets end.
.PHONY: test test-lanes lab-first lab-stacks-first lab-kubernetes lab-kubeadm
test:
	$(MAKE) --no-print-directory -j2 TEST_LANES=1 test-lanes
test-lanes: lab-lifecycle e2e-offline

ifeq ($(TEST_LANES),1)
toolchain: toolchain-engine
lab-kube-host: toolchain
lab-kube: lab-kube-host
lint: lab-kube
unit: lint
e2e-offline: unit
lab-stacks-first: lab-first
test-trixie: lab-stacks-first
lab-kubernetes: test-trixie lab-kube-host
lab-kubeadm: lab-kubernetes lab-kube
endif

lab-first: export LAB_KUBERNETES := later
lab-first: venv
	lab/lab up
	$(LAB_CLEAR)
	$(LAB_PYTEST) tests/lab_scripts -m "not kubernetes"

lab-stacks-first: export LAB_KUBERNETES := later
lab-stacks-first: venv toolchain-engine
	$(TOOLCHAIN_ENV) && $(LAB_PYTEST) tests/lab_stacks -m "not kubernetes"

lab-kubernetes: export LAB_KUBERNETES := host
lab-kubernetes: venv toolchain
	lab/lab up
	$(TOOLCHAIN_ENV) && $(LAB_PYTEST) $(LAB_TIERS) -m "kubernetes and not kubeadm"

lab-kubeadm: venv toolchain
	lab/lab up
	$(TOOLCHAIN_ENV) && $(LAB_PYTEST) $(LAB_TIERS) -m kubeadm

.PHONY: lab-lifecycle
lab-lifecycle: lab-kubeadm
	$(LAB_LIFECYCLE)

# Benchmarks rewrite the tracked bench/REPORT.md; they are measurements, not pass/fail tests. The preview figures
# come from a network namespace with only loopback, the others from the lab (root), which starts
# if it is not up. BENCH_LAB_WRAP prefixes the lab part, e.g. with a lock other lab users take too.
BENCH_LAB_WRAP ?=
.PHONY: bench
bench: venv toolchain
	$(TOOLCHAIN_ENV) && $(PRIVATE_TMP) && unshare --net bash -c 'ip link set lo up && $(PY) bench/report.py preview'
	$(TOOLCHAIN_ENV) && $(PRIVATE_TMP) && $(BENCH_LAB_WRAP) bash -c 'lab/lab up && lab/lab check && $(PY) bench/report.py lab'
	$(PY) bench/report.py write
