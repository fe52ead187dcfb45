# Quick start: `make demo`, then `make test`. Both create .venv and install from scratch.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# CPU-only machines take the CPU torch wheel; machines with a GPU get PyPI's CUDA build.
CONSTRAINTS := $(if $(shell command -v nvidia-smi 2>/dev/null),,-c constraints/cpu.txt)

.PHONY: install demo test test-fast bench clean fixtures

$(STAMP): pyproject.toml constraints/cpu.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(CONSTRAINTS) -e '.[smoke,dev,ray]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	@echo "== ftlint check fixtures/demo (dataset + training config) =="
	$(VENV)/bin/ftlint check fixtures/demo --fail-on never
	@echo
	@echo "== ftlint estimate fixtures/demo/train.yml --gpu rtx-4090 =="
	$(VENV)/bin/ftlint estimate fixtures/demo/train.yml --gpu rtx-4090

test: install
	$(PY) -m pytest -q -n 2

test-fast: install
	$(PY) -m pytest -q -m "not slow"

bench: install
	$(PY) bench/throughput.py --records 200000

clean:
	rm -rf $(VENV) .pytest_cache .cache build *.egg-info src/*.egg-info
