# trainer — MiniCPM-V-style multimodal training in Swift.
# Every target works on a fresh machine that has only the Swift toolchain.

SWIFT   ?= swift
CONFIG  ?= release
RECIPE  ?= Recipes/stage1.yaml
PRESET  ?= tiny
THREADS ?= 2
TRAINER  = .build/$(CONFIG)/trainer
DEBS     = libopenblas-dev liblapacke-dev libhdf5-dev libzstd-dev libstb-dev
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian's OpenBLAS 0.3.21 mis-detects recent Xeons and falls back to slow
# kernels; the variable must be set before the process starts.
ifeq ($(shell grep -qw avx512f /proc/cpuinfo 2>/dev/null && echo yes),yes)
export OPENBLAS_CORETYPE ?= SkylakeX
endif
export TRAINER_REFERENCE_DIR ?= $(abspath ../shared/reference)

.PHONY: all setup deps build test parity run chain results bench clean

all: build

deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build -c $(CONFIG) --product trainer

setup: build

test: deps
	$(SWIFT) build -c $(CONFIG) --build-tests
	$(SWIFT) test -c $(CONFIG) --skip-build

parity: deps
	$(SWIFT) build -c $(CONFIG) --build-tests
	$(SWIFT) test -c $(CONFIG) --skip-build --filter Parity

run: build
	$(TRAINER) run $(RECIPE)

# The shipped chain: pretraining stages 1-3, SFT, DPO (each starts from the previous checkpoint).
CHAIN = stage1 stage2 stage3 sft dpo
chain: build
	@start=$$(date +%s); for r in $(CHAIN); do $(TRAINER) run Recipes/$$r.yaml || exit 1; done; \
	echo "chain finished in $$(( $$(date +%s) - start )) s"

# The chain, then `trainer eval` after every phase; rewrites the README's results table.
results: chain
	TRAINER=$(TRAINER) scripts/results.sh

# The engine's matmul against raw sgemm, then a full training step at PRESET;
# with PyTorch and transformers installed, the same step in PyTorch and the ratio.
bench: build
	$(TRAINER) bench --matmul --threads $(THREADS)
	$(TRAINER) bench --preset $(PRESET) --threads $(THREADS) | tee /tmp/trainer-bench.txt
	@if python3 -c "import torch, transformers" 2>/dev/null; then \
	  python3 bench/torch_reference.py --preset $(PRESET) --threads $(THREADS) | tee /tmp/torch-bench.txt; \
	  python3 -c "import json; a=json.loads(open('/tmp/trainer-bench.txt').read().strip().splitlines()[-1]); \
	b=json.loads(open('/tmp/torch-bench.txt').read().strip().splitlines()[-1]); \
	print('tokens/s: trainer %.0f, PyTorch %.0f, ratio %.2fx; peak RSS %.0f vs %.0f MB' % (a['tokens_per_s'], b['tokens_per_s'], a['tokens_per_s']/b['tokens_per_s'], a['peak_rss_mb'], b['peak_rss_mb']))"; \
	else echo "(PyTorch not installed: skipping bench/torch_reference.py)"; fi

clean:
	rm -rf .build
