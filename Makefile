# Reproduction suite: `make install && make test`, then `make reproduce-all`. `make help` lists targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.install.stamp
PROFILE ?= cpu
PORT ?= 5000
STORE := $(CURDIR)/mlruns/mlflow.db

.DEFAULT_GOAL := help
.PHONY: help install test test-slow test-data test-gpu lint kernels reproduce-all report ui bench clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-14s %s\n", $$1, $$2}'
	@echo "  variables: PROFILE=cpu|paper (reproduce-all budget), REPRO_DATA_MIRROR=<folder> (offline data), PORT (ui)"

install: $(STAMP) ## create .venv and install the suite with its dev extra (a no-op when done)
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: install ## fast test tier: CPU, offline, generated data (kernels compile-checked via NVRTC)
	$(PY) -m pytest -q

test-slow: install ## heavier checks (minutes)
	$(PY) -m pytest -q -m slow

test-data: install ## checks on the real data mirror (REPRO_DATA_MIRROR, default ../shared/data)
	REPRO_DATA_MIRROR=$${REPRO_DATA_MIRROR:-$(CURDIR)/../shared/data} $(PY) -m pytest -q -m data

test-gpu: install ## kernel-vs-CPU-twin tests (needs a CUDA GPU)
	$(PY) -m pytest -q -m gpu

lint: install ## ruff
	$(PY) -m ruff check reproduce lightning_modules kernels tests

reproduce-all: install ## every paper's experiments (PROFILE=cpu|paper), then the report
	$(PY) -m reproduce.all --profile $(PROFILE)

report: install ## reports/summary.{md,json} and plots from the MLflow store
	$(PY) -m reproduce.report

ui: install ## MLflow UI on the suite's store at http://127.0.0.1:PORT (default 5000)
	@mkdir -p $(dir $(STORE))
	$(VENV)/bin/mlflow server --backend-store-uri sqlite:///$(STORE) --host 127.0.0.1 --port $(PORT) --workers 1

bench: install ## every paper's benchmark script
	@for b in reproduce/bench/[a-z]*.py; do m=$${b%.py}; echo "== $${m//\//.}"; $(PY) -m $${m//\//.} || exit 1; done

clean: ## remove outputs and reports (keeps data, the MLflow store and .venv)
	rm -rf outputs multirun reports
