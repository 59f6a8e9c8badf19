# Two entry points for a fresh machine: `make run` (main job) and `make test` (tests, ruff, mypy).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ltrr-installed

.PHONY: run bench test bench-scale clean-venv

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	# The CPU build of torch first (a local wheel on these machines), so nothing pulls the CUDA build.
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/ltrr demo --json demo.json --plot demo.png

bench: $(STAMP)
	$(BIN)/ltrr bench retrieval --split test --strategies lexical,embedding --k 100 --json bench-retrieval.json

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/pytest -q --durations=15
	$(BIN)/lint-imports --no-cache
	$(BIN)/ruff check ltrr strategies simulators tests benchmarks
	$(BIN)/mypy

bench-scale: $(STAMP)
	$(BIN)/python benchmarks/scale.py --json benchmarks/scale.json

clean-venv:
	rm -rf $(VENV)
