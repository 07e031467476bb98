# Everything a fresh machine needs: `make test` and `make demo` set up the virtualenv themselves.
SHELL := /bin/bash

# The Lambda runs python3.13; use it where installed (pyenv's shims hide it when
# another version is global), else any Python >= 3.12.
PYTHON ?= $(shell for p in python3.13 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.13*/bin/python3.13 2>/dev/null | sort -V | tail -n 1) python3.12 python3; do \
	  "$$p" -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null && { echo "$$p"; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: setup test lint demo events bench clean

setup: $(INSTALLED)

$(INSTALLED): pyproject.toml src/requirements.txt
	@test -n "$(PYTHON)" || { echo "make: no Python >= 3.12 found (set PYTHON=/path/to/python3.13)"; exit 1; }
	"$(PYTHON)" -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r src/requirements.txt -e '.[dev]'
	touch $@

# pytest exits 5 when it collected no test: that is a failure here too.
test: setup
	$(PY) -m pytest -q; status=$$?; \
	if [ $$status -eq 5 ]; then echo "make: pytest collected no tests" >&2; exit 1; fi; exit $$status

lint: setup
	$(VENV)/bin/ruff check src tests scripts
	$(VENV)/bin/mypy

demo: setup
	$(PY) scripts/demo.py events

# Ours against the Node reference in the same run; writes bench/results/ (see README, Performance).
bench: setup
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	$(PY) bench/run.py

events: setup
	$(PY) scripts/make_events.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build .aws-sam
