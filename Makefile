# Every target sets itself up: a virtual environment in .venv, torch pinned through constraints.txt.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: demo demo-longrange test lint bench bench-env clean

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e ".[dev,data,track,scale]"
	touch $@

demo: $(BIN)/.installed  ## forecast a built-in dataset: train, backtest against the baselines, plot, table
	$(BIN)/lstmkit forecast backtest --data air-passengers --windows 3

demo-longrange: $(BIN)/.installed  ## LSTM vs GRU vs RNN on the adding problem (T=100): who learned it?
	$(BIN)/lstmkit longrange compare --task adding --length 100

test: $(BIN)/.installed  ## lint + the test suite
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: $(BIN)/.installed  ## core speed benchmark -> BENCHMARKS.md (run it alone on the machine)
	$(BIN)/python benchmarks/core_speed.py

bench-env:  ## a separate benchmark environment with statsforecast and NeuralForecast (they need pandas < 3)
	$(PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip install --quiet -c constraints.txt torch==2.13.0
	.venv-bench/bin/python -m pip install --quiet -c constraints.txt "pandas<3" statsforecast neuralforecast -e .

clean:
	rm -rf $(VENV) runs
