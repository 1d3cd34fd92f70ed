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

.PHONY: help venv venv-plain demo lint test clean

help:
	@echo "migrepo make targets:"
	@echo "  make venv      create/update .venv with the package + test extras (pip -e '.[test]')"
	@echo "  make demo      run examples/quickstart/demo.sh with the plain package (pip -e .)"
	@echo "  make lint      ruff check + mypy"
	@echo "  make test      lint, then pytest against throwaway PostgreSQL and MariaDB servers"
	@echo "                 (extra pytest arguments: make test PYTEST_ARGS='-k foo -x')"
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

test: $(STAMP_TEST) lint
	@echo "==> pytest (throwaway PostgreSQL and MariaDB)"
	@bash scripts/with-postgres.sh bash scripts/with-mariadb.sh $(VPY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -path ./.git -prune -o -name '*.egg-info' -prune -exec rm -rf {} + \
		-o -name __pycache__ -type d -prune -exec rm -rf {} +
