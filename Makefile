# Everything a fresh machine needs: `make test` and `make demo` set up the virtualenv themselves.
SHELL := /bin/bash

# The Lambda runs python3.13; use it where installed (pyenv's shims hide it when
# another version is global), else any Python >= 3.12.
PYTHON ?= $(shell for p in python3.13 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.13*/bin/python3.13 2>/dev/null | sort -V | tail -n 1) python3.12 python3; do \
	  "$$p" -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null && { echo "$$p"; break; }; done)
VENV := .venv
# SAM CLI pins an older botocore than the function's, so it lives in a virtualenv of its own.
# That one is 327 MB: it is made once per machine under the user's cache, and .venv-sam links to it.
# The versions are in requirements/sam-tools.in, locked in requirements/sam-tools.txt.
SAM_PACKAGES := $(shell sed -n 's/^\([a-z-]*==[0-9.]*\).*/\1/p' requirements/sam-tools.in)
SAM_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/cwl-opensearch-forwarder/$(subst ==,-,$(subst $() ,_,$(SAM_PACKAGES)))-$(shell sha256sum requirements/sam-tools.txt | cut -c1-8)
SAM_VENV := .venv-sam
SAM := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam
SAM_TOOLS := $(SAM_VENV)/.installed
# Of pip's output, one line per package it collects (progress without the noise); errors as pip writes them.
PIP_PROGRESS := --disable-pip-version-check --progress-bar off | sed -un 's/^Collecting \([^ ]*\).*/  collecting \1/p'
FAST_TESTS := -m "not opensearch and not template and not parity"
ENV ?= default
EVENT ?= events/eks-fluentd.json
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: setup test test-any-day lock test-fast properties lint demo opensearch events bench bench-index bench-reconcile sam-tools validate build deploy-guided deploy saved-answers local-invoke clean

setup: $(INSTALLED)

$(INSTALLED): requirements/dev.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "make: no Python >= 3.12 found (set PYTHON=/path/to/python3.13)"; exit 1; }
	@echo "make: creating $(VENV) with $(PYTHON) and installing the forwarder and its test tools (requirements/dev.txt)"
	@"$(PYTHON)" -m venv $(VENV)
	@set -o pipefail; $(PY) -m pip install --require-hashes --no-deps -r requirements/dev.txt $(PIP_PROGRESS)
	@$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

# pytest exits 5 when it collected no test: that is a failure here too.
test: setup sam-tools
	@echo "make: running every test; without the real node, SAM and Node: make test-fast"
	@$(PY) -m pytest -q; status=$$?; \
	if [ $$status -eq 5 ]; then echo "make: pytest collected no tests" >&2; exit 1; fi; exit $$status

# All of `make test` with the clock moved 45 and 400 days ahead: time-machine in every Python process
# the tests start (tests/any_day/sitecustomize.py; docs/development.md, "Any day").
ANY_DAY_SHIFTS ?= 45 400
# sitecustomize imports time-machine before pytest loads it as a plugin: nothing of it is asserted on.
TIME_MACHINE_IMPORTED_FIRST = ignore:Module already imported so cannot be rewritten; time_machine:pytest.PytestAssertRewriteWarning
test-any-day: setup sam-tools
	@for days in $(ANY_DAY_SHIFTS); do \
	  echo "make: every test with the clock $$days days ahead"; \
	  ANY_DAY_SHIFT_DAYS=$$days PYTHONPATH=tests/any_day $(PY) -m pytest -q -W "$(TIME_MACHINE_IMPORTED_FIRST)"; status=$$?; \
	  if [ $$status -eq 5 ]; then echo "make: pytest collected no tests" >&2; exit 1; fi; \
	  [ $$status -eq 0 ] || exit $$status; \
	done

# Refreshes the lock files from pyproject.toml, src/requirements.txt and requirements/*.in (docs/development.md).
PIP_TOOLS := pip-tools==7.6.2
lock:
	@"$(PYTHON)" -m venv .venv-lock && .venv-lock/bin/pip install --quiet --disable-pip-version-check $(PIP_TOOLS)
	@set -e; compile=".venv-lock/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-find-links"; \
	$$compile --extra dev -o requirements/dev.txt pyproject.toml src/requirements.txt requirements/build.in; \
	$$compile --extra dev --extra bench -o requirements/bench.txt pyproject.toml src/requirements.txt requirements/build.in; \
	$$compile -o requirements/sam-tools.txt requirements/sam-tools.in
	@rm -rf .venv-lock
	@echo "make: requirements/*.txt refreshed; commit them with what changed"

