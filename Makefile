# Two commands do everything on a fresh machine with Python >= 3.10 and pip:
#   make reproduce   set up .venv, then run the notebooks headless into results/
#   make test        set up .venv, then run pytest (unit tests + nbval over the notebooks)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
SIZE   ?= full
STAMP  := $(VENV)/.installed

.PHONY: setup reproduce train test benchmark clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[notebooks,dev,h36m]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

reproduce: setup
	$(PY) -m lt_core.reproduce --size $(SIZE)

# retrain the small checkpoints in data/checkpoints and rewrite results/tables/embedded_{h36m_rig,dome}.*
# (both rigs side by side, one single-thread process each: TIMING_TBD on the shared 2-core CPU)
train: setup
	$(PY) scripts/train_embedded.py --rig all --fresh

test: setup
	$(PY) -m pytest -q tests

benchmark: setup
	$(PY) benchmarks/triangulation.py --batch 2048
	$(PY) benchmarks/undistortion.py --threads 1
	$(PY) benchmarks/unprojection.py --threads 1
	$(PY) benchmarks/training.py --out results/benchmarks/training.csv

clean:
	rm -rf $(VENV) results/*.ipynb
