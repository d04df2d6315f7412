# spasticity-cds — developer entry points. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test lint bench rules-doc card-shots clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the project with its test extras

run: install ## serve on $(HOST):$(PORT) with embedded defaults (SQLite, no auth)
	$(BIN)/spasticity-cds serve --host $(HOST) --port $(PORT)

test: install ## run the whole test suite
	$(BIN)/python -m pytest -q

lint: install ## ruff and mypy
	$(BIN)/ruff check service tests tools benchmarks
	$(BIN)/mypy

bench: install ## load benchmarks against the bare Flask floor (see benchmarks/README.md)
	$(BIN)/python benchmarks/run.py

rules-doc: install ## regenerate docs/RULES.md from cards/
	$(BIN)/spasticity-cds rules --markdown > docs/RULES.md

card-shots: install ## screenshots of cards as clinicians see them (docs/cards/, needs Debian chromium)
	$(BIN)/python tools/card_shots.py

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
