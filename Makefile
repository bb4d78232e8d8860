# The two commands (see README.md):
#   make demo   — installs what is missing, builds release and runs the main job.
#   make test   — installs what is missing, builds and runs the whole test suite.
SHELL := /bin/bash
SWIFT ?= swift
BLAS_ENV = eval "$$(scripts/blas-env.sh)";

.PHONY: deps build release test demo bench fixtures fuzz sanitize chaos clean slurm-check validate-plan

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# Runs with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE exactly as the environment gives them.
# The benchmarks are a package of their own (Benchmarks/): built too, so none rots unnoticed.
# One test at a time (--no-parallel): many tests start real clusters whose deadlines are
# seconds; run side by side on 2 cores, the CPU-bound tests held both of Swift concurrency's
# shared threads for up to a minute and delayed the process tests' own timers (CI failed on
# it). Serial, the suite takes ≈ 6 min on 2 cores instead of ≈ 2.
test: deps
	$(SWIFT) build --build-tests && $(SWIFT) test --skip-build --no-parallel
	$(SWIFT) build --package-path Benchmarks

# The main job: synthetic data, SSD300 trained by 1 param-server + 2 workers (dist_sync), then the
# validation mAP per epoch, the loss/mAP curve (PYTHON with matplotlib) and predicted boxes.
demo: deps
	$(SWIFT) build -c release --product param-server
	$(SWIFT) build -c release --product worker
	$(SWIFT) build -c release --product ssd
	@$(BLAS_ENV) PYTHON=$(PYTHON) scripts/demo.sh

# deploy/slurm.sbatch on a single-node Slurm (slurm-wlm + munge) made and removed by the script.
slurm-check: deps
	@scripts/install-deps.sh slurm
	$(SWIFT) build -c release --product param-server
	$(SWIFT) build -c release --product worker
	$(SWIFT) build -c release --product ssd
	@scripts/slurm-check.sh .build/release

# `ssd plan` against real runs (Benchmarks/results/README.md): calibrates, then trains a few steps
# over loopback and network namespaces with 1 Gbit/s and 100 Mbit/s links (root for netns).
validate-plan: deps
	$(SWIFT) build -c release --product param-server
	$(SWIFT) build -c release --product worker
	$(SWIFT) build -c release --product ssd
	@scripts/validate-plan.sh

bench: deps
	cd Benchmarks && $(SWIFT) run -c release KernelBenchmarks --json results/kernels.json

# Fuzzing (not part of `make test`; CI runs its smoke test, FuzzTargetsTests): libFuzzer +
# AddressSanitizer build in .build-fuzz, FUZZ_RUNS (default 10^6) inputs per target; the targets
# in FUZZ_LOOP_TARGETS (default hyperparameters, too slow under ASan) run the seeded mutation loop.
fuzz: deps
	@scripts/fuzz.sh

# The whole test suite under AddressSanitizer, then ThreadSanitizer (not part of `make test`; slow):
# .build-asan and .build-tsan, suppressions in scripts/sanitizers/ (each entry says why).
sanitize: deps
	@scripts/sanitizers/run.sh
# Fault trials with real processes and chaos on real links (docs/reliability.md): the
# representative trials run in `make test` too; SSD_CHAOS=1 adds the longer matrix (dist_async,
# the server's and the scheduler's link down, 30% loss). The network trials need root.
chaos: deps
	$(SWIFT) build --build-tests && SSD_CHAOS=1 $(SWIFT) test --skip-build --no-parallel --filter 'FaultTrialTests|ChaosTests|ValidationFaultTests'

# Regenerates the golden fixtures (needs Python with scripts/fixtures/requirements.txt).
PYTHON ?= python3
fixtures:
	$(PYTHON) scripts/fixtures/make_tensor_kernels.py

clean:
	rm -rf .build .build-fuzz .build-asan .build-tsan Benchmarks/.build
