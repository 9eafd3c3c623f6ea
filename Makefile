# The two commands: `make test` and `make report`. Each sets up .venv on a fresh machine first.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
# Empty = PyPI. A wheel index for torch only, e.g. TORCH_INDEX=https://download.pytorch.org/whl/cpu: on Linux
# x86_64 PyPI's torch is the CUDA build (with ~18 nvidia-* wheels); the CPU index has the small CPU-only build.
TORCH_INDEX ?=
PROFILE ?= default
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test report lab notebooks lint format bench synth clean

setup: $(STAMP)

# torch goes in first and pinned: an unpinned torch (or a dependency's range) would pull GBs of CUDA wheels.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url "$(TORCH_INDEX)")
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m ipykernel install --prefix $(VENV) --name mumae --display-name "Mu-MAE kit (.venv)" >/dev/null
	touch $(STAMP)

test: setup
	$(BIN)/python -m pytest -q

report: setup
	$(BIN)/mumae report --profile $(PROFILE)

# The notebooks are jupytext sources (notebooks/*.py); their .ipynb twins are built here, git-ignored, and kept
# paired: saving either one in JupyterLab (jupytext is installed) updates the other.
notebooks: setup
	$(BIN)/jupytext --to ipynb --update notebooks/[0-9]*.py

lab: notebooks
	$(BIN)/jupyter lab notebooks/

lint: setup
	$(BIN)/ruff check mumae_core tests benchmarks notebooks
	$(BIN)/ruff format --check mumae_core tests benchmarks notebooks

format: setup
	$(BIN)/ruff format mumae_core tests benchmarks notebooks
	$(BIN)/ruff check --fix mumae_core tests benchmarks notebooks

bench: setup
	$(BIN)/mumae bench data --out reports/benchmarks/data.json
	$(BIN)/mumae bench pretrain --profile all --out reports/benchmarks/pretrain.json
	$(BIN)/mumae bench evaluate --out reports/benchmarks/evaluate.json

clean:
	rm -rf $(VENV) .pytest_cache data/ runs/
