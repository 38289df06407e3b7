import svc

conn = svc.connect("ldap://example.org")


def lookup(i):
    return svc.search(conn, 1000 + i)


for i in range(10):
    assert lookup(i)[0][0] == 1000 + i
print("svc: 10 searches")
