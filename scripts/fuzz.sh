#!/usr/bin/env bash
# `make fuzz`: builds ssd-fuzz with libFuzzer + AddressSanitizer (in .build-fuzz, apart from the
# normal build) and runs every fuzz target for FUZZ_RUNS inputs, starting from the committed
# corpus in Fuzz/corpus/<target> (new inputs libFuzzer finds go to .build-fuzz/corpus/<target>,
# crashes to .build-fuzz/crashes/). Prints one line per target; exits non-zero on a crash.
# Targets in FUZZ_LOOP_TARGETS (default: hyperparameters, whose JSON decoding and two full
# validations per input run at ~225 inputs/s under libFuzzer + ASan: 10^6 would take over an
# hour) run the seeded mutation loop of the normal debug build instead (coverage-blind, no ASan).
# Without libFuzzer (e.g. a toolchain that lacks it) run the seeded mutation loop for all:
#   FUZZ_LOOP_TARGETS="wire recordio params annotation hyperparameters" make fuzz
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
RUNS=${FUZZ_RUNS:-1000000}
TARGETS=${FUZZ_TARGETS:-wire recordio params annotation hyperparameters}
LOOP_TARGETS=" ${FUZZ_LOOP_TARGETS-hyperparameters} "
mkdir -p .build-fuzz/crashes .build-fuzz/logs
status=0
binary=""
for t in $TARGETS; do
    log=".build-fuzz/logs/$t.log"
    if [[ "$LOOP_TARGETS" == *" $t "* ]]; then
        "$SWIFT" build --product ssd-fuzz
        loop_binary="$("$SWIFT" build --show-bin-path)/ssd-fuzz" corpus="$PWD/Fuzz/corpus/$t"
        start=$SECONDS
        # A crash leaves its input as crash-TARGET-SEED.bin in the working directory.
        if (cd .build-fuzz/crashes && "$loop_binary" "$t" --runs "$RUNS" --corpus "$corpus") >"$log" 2>&1; then
            echo "fuzz $t (seeded mutation loop): $(tail -1 "$log" | sed 's/^ssd-fuzz [a-z]*: //'), $((SECONDS - start)) s wall (log $log)"
        else
            status=1
            echo "fuzz $t (seeded mutation loop): CRASH — see $log and .build-fuzz/crashes/crash-$t-*.bin"
        fi
        continue
    fi
    if [[ -z "$binary" ]]; then
        "$SWIFT" build --scratch-path .build-fuzz --product ssd-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DLIBFUZZER
        binary="$("$SWIFT" build --scratch-path .build-fuzz --show-bin-path)/ssd-fuzz"
    fi
    mkdir -p ".build-fuzz/corpus/$t"
    start=$SECONDS
    # -timeout: an input that takes 10 s is a finding too; inputs up to 16 KiB.
    # Swift's backtracer off: libFuzzer reports the crash and writes the input itself.
    # No allocation stacks in ASan (malloc_context_size=0): Swift allocates on almost every
    # string and array operation, and recording each stack halved the hyperparameter
    # target's speed; a report still shows the faulting stack.
    if ASAN_OPTIONS=${ASAN_OPTIONS:-malloc_context_size=0} SWIFT_BACKTRACE=enable=no SSD_FUZZ_TARGET="$t" "$binary" -runs="$RUNS" -max_len=16384 -timeout=10 -print_final_stats=1 \
        -artifact_prefix=".build-fuzz/crashes/$t-" ".build-fuzz/corpus/$t" "Fuzz/corpus/$t" >"$log" 2>&1; then
        done_line=$(grep -E '^Done [0-9]+ runs' "$log" | tail -1)
        cov=$(grep -E 'cov: [0-9]+' -o "$log" | tail -1)
        echo "fuzz $t (libFuzzer + ASan): ${done_line#Done }, $cov, 0 crashes, $((SECONDS - start)) s wall (log $log)"
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
