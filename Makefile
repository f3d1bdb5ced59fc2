# lastmeter — the two commands that matter: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Reinstall whenever pyproject.toml changes.
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
BENCH_STAMP := $(VENV)/.bench-installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test test-unit test-integration lint bench chaos clean help

help:
	@echo "make run    start broker, PostgreSQL and the four services on embedded defaults"
	@echo "make test   run the whole test suite (creates .venv if needed)"
	@echo "make bench  measure throughput and latency beside their limits (QUICK=1 for a short run)"
	@echo "make chaos  kill services mid-stream and check nothing is lost or doubled"
	@echo "make lint   ruff"

$(STAMP):
	@$(PYTHON) -c 'import sys; sys.exit("lastmeter needs Python 3.11+") if sys.version_info < (3, 11) else None'
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "· installing lastmeter and its dependencies into $(VENV) (log: $(VENV)/install.log) …"
	@$(BIN)/python -m pip install -e '.[test]' > $(VENV)/install.log 2>&1 || (tail -30 $(VENV)/install.log; exit 1)
	@rm -f $(VENV)/.installed-*
	@touch $@

run: $(STAMP)
	@$(BIN)/lastmeter run

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check shared services tests bench

$(BENCH_STAMP): $(STAMP)
	@echo "· installing the bench extras (matplotlib for the chart) …"
	@$(BIN)/python -m pip install --quiet -e '.[test,bench]' >> $(VENV)/install.log 2>&1 || (tail -30 $(VENV)/install.log; exit 1)
	@rm -f $(VENV)/.bench-installed-*
	@touch $@

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench $(if $(QUICK),--quick,)

chaos: $(STAMP)
	$(BIN)/python -m bench.chaos

clean:
	rm -rf $(VENV) .lastmeter tests/artifacts
