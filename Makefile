# Two commands for a fresh machine with Python 3 and make:
#   make demo   trains and evaluates on generated blood smears (no downloads, about 3 minutes on 2 CPU cores)
#   make test   runs the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed

.PHONY: install demo serve shapes test test-fast clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-app.txt setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-app.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# The main job: train on generated blood smears (8 PBC classes, exact masks), then print the paper's tables.
DEMO_MODEL = --backbone tiny --preset cpu --image-size 128 --logs logs/demo
DEMO = --dataset synthetic $(DEMO_MODEL)
demo: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python samples/pbc/pbc.py train $(DEMO) --images-per-gpu 4 --gpu-count 1 \
		--epochs 12 --steps-per-epoch 50
	MPLBACKEND=Agg $(BIN)/python samples/pbc/pbc.py evaluate $(DEMO) --weights last --out out/demo

# The web page on the demo's model (after `make demo`): http://127.0.0.1:8000/ (PORT=8001 make serve for another port).
PORT ?= 8000
serve: $(STAMP)
	$(BIN)/python samples/pbc/pbc.py serve $(DEMO_MODEL) --weights last --port $(PORT) \
		$(if $(wildcard out/demo/metrics.json),--eval out/demo)

shapes: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python samples/shapes/train_shapes.py demo --logs logs/shapes --out out/shapes

test: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python -m pytest -q tests

test-fast: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python -m pytest -q -m "not slow" tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache logs out
