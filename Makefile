# Everything runs inside the project's virtual environment at .venv (created on first use).
#   make quickstart   set up, generate synthetic data, train a small network on the CPU, validate, draw
#   make test         set up, lint (ruff check .) and run the test suite without the CUDA tests (what CI runs)
#   make test-fast    the tests that start no subprocess, torchrun job or training run (a developer's loop)
#   make test-gpu     the CUDA tests (they skip without a GPU)
#   make lint         ruff with the rules in pyproject.toml (also the first step of make test)
#   make bench        the speed benchmarks in bench/
SHELL := /bin/bash
BOOTSTRAP_PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: all setup nms test test-fast test-gpu lint quickstart bench clean

all: test

$(STAMP): requirements.txt
	test -x $(PY) || $(BOOTSTRAP_PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

setup: $(STAMP) nms

nms: $(STAMP)
	$(MAKE) -C lib PYTHON=$(abspath $(PY))

# markers and the other pytest settings: pyproject.toml
test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest -q -m "not cuda" -n auto

test-fast: setup
	$(PY) -m pytest -q -m "not slow and not cuda"

test-gpu: setup
	$(PY) -m pytest -q -m cuda

lint: $(STAMP)
	$(PY) -m ruff check .

quickstart: setup
	bash scripts/quickstart.sh

bench: setup
	$(PY) bench/bench_oks_nms.py
	$(PY) bench/bench_dataset.py
	$(PY) bench/bench_train_step.py
	$(PY) bench/bench_optimizer_step.py
	$(PY) bench/bench_validate.py
	$(PY) bench/bench_valid_speed.py

clean:
	$(MAKE) -C lib clean
