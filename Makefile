# The two commands (see README.md):
#   make demo   — installs what is missing, builds release and runs the main job.
#   make test   — installs what is missing, builds and runs the whole test suite.
SHELL := /bin/bash
SWIFT ?= swift
BLAS_ENV = eval "$$(scripts/blas-env.sh)";

.PHONY: deps build release test demo bench fixtures clean

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

test: deps
	@$(BLAS_ENV) $(SWIFT) build --build-tests && $(SWIFT) test --skip-build

# Until the training loop lands (issue "Training"), the main job builds release and runs the
# kernel benchmark: conv GFLOP/s on SSD300's VGG16 shapes against bare sgemm.
demo: deps
	@$(BLAS_ENV) cd Benchmarks && $(SWIFT) build -c release --product KernelBenchmarks && \
		.build/release/KernelBenchmarks --batch 1 --batch 8 --repetitions 2

bench: deps
	@$(BLAS_ENV) cd Benchmarks && $(SWIFT) run -c release KernelBenchmarks --json results/kernels.json

# Regenerates the golden fixtures (needs Python with scripts/fixtures/requirements.txt).
PYTHON ?= python3
fixtures:
	$(PYTHON) scripts/fixtures/make_tensor_kernels.py

clean:
	rm -rf .build Benchmarks/.build
