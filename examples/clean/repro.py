import clean

for n in (0, 1, 10, 1000):
    total, items = clean.checksum(n)
    assert total == 3 * n * (n - 1) // 2 and items == [], (n, total, items)
print("clean: ok")
