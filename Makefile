# Two commands do all set-up on a fresh machine with Python 3.11:
#   make demo   install into .venv, then run the main job on the built-in dataset
#   make test   install into .venv (with test tools), then run the test suite
#
# Installs take the exact versions in constraints.txt, the ones the tests pass with.
#   make test CONSTRAINTS=                 newest releases pyproject.toml allows instead
#   make test TORCH_INDEX=https://download.pytorch.org/whl/cpu
#                                          torch's CPU build (~0.7 GB instead of a 5.5 GB CUDA build)
PYTHON      ?= $(shell command -v python3.11 || command -v python3)
VENV        ?= .venv
CONSTRAINTS ?= constraints.txt
TORCH_INDEX ?=
BIN         := $(VENV)/bin
STAMP       := $(VENV)/.autoprune-installed
PIN         := $(if $(CONSTRAINTS),-c $(CONSTRAINTS))

.PHONY: demo test test-all benchmarks gpu-check install clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip $(PIN)
	$(if $(TORCH_INDEX),$(BIN)/python -m pip install -q $(PIN) --index-url $(TORCH_INDEX) torch torchvision)
	$(BIN)/python -m pip install -q $(PIN) -e '.[dev,onnx,ray]'
	echo "constraints: $(or $(CONSTRAINTS),none)" > $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/autoprune search --tracker siamrpn --budget-mflops 50

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

test-all: $(STAMP)
	$(BIN)/python -m pytest -q

benchmarks: $(STAMP)
	$(BIN)/python -m benchmarks

gpu-check: $(STAMP)
	$(BIN)/python -m benchmarks gpu

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
