print("LoaderBenchmarks: not written yet")
