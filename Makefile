# Every target sets itself up: a virtual environment in .venv, torch pinned through constraints.txt.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: demo demo-longrange test test-all lint format docs bench bench-env clean

$(BIN)/.installed: pyproject.toml constraints.txt
	@echo "setting up $(VENV): torch 2.13.0 (CPU) and lstmkit's dependencies; this takes a few minutes the first time" >&2
	$(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	@echo "torch installed; now lstmkit with its dev, data, track, scale and baselines extras" >&2
	$(PIP) -e ".[dev,data,track,scale,baselines]"
	touch $@

demo: $(BIN)/.installed  ## forecast a built-in dataset: train, backtest against the baselines, plot, table
	$(BIN)/lstmkit forecast backtest --data air-passengers --windows 3

demo-longrange: $(BIN)/.installed  ## LSTM vs GRU vs RNN on the adding problem (T=100): who learned it?
	$(BIN)/lstmkit longrange compare --task adding --length 100

lint: $(BIN)/.installed  ## ruff: lint and the formatter's check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(BIN)/.installed  ## apply the formatter
	$(BIN)/ruff format .

test: lint  ## the fast tier: lint + every test not marked slow (a few minutes at most on 2 cores)
	$(BIN)/python -m pytest -m "not slow" --durations=15

test-all: lint  ## everything, slow tests included (what CI runs)
	$(BIN)/python -m pytest --durations=15

docs: $(BIN)/.installed  ## the documentation site (MkDocs, --strict: warnings are errors) -> site/index.html
	$(BIN)/python docs/build.py

bench: $(BIN)/.installed  ## core speed benchmark -> BENCHMARKS.md (run it alone on the machine)
	$(BIN)/python benchmarks/core_speed.py

bench-env:  ## a separate benchmark environment with statsforecast and NeuralForecast (they need pandas < 3)
	$(PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip install --quiet -c constraints.txt torch==2.13.0
	.venv-bench/bin/python -m pip install --quiet -c constraints.txt "pandas<3" statsforecast neuralforecast -e .

clean:
	rm -rf $(VENV) runs
