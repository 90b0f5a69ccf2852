# Two entry points: `make serve` starts the explorer, `make test` runs every test.
# Both create the virtual environment in .venv and install the project into it when needed.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PORT ?= 5006
ADDRESS ?= 127.0.0.1

.PHONY: serve test lint bench demo clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e '.[test,notebooks]'
	$(BIN)/python -c "from estimators._kernel import warm_up; warm_up()"
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/panel serve app/serve.py --show --address $(ADDRESS) --port $(PORT) \
		--allow-websocket-origin $(ADDRESS):$(PORT) --allow-websocket-origin localhost:$(PORT)

demo: $(STAMP)
	$(BIN)/python -m estimators.demo

test: $(STAMP)
	$(BIN)/python -m ruff check app models estimators tests benchmarks
	$(BIN)/python -m pytest --nbmake tests notebooks

bench: $(STAMP)
	$(BIN)/python benchmarks/mixture_entropy.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