# The tests that need no Java, SAM CLI or Node: the handler, delivery, properties, CLI.
test-fast: setup
	@$(PY) -m pytest -q $(FAST_TESTS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make: pytest collected no tests" >&2; exit 1; fi; exit $$status

# The delivery property over many more generated cases than `make test` runs, a new seed each time.
properties: setup
	PROPERTIES_PROFILE=long $(PY) -m pytest -q -p no:logging --hypothesis-show-statistics tests/test_properties.py

lint: setup
	$(VENV)/bin/ruff check src tests harness scripts bench
	$(VENV)/bin/mypy

# A real OpenSearch 2.19 node where Java and Maven are (built from Maven Central by
# opensearch-node/pom.xml on first use), else the stand-in; says which in one line.
demo: setup
	$(PY) scripts/demo.py events

# A real OpenSearch 2.19 node on 127.0.0.1 until Ctrl-C: prints OPENSEARCH_URL=http://127.0.0.1:PORT
# and puts the index template for INDEX_PREFIX (default mydata), as `make demo` does.
# SECURITY=true: 2.19.4 with the security plugin, TLS and an admin user (harness/secure_node.py).
opensearch: setup
	@$(PY) -m harness.opensearch_node $(if $(filter true,$(SECURITY)),--secure)

# Ours against the Node reference in the same run; writes bench/results/, then prints the cost model (README, Performance).
bench: setup
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements/bench.txt
	$(PY) bench/run.py
	$(PY) bench/cost.py

# Index design on the real node: the corpus three ways (no template, compatible, compact); docs/performance.md.
bench-index: setup
	$(PY) bench/index_design.py

# Reconcile's events checked per second and calls, against moto's server and the real node (docs/performance.md).
bench-reconcile: setup
	$(PY) bench/reconcile.py

sam-tools: $(SAM_TOOLS)

# One install per machine: a lock for clones installing at once, the marker last, a half install redone.
$(SAM_TOOLS): requirements/sam-tools.txt
	@test -n "$(PYTHON)" || { echo "make: no Python >= 3.12 found (set PYTHON=/path/to/python3.13)"; exit 1; }
	@mkdir -p "$(dir $(SAM_CACHE))"
	@set -o pipefail; flock "$(SAM_CACHE).lock" bash -c 'set -o pipefail; test -f "$(SAM_CACHE)/.installed" && exit 0; \
	  echo "make: installing $(SAM_PACKAGES) into $(SAM_CACHE) (327 MB, once per machine)"; \
	  rm -rf "$(SAM_CACHE)" && "$(PYTHON)" -m venv "$(SAM_CACHE)" && \
	  "$(SAM_CACHE)/bin/pip" install --require-hashes --no-deps -r requirements/sam-tools.txt $(subst ','"'"',$(PIP_PROGRESS)) && touch "$(SAM_CACHE)/.installed"'
	@if [ ! -e $(SAM_VENV) ] || [ -L $(SAM_VENV) ]; then ln -sfn "$(SAM_CACHE)" $(SAM_VENV); fi
	@test -f $@ || { echo "make: $(SAM_VENV) is a folder of an older install: remove it and run make again"; exit 1; }

validate: $(SAM_TOOLS)
	$(SAM) validate --lint --region us-east-1
	$(SAM_VENV)/bin/cfn-lint template.yaml

# `sam build` without Docker needs the function's Python (3.13) on PATH.
build: $(SAM_TOOLS)
	PATH="$$("$(PYTHON)" -c 'import os, sys; print(os.path.dirname(sys.executable))'):$$PATH" $(SAM) build --config-env $(ENV)

# SAM CLI looks for (and saves) a guided deploy's answers beside the template, build/sam/,
# unless told where: both targets name ./samconfig.toml, so the answers are where deploy reads them.
SAMCONFIG := --config-file "$(CURDIR)/samconfig.toml" --config-env $(ENV)

# Credentials and a region first: SAM CLI would ask every question, then fail and save nothing.
deploy-guided: sam-tools
	@$(SAM_VENV)/bin/python scripts/aws_ready.py
	@$(MAKE) --no-print-directory build
	$(SAM) deploy --guided $(SAMCONFIG)

deploy: saved-answers build
	$(SAM) deploy $(SAMCONFIG)

saved-answers:
	@grep -A12 '^\[$(ENV).deploy.parameters\]' samconfig.toml | grep -q 'OpenSearchEndpoint=' || { \
	  echo "make: samconfig.toml has no OpenSearchEndpoint for ENV=$(ENV): run 'make deploy-guided ENV=$(ENV)' first"; exit 1; }

# Docker runs the Lambda image; without it, the same handler runs in-process against the local stand-in.
local-invoke: setup
	@if docker info >/dev/null 2>&1; then \
	  $(MAKE) build && $(SAM) local invoke ForwarderFunction -t build/sam/template.yaml -e $(EVENT); \
	else \
	  echo "make: no Docker engine, so not sam local invoke: running the same handler in-process on $(EVENT)"; \
	  $(PY) scripts/demo.py $(EVENT); \
	fi

events: setup
	$(PY) scripts/make_events.py

# The SAM tools' cache stays for the next clone: rm -rf "$(SAM_CACHE)" removes it.
clean:
	rm -rf $(VENV) $(SAM_VENV) .pytest_cache .mypy_cache .ruff_cache build .aws-sam opensearch-node/target
