# Two commands on a fresh machine: `make run` serves, `make test` checks everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := service domain eventstore projections

.PHONY: run test test-long lint types install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/python -m service serve

lint: install-dev
	$(BIN)/ruff check $(PACKAGES) tests bench
	$(BIN)/ruff format --check $(PACKAGES) tests bench

types: install-dev
	$(BIN)/mypy --strict $(PACKAGES) bench

test: lint types
	$(BIN)/python -m pytest

test-long: install-dev
	$(BIN)/python -m pytest -m long

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info

# The service measured over HTTP beside raw PostgreSQL (pgbench) on a throwaway cluster;
# wrk for the HTTP load (apt-get install wrk). Prints a table, writes bench/results/.
.PHONY: bench bench-quick
bench: install
	$(BIN)/python -m bench.run

bench-quick: install
	$(BIN)/python -m bench.run --quick
