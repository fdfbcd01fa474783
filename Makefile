# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= config/imgserver.toml
PORT   ?= 8888

.PHONY: setup run test lint unit integration browser browser-setup deploy-check lambda-package samples bench stages clean

# Idempotent: re-installs only when setup.cfg or pyproject.toml change.
setup: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

samples: setup
	@test -f data/originals/photos/doctor.jpg || $(BIN)/imgserver samples data/originals >/dev/null

run: setup samples
	@echo "Example URLs (sample images under ./data/originals; upload token: local-upload-token):"
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

# Debian's chromium for the browser tests (installed once per machine; never a downloaded browser).
browser-setup:
	@sh .ci/browser-setup

test: lint browser-setup
	$(BIN)/pytest

unit: setup
	$(BIN)/pytest tests/unit

integration: setup
	$(BIN)/pytest tests/integration

# cfn-lint, the SAM CLI (its own virtualenv, cached in .tools/sam-venv) and the security
# assertions on deploy/, plus the Dockerfile checks. Part of `make test` too.
deploy-check: setup
	$(BIN)/pytest tests/deploy

# The code for deploy/sam/template.yaml: imgserver and its dependencies installed for the
# Lambda python3.12 runtime (Amazon Linux 2023, glibc 2.34) into build/lambda. Wheels that
# exist only as sdists here (imgserver itself, pyvips) are built first; the rest must be binary
# wheels for the target: manylinux 2.17 to 2.34 (pip does not widen a --platform to older
# glibc tags itself; pyvips-binary is 2.28). LAMBDA_ARCH=arm64 for Graviton functions.
LAMBDA_ARCH   ?= x86_64
LAMBDA_PYTHON ?= 3.12
LAMBDA_DIR    ?= build/lambda
LAMBDA_CPU       = $(if $(filter arm64,$(LAMBDA_ARCH)),aarch64,x86_64)
LAMBDA_PLATFORMS = manylinux2014_$(LAMBDA_CPU) $(foreach v,$(shell seq 17 34),manylinux_2_$(v)_$(LAMBDA_CPU))
lambda-package: setup
	rm -rf $(LAMBDA_DIR) $(LAMBDA_DIR)-wheels
	$(BIN)/python -m pip wheel --quiet -w $(LAMBDA_DIR)-wheels .
	$(BIN)/python -m pip install --quiet --target $(LAMBDA_DIR) --find-links $(LAMBDA_DIR)-wheels \
		$(addprefix --platform ,$(LAMBDA_PLATFORMS)) --implementation cp --python-version $(LAMBDA_PYTHON) \
		--only-binary=:all: $(LAMBDA_DIR)-wheels/imgserver-*.whl
	@echo "$(LAMBDA_DIR) ready for Lambda $(LAMBDA_ARCH), CPython $(LAMBDA_PYTHON); next: sam deploy (docs/deploy.md)"

browser: setup browser-setup
	$(BIN)/pytest tests/browser

# Side-by-side with Thumbor 7.8 (installed into bench/.thumbor-venv); results in bench/results/.
bench: export BENCH_T0 := $(shell date +%s)
bench: setup
	$(BIN)/python bench/run.py $(BENCH_ARGS)

stages: setup
	$(BIN)/python bench/stages.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache test-artifacts
