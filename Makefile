# migrepo developer tasks. Run `make` (or `make help`) for the list.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# Interpreter used to create the venv: python3.11 if available, else python3.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null || echo python3)
VENV := .venv
VPY := $(VENV)/bin/python
PYTEST_ARGS ?=

export PIP_DISABLE_PIP_VERSION_CHECK := 1

# Stamps: one per install flavour; redone when pyproject.toml changes.
STAMP_TEST := $(VENV)/.stamp-test
STAMP_PLAIN := $(VENV)/.stamp-plain

# A second venv with every declared lower bound, pinned in ci/lowest.txt.
LOWEST := .venv-lowest
LPY := $(LOWEST)/bin/python
STAMP_LOWEST := $(LOWEST)/.stamp-lowest

.PHONY: help venv venv-plain venv-lowest demo lint test test-latest test-lowest clean

help:
	@echo "migrepo make targets:"
	@echo "  make venv      create/update .venv with the package + test extras (pip -e '.[test]')"
	@echo "  make demo      run examples/quickstart/demo.sh with the plain package (pip -e .)"
	@echo "  make lint      ruff check + mypy"
	@echo "  make test      lint, then pytest against throwaway PostgreSQL and MariaDB servers,"
	@echo "                 with the latest dependencies, then with the lowest (make test-lowest)"
	@echo "                 (extra pytest arguments: make test PYTEST_ARGS='-k foo -x')"
	@echo "  make test-lowest  pytest in .venv-lowest: every declared lower bound (ci/lowest.txt)"
	@echo "  make clean     remove .venv, caches and build artefacts"

venv: $(STAMP_TEST)

venv-plain: $(STAMP_PLAIN)

$(VPY):
	@echo "==> creating $(VENV) with $(PYTHON)"
	@$(PYTHON) -m venv $(VENV)
	@$(VPY) -m pip install --quiet --upgrade pip

$(STAMP_TEST): pyproject.toml | $(VPY)
	@echo "==> installing migrepo[test] into $(VENV)"
	@$(VPY) -m pip install --quiet -e '.[test]'
	@touch $@

$(STAMP_LOWEST): pyproject.toml ci/lowest.txt
	@echo "==> installing migrepo with the lowest declared dependencies into $(LOWEST)"
	@test -x $(LPY) || $(PYTHON) -m venv $(LOWEST)
	@$(LPY) -m pip install --quiet -e '.[postgres,mysql]' -r ci/lowest.txt
	@$(LPY) -m pip check
	@touch $@

venv-lowest: $(STAMP_LOWEST)

$(STAMP_PLAIN): pyproject.toml | $(VPY)
	@echo "==> installing migrepo into $(VENV)"
	@$(VPY) -m pip install --quiet -e .
	@touch $@

demo: $(STAMP_PLAIN)
	@PATH="$(CURDIR)/$(VENV)/bin:$$PATH" VIRTUAL_ENV="$(CURDIR)/$(VENV)" \
		bash examples/quickstart/demo.sh

lint: $(STAMP_TEST)
	@echo "==> ruff"
	@$(VENV)/bin/ruff check migrepo cli tests bench
	@echo "==> mypy"
	@$(VENV)/bin/mypy

test: lint
	@$(MAKE) test-latest
	@$(MAKE) test-lowest

test-latest: $(STAMP_TEST)
	@echo "==> pytest, latest dependencies (throwaway PostgreSQL and MariaDB)"
	@bash scripts/with-postgres.sh bash scripts/with-mariadb.sh $(VPY) -m pytest $(PYTEST_ARGS)

test-lowest: $(STAMP_LOWEST)
	@echo "==> pytest, lowest declared dependencies (throwaway PostgreSQL and MariaDB)"
	@MIGREPO_TEST_LOWEST=ci/lowest.txt bash scripts/with-postgres.sh bash scripts/with-mariadb.sh \
		$(LPY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(LOWEST) build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -path ./.git -prune -o -name '*.egg-info' -prune -exec rm -rf {} + \
		-o -name __pycache__ -type d -prune -exec rm -rf {} +
