"""An independent reader of a qos::wal directory (the on-disk format of
docs/ARCHITECTURE.md, "Byte layout"): lists every record whose header and
payload checksums are valid, in every segment present. The soak uses it right
after a SIGKILL, before tremor restarts: a record found here is durable (it
survived the process), so the event in it is owed to the sink.

It is not tremor's recovery: it never repairs, truncates or writes anything,
and it does not look at the checkpoint (a record at or below the frontier was
acknowledged, hence already delivered; it is owed all the same).
"""
import os
import re
import struct

SEG_MAGIC = b"TRWALSEG"
SEG_HEADER = 32
FRAME_HEADER = 16
MARKER_BIT = 1 << 31
MAX_RECORD = 256 << 20


def _table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_T = _table()


def crc32c(data):
    c = 0xFFFFFFFF
    t = _T
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def segment_records(path):
    """Yield (seq, payload) of every checksummed record of one segment file.
    A bad header CRC ends the scan of that file (a torn tail, or damage that
    recovery would quarantine); a bad payload CRC skips the record by its
    checked length."""
    with open(path, "rb") as f:
        data = f.read()
    off = SEG_HEADER
    while off + FRAME_HEADER <= len(data):
        head = data[off:off + 12]
        (hcrc,) = struct.unpack_from("<I", data, off + 12)
        if crc32c(head) != hcrc:
            return
        n, seq = struct.unpack_from("<IQ", data, off)
        marker = bool(n & MARKER_BIT)
        n &= ~MARKER_BIT
        if n > MAX_RECORD or off + FRAME_HEADER + n + 4 > len(data):
            return
        payload = data[off + FRAME_HEADER:off + FRAME_HEADER + n]
        (pcrc,) = struct.unpack_from("<I", data, off + FRAME_HEADER + n)
        if not marker and crc32c(payload) == pcrc:
            yield seq, payload
        off += FRAME_HEADER + n + 4


def segments(wal_dir):
    if not os.path.isdir(wal_dir):
        return []
    return sorted(os.path.join(wal_dir, n) for n in os.listdir(wal_dir)
                  if re.fullmatch(r"\d{20}\.wal", n))


def scan_ids(wal_dir, tag_re):
    """Every id captured by tag_re (bytes regex, one group) in a valid record
    of wal_dir. The soak's events carry a unique tag string, which the
    lossless value encoding stores verbatim, so no value decoder is needed."""
    ids = set()
    records = 0
    for seg in segments(wal_dir):
        for _, payload in segment_records(seg):
            records += 1
            m = tag_re.search(payload)
            if m:
                ids.add(int(m.group(1)))
    return ids, records
