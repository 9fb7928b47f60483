# Two entry points that work on a fresh Debian machine (see README.md).
VENV ?= .venv
DEMO_OUT ?= demo_out

.PHONY: install demo test lint bench
install:
	@bash scripts/bootstrap.sh

demo: install
	$(VENV)/bin/cnmri demo -o $(DEMO_OUT) --force

test: install
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

bench: install
	$(VENV)/bin/python benchmarks/run.py
