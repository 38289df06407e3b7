import oob

oob.overflow()
print("oob_write: overflow() returned")
