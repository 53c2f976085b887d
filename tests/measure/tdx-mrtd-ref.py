#!/usr/bin/env python3
"""A second, independent reading of the TDX module's MRTD rules (Intel TDX module ABI: TDH.MEM.PAGE.ADD,
TDH.MR.EXTEND) and the TDVF metadata (TDVF design guide), to check covirt's C against; and a builder of
small TDVF images whose sections exercise each attribute.

  tdx-mrtd-ref.py mrtd IMAGE single-pass|two-pass   → MRTD hex
  tdx-mrtd-ref.py build OUT                          → a 64 KiB image with a footer table and TDX metadata
"""
import hashlib
import struct
import sys
import uuid

FOOTER = uuid.UUID("96b582de-1fb2-45f7-baea-a366c55a082d").bytes_le
TDX_META = uuid.UUID("e47a6535-984a-4798-865e-4685a7bf8ec2").bytes_le


def table_entries(img):
    """GUID → payload, walking the footer table backwards from 32 bytes before the end"""
    end = len(img) - 32
    size, guid = struct.unpack_from("<H16s", img, end - 18)
    assert guid == FOOTER, "no footer table"
    entries, pos, left = {}, end - 18, size - 18
    while left >= 18:
        esize, eguid = struct.unpack_from("<H16s", img, pos - 18)
        entries[eguid] = img[pos - esize:pos - 18]
        pos, left = pos - esize, left - esize
    return entries


def mrtd(img, order):
    off = struct.unpack_from("<I", table_entries(img)[TDX_META])[0]
    base = len(img) - off
    sig, _, ver, n = struct.unpack_from("<4sIII", img, base)
    assert sig == b"TDVF" and ver == 1
    h = hashlib.sha384()
    for i in range(n):
        doff, raw, gpa, msize, _type, attr = struct.unpack_from("<IIQQII", img, base + 16 + 32 * i)
        data = img[doff:doff + raw] + bytes(msize - raw)

        def add(p):
            if not attr & 2:
                h.update(b"MEM.PAGE.ADD".ljust(16, b"\0") + struct.pack("<Q", gpa + p) + bytes(104))

        def extend(p):
            if attr & 1:
                for c in range(p, p + 4096, 256):
                    h.update(b"MR.EXTEND".ljust(16, b"\0") + struct.pack("<Q", gpa + c) + bytes(104))
                    h.update(data[c:c + 256])
        pages = range(0, msize, 4096)
        if order == "two-pass":
            for p in pages:
                add(p)
            for p in pages:
                extend(p)
        else:
            for p in pages:
                add(p)
                extend(p)
    return h.hexdigest()


def build(out):
    """64 KiB: 48 KiB of patterned "firmware" measured into a BFV section, a CFV whose raw data is shorter
    than its memory, a TD HOB added without data, a temporary memory section accepted later (PAGE.AUG)"""
    size = 64 * 1024
    img = bytearray((i * 7 + (i >> 8)) & 0xff for i in range(size))
    sections = [
        (0, 0xC000, 0xFFFF0000, 0xC000, 0, 1),        # BFV: MR.EXTEND
        (0xC000, 0x1800, 0x00800000, 0x2000, 1, 1),   # CFV: 6 KiB of data in 8 KiB
        (0, 0, 0x00809000, 0x1000, 2, 0),             # TD HOB: PAGE.ADD only
        (0, 0, 0x00900000, 0x4000, 3, 2),             # temporary memory: PAGE.AUG, not measured
    ]
    meta = struct.pack("<4sIII", b"TDVF", 16 + 32 * len(sections), 1, len(sections))
    meta += b"".join(struct.pack("<IIQQII", *s) for s in sections)
    meta_at = 0xE000
    img[meta_at:meta_at + len(meta)] = meta
    entry = struct.pack("<I", size - meta_at) + struct.pack("<H16s", 4 + 18, TDX_META)
    footer = struct.pack("<H16s", len(entry) + 18, FOOTER)
    tail = entry + footer
    img[size - 32 - len(tail):size - 32] = tail
    open(out, "wb").write(img)


if __name__ == "__main__":
    if sys.argv[1] == "mrtd":
        print(mrtd(open(sys.argv[2], "rb").read(), sys.argv[3]))
    else:
        build(sys.argv[2])
