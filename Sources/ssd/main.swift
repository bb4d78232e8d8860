print("ssd: not built yet")
