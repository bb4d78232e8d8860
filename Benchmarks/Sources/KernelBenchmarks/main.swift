print("KernelBenchmarks: not written yet")
