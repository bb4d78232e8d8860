print("ParameterServerBenchmarks: not written yet")
