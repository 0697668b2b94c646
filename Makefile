# Two commands for a fresh machine with Python 3 and make:
#   make demo   trains and evaluates on the embedded synthetic data (no downloads, a few minutes on a CPU)
#   make test   runs the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed

.PHONY: install demo test test-fast clean

install: $(STAMP)

$(STAMP): requirements.txt setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python samples/shapes/train_shapes.py demo --logs logs --out out/shapes

test: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python -m pytest -q tests

test-fast: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python -m pytest -q -m "not slow" tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
