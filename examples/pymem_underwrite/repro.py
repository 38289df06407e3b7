import underwrite

assert underwrite.fill(10) == 45
print("pymem_underwrite: fill() returned")
