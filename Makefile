# Continuity Watch: the two commands that matter are `make up` and `make test`.
PYTHON ?= python3
PYTEST_ARGS ?=
SOURCES := pipeline connectors tests

.PHONY: help install up down status test lint unit integration bench dashboards

help:
	@echo "make up      install what is missing, start Kafka/Prometheus/InfluxDB, run the demo"
	@echo "make down    stop the demo and the stack"
	@echo "make status  say which server is up and which is down"
	@echo "make test    install what is missing, start the stack if needed, lint and run all tests"
	@echo "make bench   throughput, latency, state size and scale-out against a same-run ceiling"
	@echo "make dashboards  regenerate dashboards/json from pipeline/dashboards (committed)"

install:
	bash deploy/local/install-system.sh
	bash deploy/local/stack.sh install

up: install
	$(PYTHON) -m pipeline.cli up --demo

down:
	$(PYTHON) -m pipeline.cli down

status:
	$(PYTHON) -m pipeline.cli status

lint:
	$(PYTHON) -m ruff check $(SOURCES)
	$(PYTHON) -m ruff format --check $(SOURCES)
	$(PYTHON) -m mypy

unit:
	$(PYTHON) -m pytest -m "not integration" --doctest-modules pipeline connectors tests $(PYTEST_ARGS)

integration:
	bash deploy/local/stack.sh up
	$(PYTHON) -m pytest -m integration tests $(PYTEST_ARGS)

test: install lint
	bash deploy/local/stack.sh up
	$(PYTHON) -m pytest --doctest-modules pipeline connectors tests $(PYTEST_ARGS)

bench:
	bash deploy/local/stack.sh up
	$(PYTHON) -m pipeline.cli bench run $(BENCH_ARGS)

dashboards:
	$(PYTHON) -m pipeline.cli dashboards

.PHONY: chaos
chaos:  ## fault injection (kill -9, InfluxDB down, poison records); see docs/reliability.md
	bash deploy/local/stack.sh up
	$(PYTHON) -m pipeline.cli bench chaos $(CHAOS_ARGS)
