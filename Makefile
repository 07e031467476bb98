# Everything a fresh machine needs: `make test` and `make demo` set up the virtualenv themselves.
SHELL := /bin/bash

# The Lambda runs python3.13; use it where installed (pyenv's shims hide it when
# another version is global), else any Python >= 3.12.
PYTHON ?= $(shell for p in python3.13 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.13*/bin/python3.13 2>/dev/null | sort -V | tail -n 1) python3.12 python3; do \
	  "$$p" -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null && { echo "$$p"; break; }; done)
VENV := .venv
# SAM CLI pins an older botocore than the function's, so it lives in a virtualenv of its own.
SAM_VENV := .venv-sam
SAM := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam
SAM_TOOLS := $(SAM_VENV)/.installed
ENV ?= default
EVENT ?= events/eks-fluentd.json
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: setup test properties lint demo opensearch events bench sam-tools validate build deploy-guided deploy saved-answers local-invoke clean

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

# A real OpenSearch 2.19 node on 127.0.0.1 until Ctrl-C: prints OPENSEARCH_URL=http://127.0.0.1:PORT.
opensearch:
	@test -n "$(PYTHON)" || { echo "make: no Python >= 3.12 found (set PYTHON=/path/to/python3.13)"; exit 1; }
	@"$(PYTHON)" -m harness.opensearch_node

# Ours against the Node reference in the same run; writes bench/results/, then prints the cost model (README, Performance).
bench: setup
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	$(PY) bench/run.py
	$(PY) bench/cost.py

sam-tools: $(SAM_TOOLS)

$(SAM_TOOLS):
	"$(PYTHON)" -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check aws-sam-cli==1.170.0 cfn-lint==1.58.0
	touch $@

validate: $(SAM_TOOLS)
	$(SAM) validate --lint --region us-east-1
	$(SAM_VENV)/bin/cfn-lint template.yaml

# `sam build` without Docker needs the function's Python (3.13) on PATH.
build: $(SAM_TOOLS)
	PATH="$$("$(PYTHON)" -c 'import os, sys; print(os.path.dirname(sys.executable))'):$$PATH" $(SAM) build --config-env $(ENV)

# SAM CLI looks for (and saves) a guided deploy's answers beside the template, build/sam/,
# unless told where: both targets name ./samconfig.toml, so the answers are where deploy reads them.
SAMCONFIG := --config-file "$(CURDIR)/samconfig.toml" --config-env $(ENV)

deploy-guided: build
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

clean:
	rm -rf $(VENV) $(SAM_VENV) .pytest_cache .mypy_cache .ruff_cache build .aws-sam opensearch-node/target
