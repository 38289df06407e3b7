import uaf

uaf.use_after_free()
print("use_after_free: returned")
