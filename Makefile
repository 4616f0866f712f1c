# Two commands do everything on a fresh machine with Python >= 3.10 and pip:
#   make reproduce   set up .venv, then run the notebooks headless into results/
#   make test        set up .venv, then run pytest (unit tests + nbval over the notebooks)
#   make book        a static HTML book of the executed notebooks in build/book (open build/book/index.html)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
SIZE   ?= full
STAMP  := $(VENV)/.installed
# idle OpenMP threads sleep instead of spinning: torch stays fast when other work shares the cores (lt_core/__init__.py)
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: setup reproduce train test lint format benchmark book clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[notebooks,dev,h36m,video]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

reproduce: setup
	$(PY) -m lt_core.reproduce --size $(SIZE)

# retrain the small checkpoints in data/checkpoints and rewrite results/tables/embedded_{h36m_rig,dome}.*
# (both rigs side by side, one single-thread process each: 79 min on a 2-core CPU, measured)
train: setup
	$(PY) scripts/train_embedded.py --rig all --fresh

test: setup lint
	$(PY) -m pytest -q tests

# a static book of the committed executed notebooks (index, navigation, offline plotly and math) in build/book
book: setup
	$(PY) scripts/build_book.py --out build/book

# ruff (pinned by constraints.txt): lint rules and formatting in pyproject.toml; `make format` applies them
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

benchmark: setup
	$(PY) benchmarks/triangulation.py --batch 2048
	$(PY) benchmarks/undistortion.py --threads 1
	$(PY) benchmarks/unprojection.py --threads 1
	$(PY) benchmarks/training.py --out results/benchmarks/training.csv

clean:
	rm -rf $(VENV) results/*.ipynb
