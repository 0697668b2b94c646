# Two commands for a fresh machine with Python 3 and make:
#   make demo   trains and evaluates on generated blood smears (no downloads, about 4 minutes on 2 CPU cores)
#   make test   runs the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed

.PHONY: install demo serve pbc shapes test test-fast clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-app.txt requirements-export.txt setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-app.txt -r requirements-export.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# The main job: train on generated blood smears (8 PBC classes, exact masks), then print the paper's tables. Seeded
# (--seed 0: Python, NumPy, TensorFlow, the batches, deterministic kernels): every run on one machine gives the same
# weights and figures (samples/pbc/README.md#synthetic-smears-make-demo).
DEMO_MODEL = --backbone tiny --preset cpu --image-size 128 --logs logs/demo
DEMO = --dataset synthetic $(DEMO_MODEL)
demo: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python samples/pbc/pbc.py train $(DEMO) --images-per-gpu 4 --gpu-count 1 \
		--epochs 20 --steps-per-epoch 50 --seed 0
	MPLBACKEND=Agg $(BIN)/python samples/pbc/pbc.py evaluate $(DEMO) --weights last --out out/demo

# The web page on the demo's model (after `make demo`): http://127.0.0.1:8000/ (PORT=8001 make serve for another port).
PORT ?= 8000
serve: $(STAMP)
	$(BIN)/python samples/pbc/pbc.py serve $(DEMO_MODEL) --weights last --port $(PORT) \
		$(if $(wildcard out/demo/metrics.json),--eval out/demo)

# The CPU recipe on the real PBC images (samples/pbc/README.md#the-cpu-recipe): annotate, pretrain the backbone as a
# classifier, train Mask R-CNN from it, average the last stage's checkpoints, evaluate on val. PBC=path/to/pbc for
# another copy of the dataset.
PBC ?= ../shared/data/pbc
PBC_OUT ?= out/pbc
PBC_MODEL = --backbone small --preset cpu --image-size 256 --logs logs/pbc
pbc: $(STAMP)
	mkdir -p $(PBC_OUT)
	MPLBACKEND=Agg $(BIN)/python samples/pbc/pbc.py annotate --dataset $(PBC) --out $(PBC_OUT)/annotations.json \
		--contact-sheet $(PBC_OUT)/annotations.png
	MPLBACKEND=Agg $(BIN)/python samples/pbc/pbc.py pretrain --dataset $(PBC) $(PBC_MODEL) --epochs 60 --seed 0 \
		--out $(PBC_OUT)/backbone_small_256.weights.h5
	MPLBACKEND=Agg $(BIN)/python samples/pbc/pbc.py train --dataset $(PBC) --annotations $(PBC_OUT)/annotations.json \
		$(PBC_MODEL) --weights $(PBC_OUT)/backbone_small_256.weights.h5 --optimizer adam --images-per-gpu 4 \
		--gpu-count 1 --epochs 36 --steps-per-epoch 100 --validation-steps 10 --seed 0
	$(BIN)/python samples/pbc/pbc.py average --logs logs/pbc --weights last --out $(PBC_OUT)/detector_small_256.weights.h5
	MPLBACKEND=Agg $(BIN)/python samples/pbc/pbc.py evaluate --dataset $(PBC) --annotations $(PBC_OUT)/annotations.json \
		$(PBC_MODEL) --subset val --weights $(PBC_OUT)/detector_small_256.weights.h5 --out $(PBC_OUT)/eval

shapes: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python samples/shapes/train_shapes.py demo --logs logs/shapes --out out/shapes

# Two worker processes, each test file whole on one of them (its module fixtures built once).
TEST_WORKERS ?= 2
test: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests

test-fast: $(STAMP)
	MPLBACKEND=Agg $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not slow" tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache logs out
