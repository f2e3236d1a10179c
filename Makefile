# Two commands do all the set-up on a fresh machine that has only python3:
#   make demo   runs the main job
#   make test   runs the whole test suite (plus ruff and mypy)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean screenshots soak

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

demo: $(STAMP)
	ACCIO_HOME=$${ACCIO_HOME:-$(CURDIR)/.accio-demo} $(BIN)/python examples/demo.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples scripts
	$(BIN)/ruff format --check src tests benchmarks examples scripts
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo --no-cache

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_expand.py
	$(BIN)/python benchmarks/bench_engine.py
	$(BIN)/python benchmarks/bench_cluster.py
	$(BIN)/python benchmarks/bench_kernels.py
	$(BIN)/python benchmarks/bench_ui.py
	$(BIN)/python benchmarks/bench_load.py

clean:
	rm -rf $(VENV) .accio-demo .pytest_cache .mypy_cache .ruff_cache

screenshots: $(STAMP)
	$(BIN)/python scripts/screenshots.py

# Fault campaign (not run by CI): SIGKILL the scheduler and workers during a sweep, then check.
#   make soak SOAK_ARGS="--children 200 --trials 5"
soak: $(STAMP)
	$(BIN)/python scripts/soak.py $(SOAK_ARGS)
