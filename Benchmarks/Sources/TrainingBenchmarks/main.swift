print("TrainingBenchmarks: not written yet")
