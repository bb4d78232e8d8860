print("param-server: not built yet")
