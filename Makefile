# Two commands do everything from a fresh clone: `make demo` and `make test` (each sets up .venv first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test bench setup clean

setup: $(STAMP)

# torch is installed first and pinned: 2.13.0 resolves to the local CPU build; an unpinned torch pulls CUDA.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[test,coverage]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/atomgen demo --output demo_out

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

# Each script stores its parts in benchmarks/results/, then rebuilds BENCHMARKS.md and README.md's summary tables from
# every results file, so the last one leaves both up to date.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_evaluator.py
	$(BIN)/python benchmarks/bench_quetzal.py
	$(BIN)/python benchmarks/bench_adit.py
	$(BIN)/python benchmarks/bench_nextmol.py

clean:
	rm -rf $(VENV) demo_out .pytest_cache
