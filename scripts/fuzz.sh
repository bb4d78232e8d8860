#!/usr/bin/env bash
# `make fuzz`: builds ssd-fuzz with libFuzzer + AddressSanitizer (in .build-fuzz, apart from the
# normal build) and runs every fuzz target for FUZZ_RUNS inputs, starting from the committed
# corpus in Fuzz/corpus/<target> (new inputs libFuzzer finds go to .build-fuzz/corpus/<target>,
# crashes to .build-fuzz/crashes/). Prints one line per target; exits non-zero on a crash.
# Without libFuzzer (e.g. a toolchain that lacks it) run the seeded mutation loop instead:
#   swift run ssd-fuzz <target> --runs 1000000
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
RUNS=${FUZZ_RUNS:-1000000}
TARGETS=${FUZZ_TARGETS:-wire recordio params annotation hyperparameters}
"$SWIFT" build --scratch-path .build-fuzz --product ssd-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DLIBFUZZER
binary="$("$SWIFT" build --scratch-path .build-fuzz --show-bin-path)/ssd-fuzz"
mkdir -p .build-fuzz/crashes .build-fuzz/logs
status=0
for t in $TARGETS; do
    mkdir -p ".build-fuzz/corpus/$t"
    log=".build-fuzz/logs/$t.log"
    # -timeout: an input that takes 10 s is a finding too; inputs up to 16 KiB.
    # Swift's backtracer off: libFuzzer reports the crash and writes the input itself.
    # No allocation stacks in ASan (malloc_context_size=0): Swift allocates on almost every
    # string and array operation, and recording each stack halved the hyperparameter
    # target's speed; a report still shows the faulting stack.
    if ASAN_OPTIONS=${ASAN_OPTIONS:-malloc_context_size=0} SWIFT_BACKTRACE=enable=no SSD_FUZZ_TARGET="$t" "$binary" -runs="$RUNS" -max_len=16384 -timeout=10 -print_final_stats=1 \
        -artifact_prefix=".build-fuzz/crashes/$t-" ".build-fuzz/corpus/$t" "Fuzz/corpus/$t" >"$log" 2>&1; then
        done_line=$(grep -E '^Done [0-9]+ runs' "$log" | tail -1)
        cov=$(grep -E 'cov: [0-9]+' -o "$log" | tail -1)
        echo "fuzz $t: ${done_line#Done }, $cov, 0 crashes (log $log)"
    elif ! compgen -G ".build-fuzz/crashes/$t-*" >/dev/null; then
        status=1
        echo "fuzz $t: stopped before $RUNS inputs without a crash: $(grep -E 'number_of_executed_units' "$log" || true) (log $log)"
    else
        status=1
        echo "fuzz $t: CRASH — see $log and .build-fuzz/crashes/$t-*"
        grep -E 'ERROR|Fatal error|SUMMARY' "$log" | head -5 || true
    fi
done
exit $status
