# One virtual environment in .venv holds everything; the first target that needs it builds it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# A plain `make test` skips tests marked slow; CI (CI=true) runs them all.
PYTEST_SELECT := $(if $(filter true 1,$(CI)),-m "slow or not slow",)


.PHONY: install run simulate test test-all lint typecheck bench protos clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[train,dev]'
	touch $(STAMP)

install: $(STAMP)

## The main job: serve the embedded default model and show a first decision (Ctrl-C stops).
run: install
	$(BIN)/python scripts/demo.py

## A closed-loop simulation of a benchmark scenario with the default model, KPI table printed.
simulate: install
	$(BIN)/linkadapt simulate --scenario mimo --policy xapp/models/default.onnx --ues 512 --slots 2000 --seed 1

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy xapp training linkadapt

## The test command (README, .ci/run): lint, type check, tests.
test: lint typecheck
	$(BIN)/python -m pytest $(PYTEST_SELECT)

test-all: lint typecheck
	$(BIN)/python -m pytest -m "slow or not slow"

bench: install
	$(BIN)/python benchmarks/sim_speed.py

## Also removes the model store of `make run` and `linkadapt serve` (model-store/, the one
## default place; .linkadapt/ held it before) with the models uploaded to it.
clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
	rm -rf model-store .linkadapt
