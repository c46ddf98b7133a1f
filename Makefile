# The two commands: `make demo` and `make test` (each installs what it needs first).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test test-all bench lint clean

# verl 0.9.1 goes in without its dependencies: the verl extra brings what entropic's verl modules import, and
# constraints/verl.txt holds transformers and tensordict inside verl's ranges.
$(STAMP): pyproject.toml constraints/verl.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints/verl.txt -e '.[dev,llm,verl]'
	$(PY) -m pip install --quiet --no-deps -c constraints/verl.txt verl==0.9.1
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/entropic-demo

test: install
	$(PY) -m pytest

test-all: install
	$(PY) -m pytest -m ''

bench: install
	$(PY) benchmarks/objectives.py
	$(PY) benchmarks/bandit.py
	$(PY) benchmarks/controllers.py
	$(PY) benchmarks/toy_lm.py
	$(PY) benchmarks/tune.py

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache .ruff_cache
