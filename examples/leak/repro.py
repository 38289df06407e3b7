import leak

for _ in range(10):
    leak.leaky_function()
print("leak: called leaky_function 10 times")
