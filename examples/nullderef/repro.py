import crash


def lookup_all(keys):
    return [crash.get_value(k) for k in keys]


print("nullderef:", lookup_all(["a", "b"]))
print("nullderef:", lookup_all(["a", "missing"]))
