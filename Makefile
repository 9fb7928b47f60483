# Two entry points that work on a fresh Debian machine (see README.md).
VENV ?= .venv
DEMO_OUT ?= demo_out

.PHONY: install install-test demo test test-fast lint bench
install:
	@bash scripts/bootstrap.sh

install-test:
	@bash scripts/bootstrap.sh --test

demo: install
	$(VENV)/bin/cnmri demo -o $(DEMO_OUT) --force

# every test, the slow ones included (-m "" lifts the default -m "not slow" of pyproject.toml)
test: install-test
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider -m ""

# the fast tests only: no full analysis, server or phantom dataset (a few minutes)
test-fast: install-test
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

bench: install
	$(VENV)/bin/python benchmarks/bench_pipeline.py
