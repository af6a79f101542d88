# Một cửa assistant — every set-up step lives here so a fresh machine needs only `make run` / `make test`.
SHELL := /bin/bash
PY311 ?= $(shell command -v python3.11 || echo python3)
PYENV_ROOT ?= $(shell pyenv root 2>/dev/null || echo $$HOME/.pyenv)
PY310 ?= $(shell if [ -x "$(PYENV_ROOT)/versions/3.10.13/bin/python" ]; then echo "$(PYENV_ROOT)/versions/3.10.13/bin/python"; else command -v python3.10; fi)
VENV := .venv
VENV_RASA := .venv-rasa
export RASA_TELEMETRY_ENABLED := false
export MOTCUA_DATA_DIR ?= $(CURDIR)/data

.PHONY: setup setup-app setup-rasa run test bench lint clean

setup: setup-app setup-rasa

setup-app: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	$(PY311) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip setuptools wheel
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

setup-rasa: $(VENV_RASA)/.installed
$(VENV_RASA)/.installed: requirements-rasa.txt
	@test -n "$(PY310)" || { echo "Python 3.10 not found (pyenv 3.10.13 or python3.10 on PATH)"; exit 1; }
	$(PY310) -m venv $(VENV_RASA)
	$(VENV_RASA)/bin/pip install -q --upgrade 'pip<24.1' 'setuptools<71' wheel
	$(VENV_RASA)/bin/pip install -q -r requirements-rasa.txt
	touch $@

run: setup
	bash scripts/run.sh

lint: setup-app
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy core knowledge_base actions connectors backoffice motcua

test: setup
	$(VENV)/bin/python -m pytest -q

bench: setup
	$(VENV)/bin/python -m benchmarks.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(VENV_RASA)
