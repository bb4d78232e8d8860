#!/usr/bin/env bash
# Prints the environment OpenBLAS should run with on this CPU, as `export` lines.
# Usage: eval "$(scripts/blas-env.sh)"
#
# Some machines force OPENBLAS_CORETYPE=Haswell (AVX2 kernels). On an AVX-512 CPU that halves
# sgemm speed, and OpenBLAS reads the variable only when it loads, so every launcher of this
# project starts its processes with this environment instead.
weak="Haswell Sandybridge Nehalem Core2 Prescott Atom Zen Barcelona Bulldozer Piledriver Steamroller Excavator"
if grep -q -m1 -w avx512f /proc/cpuinfo 2>/dev/null; then
    for c in $weak; do
        if [ "${OPENBLAS_CORETYPE:-}" = "$c" ]; then
            echo "# OPENBLAS_CORETYPE=$c is weaker than this AVX-512 CPU; using SkylakeX kernels" >&2
            echo "export OPENBLAS_CORETYPE=SkylakeX"
            exit 0
        fi
    done
fi
# Leave the caller's setting (or OpenBLAS's own detection) alone.
exit 0
