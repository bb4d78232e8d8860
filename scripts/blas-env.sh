#!/usr/bin/env bash
# Prints nothing: kept only for launchers that still `eval "$(scripts/blas-env.sh)"`.
#
# Which OpenBLAS kernels run is decided by the executables themselves at start-up, by one rule
# in one place (Sources/Tensor/BLAS/BLASKernelChoice.swift): when OpenBLAS's choice is weaker
# than the CPU, the candidate family is self-checked in a child process and, if it passes, the
# process restarts on it. A shell list of "weak cores" here would be a second rule.
exit 0
