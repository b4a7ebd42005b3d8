# The documented way to do everything. `make demo` runs the pipeline; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install jars cds demo notebook test test-fast unit lint bench docker-check compose-test clean

install: $(STAMP) jars cds

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11+ is needed)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

jars: $(STAMP)
	@command -v java >/dev/null || { echo "error: java not found (Java 17+ is needed)"; exit 1; }
	$(BIN)/python -m telecom_billing.infra.jars all

# The driver JVM's class-data-sharing archive (src/telecom_billing/infra/cds.py): made once.
cds: jars
	$(BIN)/python -m telecom_billing.cds_training

demo: install
	$(BIN)/telecom demo

# notebooks/tour.ipynb in JupyterLab (installed once, the `notebook` extra); run `make demo` first.
notebook: install
	$(BIN)/pip install --quiet -e '.[dev,notebook]'
	$(BIN)/jupyter lab notebooks/tour.ipynb

test: install
	$(BIN)/pytest

# The inner loop: the rules, the reference, the generator and every Spark stage on a handful of rows;
# local Spark, no broker, no Docker.
test-fast: install
	$(BIN)/pytest tests/unit tests/stages

unit: install
	$(BIN)/pytest tests/unit

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/run.py

docker-check: install
	bash scripts/docker-check.sh

# `docker compose up` for real (docs/docker.md): starts a Docker engine and gets Compose if needed,
# builds the images and checks the stack end to end. Root is needed to install/start the engine.
compose-test: install
	bash scripts/compose-test.sh

clean:
	rm -rf build output .local/checkpoints .local/broker
