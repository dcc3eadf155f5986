# trainer — MiniCPM-V-style multimodal training in Swift.
# Every target works on a fresh machine that has only the Swift toolchain.

SWIFT   ?= swift
CONFIG  ?= release
RECIPE  ?= Recipes/quickstart.yaml
PRESET  ?= tiny
THREADS ?= 2
TRAINER  = .build/$(CONFIG)/trainer
DEBS     = libopenblas-dev liblapacke-dev libhdf5-dev libzstd-dev libstb-dev libopenmpi-dev openmpi-bin
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian's OpenBLAS 0.3.21 mis-detects recent Xeons and falls back to slow
# kernels; the variable must be set before the process starts.
ifeq ($(shell grep -qw avx512f /proc/cpuinfo 2>/dev/null && echo yes),yes)
export OPENBLAS_CORETYPE ?= SkylakeX
endif
export TRAINER_REFERENCE_DIR ?= $(abspath ../shared/reference)

.PHONY: all setup deps build test parity fuzz run world chain results bench verify-gguf clean

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

# The suite runs on the kernel the environment sets: no start-up switch in the
# trainer processes it spawns (one test runs the self-check itself).
test parity fuzz: export TRAINER_BLAS_KERNEL = keep

test: deps
	$(SWIFT) build -c $(CONFIG) --build-tests
	$(SWIFT) test -c $(CONFIG) --skip-build

parity: deps
	$(SWIFT) build -c $(CONFIG) --build-tests
	$(SWIFT) test -c $(CONFIG) --skip-build --filter Parity

# Seeded mutation fuzzing of every parser of user files (recipe YAML, data records,
# tokenizer.json, images, safetensors, HDF5 checkpoints); `make test` runs 150 inputs each.
FUZZ_ITERATIONS ?= 5000
fuzz: deps
	$(SWIFT) build -c $(CONFIG) --build-tests
	@FUZZ_ITERATIONS=$(FUZZ_ITERATIONS) $(SWIFT) test -c $(CONFIG) --skip-build --filter FuzzTests > .build/fuzz.log 2>&1; \
	rc=$$?; grep -E '^fuzz |Executed .* tests|error' .build/fuzz.log; exit $$rc

run: build
	$(TRAINER) run $(RECIPE) --overwrite

# The generated world the chain trains on (4,096 shapes images, 512 documents)
# and the held-out world it is measured on (another seed); neither is committed.
# (regions.jsonl, its newest kind of file, marks a world of the current format.)
world: Data/world/regions.jsonl Data/world-eval/regions.jsonl
Data/world/regions.jsonl: | build
	$(TRAINER) data synth --out Data/world --count 4096 --seed 7
Data/world-eval/regions.jsonl: | build
	$(TRAINER) data synth --out Data/world-eval --count 200 --documents 60 --seed 2027

# The shipped chain: vision pre-training and a foundation phase (the tiny model has no pretrained parts),
# pretraining stages 1-3, SFT, RLAIF-V preference data and DPO, each phase from the previous checkpoint.
chain: build world
	scripts/chain.sh

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

# Optional, needs Python: exports CHECKPOINT as GGUF (F32, Q8_0, Q4_0 and the mmproj file),
# reads the files back with llama.cpp's `gguf` package (installed with pip when missing), and
# compares greedy tokens computed from the F32 file in numpy with `trainer generate`.
CHECKPOINT ?= Checkpoints/sft/latest.h5
GGUF_DIR   ?= Checkpoints/gguf
TOKENIZER  ?= Data/tokenizer.json
verify-gguf: build
	@python3 -c "import gguf" 2>/dev/null || python3 -m pip install -q gguf
	for t in f32 q8_0 q4_0; do $(TRAINER) export --checkpoint $(CHECKPOINT) --gguf $(GGUF_DIR) --type $$t || exit 1; done
	python3 scripts/verify_gguf.py $(GGUF_DIR)
	@if python3 -c "import tokenizers" 2>/dev/null; then \
	  python3 scripts/gguf_generate.py $(GGUF_DIR)/model-f32.gguf $(TOKENIZER) $(TRAINER) $(CHECKPOINT); \
	else echo "(Hugging Face tokenizers not installed: skipping scripts/gguf_generate.py)"; fi
	@if [ -n "$(LLAMA_SIMPLE)" ]; then \
	  python3 scripts/llamacpp_generate.py $(LLAMA_SIMPLE) $(GGUF_DIR)/model-f32.gguf $(TRAINER) $(CHECKPOINT); \
	else echo "(LLAMA_SIMPLE=path/to/llama.cpp/build/bin/llama-simple not given: skipping the comparison with llama.cpp)"; fi

clean:
	rm -rf .build
