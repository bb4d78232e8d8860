#!/usr/bin/env bash
# `make sanitize` (not part of `make test`): the whole test suite built and run under
# AddressSanitizer (+ LeakSanitizer) in .build-asan, then under ThreadSanitizer in .build-tsan.
# The executables the tests start (worker, param-server, ssd) come from the same build, so they
# run instrumented too and inherit the options below. Each run's log goes to
# .build-<sanitizer>/sanitize.log; the script prints the test counts and the number of
# sanitizer reports, and exits non-zero when a test failed or a report was printed.
#   SANITIZERS="address thread" (default) chooses the runs;
#   SSD_TEST_DEADLINE_SCALE (default 10 under ThreadSanitizer, 1 under AddressSanitizer)
#   lengthens the tests' deadlines on real processes (TestSupport/DeadlineScale.swift).
# Suppressions, each with the reason it is not a bug of this project: lsan.supp, tsan.supp.
set -uo pipefail
cd "$(dirname "$0")/../.."
SWIFT=${SWIFT:-swift}
here="$PWD/scripts/sanitizers"
status=0
for sanitizer in ${SANITIZERS:-address thread}; do
    case $sanitizer in
        address) scratch=.build-asan; report='ERROR: (AddressSanitizer|LeakSanitizer)'; scale=${SSD_TEST_DEADLINE_SCALE:-1} ;;
        thread) scratch=.build-tsan; report='WARNING: ThreadSanitizer'; scale=${SSD_TEST_DEADLINE_SCALE:-10} ;;
        *) echo "sanitize: unknown sanitizer '$sanitizer' (address or thread)" >&2; exit 2 ;;
    esac
    log="$scratch/sanitize.log"
    start=$SECONDS
    if ! "$SWIFT" build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch"; then
        echo "sanitize $sanitizer: the build failed" >&2; status=1; continue
    fi
    built=$SECONDS
    # Swift's backtracer off: the sanitizer prints the report with its stacks.
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
    LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$here/lsan.supp:print_suppressions=0} \
    TSAN_OPTIONS=${TSAN_OPTIONS:-suppressions=$here/tsan.supp:print_suppressions=0} \
    SWIFT_BACKTRACE=enable=no SSD_TEST_DEADLINE_SCALE=$scale \
        "$SWIFT" test --skip-build --sanitize="$sanitizer" --scratch-path "$scratch" >"$log" 2>&1
    rc=$?
    reports=$(grep -cE "$report" "$log")
    counts=$(grep -E '^(Test run with|Executed) ' "$log" | tr '\n' ' ')
    echo "sanitize $sanitizer: build $((built - start)) s, tests $((SECONDS - built)) s, exit $rc, $reports report(s); $counts(log $log)"
    if [ "$rc" -ne 0 ] || [ "$reports" -ne 0 ]; then status=1; fi
done
exit $status
