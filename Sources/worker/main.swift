print("worker: not built yet")
