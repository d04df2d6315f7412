# spasticity-cds — developer entry points. `make help` lists them.
#
# Each target installs only what it needs into .venv, once (a stamp file per set, redone when
# pyproject.toml or the constraints change): `run` the service alone, `test` the test tools,
# `lint` ruff and mypy, `bench` the profiler. Versions are pinned by requirements/constraints.txt
# (regenerate with `make lock`), so a laptop, CI and the image install the same ones. Needs only
# python3 with venv and pip.
PYTHON      ?= python3
VENV        ?= .venv
BIN         := $(VENV)/bin
HOST        ?= 127.0.0.1
PORT        ?= 8080
CONSTRAINTS := requirements/constraints.txt
PIP_INSTALL  = $(BIN)/python -m pip install --quiet --constraint $(CONSTRAINTS)
DEPS        := $(VENV)/.stamp-pip pyproject.toml $(CONSTRAINTS)

.DEFAULT_GOAL := help
.PHONY: help install run test lint bench fuzz rules-doc admin-shots card-shots lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# a venv made by another tool (uv) may have no pip: add it once
$(VENV)/.stamp-pip: $(BIN)/python
	$(BIN)/python -m pip --version >/dev/null 2>&1 || $(BIN)/python -m ensurepip --upgrade
	$(BIN)/python -m pip install --quiet --upgrade pip
	touch $@

$(VENV)/.stamp-run: $(DEPS)
	$(PIP_INSTALL) -e .
	touch $@

$(VENV)/.stamp-test: $(DEPS)
	$(PIP_INSTALL) -e '.[test]'
	touch $@

$(VENV)/.stamp-lint: $(DEPS)
	$(PIP_INSTALL) -e '.[lint]'
	touch $@

$(VENV)/.stamp-bench: $(DEPS)
	$(PIP_INSTALL) -e '.[bench]'
	touch $@

install: $(VENV)/.stamp-run $(VENV)/.stamp-test $(VENV)/.stamp-lint $(VENV)/.stamp-bench ## create .venv with the service and every developer tool

run: $(VENV)/.stamp-run ## serve on $(HOST):$(PORT) with embedded defaults (SQLite, no auth); installs the service only
	$(BIN)/spasticity-cds serve --host $(HOST) --port $(PORT)

test: $(VENV)/.stamp-test ## run the whole test suite (CI=true: a missing nginx/PostgreSQL fails)
	$(BIN)/python -m pytest -q

lint: $(VENV)/.stamp-lint ## ruff (rules and formatting) and mypy
	$(BIN)/ruff check service tests tools benchmarks
	$(BIN)/ruff format --check service tests tools benchmarks
	$(BIN)/mypy

bench: $(VENV)/.stamp-bench ## load benchmarks against the bare Flask floor (see benchmarks/README.md)
	$(BIN)/python benchmarks/run.py

fuzz: $(VENV)/.stamp-test ## a longer hunt for 5xx: 50,000 mutated real requests, 5,000 mutated fetched records (CDS_FUZZ_SEED to vary)
	CDS_FUZZ_CASES=$${CDS_FUZZ_CASES:-50000} $(BIN)/python -m pytest -q -s -p no:randomly tests/fuzz/test_mutated_requests.py
	CDS_FUZZ_CASES=$${CDS_FUZZ_CASES:-5000} $(BIN)/python -m pytest -q -s -p no:randomly tests/fuzz/test_fetched_records.py

rules-doc: $(VENV)/.stamp-run ## regenerate docs/RULES.md from cards/
	$(BIN)/spasticity-cds rules --markdown > docs/RULES.md

admin-shots: $(VENV)/.stamp-test ## screenshots of the /admin/ pages into docs/admin-*.png (needs chromium, npm)
	cd tools/a11y && npm ci --no-audit --no-fund
	ADMIN_SHOTS_DIR=$(CURDIR)/docs $(BIN)/python -m pytest -q -p no:randomly tests/admin/test_browser.py
lock: ## re-resolve requirements/constraints.txt from pyproject.toml (needs uv)
	uv pip compile pyproject.toml --all-extras --universal --python-version 3.11 \
	    --annotation-style line --custom-compile-command "make lock" -o $(CONSTRAINTS)
card-shots: $(VENV)/.stamp-test ## screenshots of cards as clinicians see them (docs/cards/, needs Debian chromium)
	$(BIN)/python tools/card_shots.py

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
