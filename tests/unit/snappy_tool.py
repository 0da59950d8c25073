"""snappy_tool.py c|d IN OUT - the snappy framing format through python-snappy
(Debian's python3-snappy), the independent peer of test_proc_zip.c.

Debian 12's build of its C CRC32C helper fails on Python 3.11
(PY_SSIZE_T_CLEAN), so the checksum is computed here from the polynomial;
the framing code is python-snappy's own."""
import sys

import snappy
import snappy.snappy as impl

_TABLE = []
for n in range(256):
    c = n
    for _ in range(8):
        c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
    _TABLE.append(c)


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


impl._crc32c = crc32c

with open(sys.argv[2], "rb") as src, open(sys.argv[3], "wb") as dst:
    if sys.argv[1] == "c":
        snappy.stream_compress(src, dst)
    else:
        snappy.stream_decompress(src, dst)
