# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= config/imgserver.toml
PORT   ?= 8888

.PHONY: setup run test lint unit integration samples bench clean

# Idempotent: re-installs only when setup.cfg or pyproject.toml change.
setup: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

samples: setup
	@test -f samples/photos/doctor.jpg || $(BIN)/imgserver samples samples >/dev/null

run: setup samples
	@echo "Example URLs (sample images under ./samples):"
	@echo "  http://127.0.0.1:$(PORT)/unsafe/300x200/smart/photos/doctor.jpg"
	@echo "  http://127.0.0.1:$(PORT)/unsafe/fit-in/640x480/filters:format(webp)/photos/doctor.jpg"
	@echo "  http://127.0.0.1:$(PORT)/unsafe/-300x0/photos/clinic%20rotated.jpg"
	@echo "  http://127.0.0.1:$(PORT)/unsafe/200x200/filters:format(png)/logos/cross.png"
	@echo "  http://127.0.0.1:$(PORT)/unsafe/meta/300x200/smart/photos/doctor.jpg"
	@echo "  http://127.0.0.1:$(PORT)$$($(BIN)/imgserver sign --config $(CONFIG) 300x200/smart/photos/doctor.jpg)"
	$(BIN)/imgserver serve --config $(CONFIG) --port $(PORT)

lint: setup
	$(BIN)/ruff check imgserver tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

unit: setup
	$(BIN)/pytest tests/unit

integration: setup
	$(BIN)/pytest tests/integration

# Side-by-side with Thumbor 7.8 (installed into bench/.thumbor-venv); results in bench/results/.
bench: setup
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache test-artifacts
