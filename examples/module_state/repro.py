import zlib

import modstate

for data in (b"", b"a", b"hello world" * 100, bytes(range(256)) * 8):
    assert modstate.checksum(data) == zlib.crc32(data) & 0xFFFFFFFF, data[:16]
    assert 0 < modstate.compressed_size(data) <= len(data) + 64, data[:16]
assert modstate.names["name7"] == (7, "value-7-of-the-table")
assert issubclass(modstate.Error, Exception)
print("module_state: ok")
