#!/usr/bin/env python3
"""A second implementation of the SEV-SNP launch digest of an IGVM file, and a builder of IGVM files to test
covirt's (src/measure/igvm.c) against. Written from the IGVM specification (microsoft/igvm igvm_defs: fixed
header, variable headers, page data, parameter areas, VP context) and the SEV-SNP firmware ABI's PAGE_INFO.

  igvm-ref.py build OUT [--no-snp]   write an IGVM file with one directive of each kind
  igvm-ref.py measure FILE           print its SEV-SNP launch digest (hex)
  igvm-ref.py tamper FILE KIND OUT   FILE with one header made invalid (KIND: vmsa-gpa, data-offset,
                                     unknown-type, undeclared-area, vmsa-first), its checksum made right again
"""
import hashlib
import struct
import sys
import zlib

PAGE = 4096
SNP, NATIVE = 2, 0
VMSA_GPA = 0xFFFFFFFFF000
NORMAL, VMSA, ZERO, UNMEASURED, SECRETS, CPUID = 1, 2, 3, 4, 5, 6


def header(typ, body):
    # the length is the structure's own (20 for a VP context), the padding to 8 bytes follows it
    return struct.pack("<II", typ, len(body)) + body + b"\0" * (-len(body) % 8)


def build(out, snp=True):
    """Headers describe two platforms: SEV-SNP (mask 1) and native (mask 2); directives for native only
    must not reach the digest."""
    data = []          # (bytes) file data, placed after the headers
    hdrs = []

    def vh(typ, body):
        hdrs.append((typ, body))

    # platforms
    if snp:
        vh(0x1, struct.pack("<IBBHQ", 0x1, 0, SNP, 1, 0))
    vh(0x1, struct.pack("<IBBHQ", 0x2, 0, NATIVE, 1, 0))
    # initialization: a guest policy (skipped by the measurement)
    vh(0x101, struct.pack("<QII", 0x30000, 0x1, 0))
    # directives: a two-page parameter area, measured pages with data, a zero page, an unmeasured page,
    # secrets and CPUID pages, a 2 MiB zero page, a native-only page, the area inserted, a VP count
    # parameter, an optional header of an unknown type, then the VMSA
    vh(0x301, struct.pack("<QII", 2 * PAGE, 0, 0))
    for i in range(3):
        page = bytes((i * 7 + j) & 0xff for j in range(PAGE))
        data.append(page)
        vh(0x302, ("data", len(data) - 1, struct.pack("<QI", 0x100000 + i * PAGE, 0x1), struct.pack("<IHH", 0, NORMAL - 1, 0)))
    vh(0x302, struct.pack("<QIIIHH", 0x200000, 0x1, 0, 0, 0, 0))              # zero page (no data)
    vh(0x302, struct.pack("<QIIIHH", 0x201000, 0x1, 0, 0x2, 0, 0))            # unmeasured
    vh(0x302, struct.pack("<QIIIHH", 0x202000, 0x1, 0, 0, 1, 0))              # secrets
    vh(0x302, struct.pack("<QIIIHH", 0x203000, 0x1, 0, 0, 2, 0))              # CPUID
    vh(0x302, struct.pack("<QIIIHH", 0x400000, 0x1, 0, 0x1, 0, 0))            # 2 MiB of zeros
    vh(0x302, struct.pack("<QIIIHH", 0x800000, 0x2, 0, 0, 0, 0))              # native only
    vh(0x302, struct.pack("<QIIIHH", 0x801000, 0x1, 0, 0x4, 0, 0))            # shared: host memory
    vh(0x303, struct.pack("<QII", 0x300000, 0x1, 0))
    vh(0x307, struct.pack("<II", 0, 0))
    vh(0x80000399, b"ignored!")
    vmsa = bytearray(PAGE)
    struct.pack_into("<Q", vmsa, 0x158, 0x31)       # CR0, as KVM sets it
    struct.pack_into("<Q", vmsa, 0x178, 0xffffffff80001000)  # RIP
    struct.pack_into("<Q", vmsa, 0x3b0, 0x1)        # SEV_FEATURES
    data.append(bytes(vmsa))
    vh(0x304, ("data", len(data) - 1, struct.pack("<QI", VMSA_GPA, 0x1), struct.pack("<HH", 0, 0)))

    def encode(data_start):
        out = b""
        for typ, body in hdrs:
            if isinstance(body, tuple):
                _, idx, head, tail = body
                body = head + struct.pack("<I", data_start + idx * PAGE) + tail
            out += header(typ, body)
        return out

    vh_offset = 24
    vh_size = len(encode(0))
    data_start = vh_offset + vh_size
    data_start_aligned = (data_start + PAGE - 1) // PAGE * PAGE
    variable = encode(data_start_aligned)
    blob = b"".join(data)
    total = data_start_aligned + len(blob)
    fixed = struct.pack("<IIIIII", 0x4D564749, 1, vh_offset, vh_size, total, 0)
    crc = zlib.crc32(fixed + variable) & 0xffffffff
    fixed = fixed[:20] + struct.pack("<I", crc)
    with open(out, "wb") as f:
        f.write(fixed + variable + b"\0" * (data_start_aligned - data_start) + blob)


class Chain:
    def __init__(self):
        self.ld = b"\0" * 48

    def update(self, typ, gpa, contents=b"\0" * 48):
        info = self.ld + contents + struct.pack("<HBBBBBBQ", 0x70, typ, 0, 0, 0, 0, 0, gpa)
        self.ld = hashlib.sha384(info).digest()

    def page(self, typ, gpa, data=None):
        self.update(typ, gpa, hashlib.sha384(data).digest() if data is not None else b"\0" * 48)


def measure(path):
    raw = open(path, "rb").read()
    magic, version, vh_offset, vh_size, total, checksum = struct.unpack_from("<IIIIII", raw)
    assert magic == 0x4D564749 and version == 1 and total == len(raw)
    fixed = bytearray(raw[:24])
    fixed[20:24] = b"\0" * 4
    assert zlib.crc32(bytes(fixed) + raw[vh_offset:vh_offset + vh_size]) & 0xffffffff == checksum
    headers = []
    off = vh_offset
    while off < vh_offset + vh_size:
        typ, length = struct.unpack_from("<II", raw, off)
        headers.append((typ & 0x7fffffff, raw[off + 8:off + 8 + length]))
        off += 8 + (length + 7) // 8 * 8
    mask = next(struct.unpack_from("<I", b)[0] for t, b in headers if t == 1 and b[5] == SNP)
    chain = Chain()
    areas = {}
    vmsa = None
    for typ, b in headers:
        if typ == 0x301:
            size, index, _ = struct.unpack_from("<QII", b)
            areas[index] = size
        elif typ == 0x302:
            gpa, m, offset, flags, dtype, _ = struct.unpack_from("<QIIIHH", b)
            if not m & mask or flags & 4:
                continue
            n = 512 if flags & 1 else 1
            for i in range(n):
                g = gpa + i * PAGE
                if dtype == 0 and flags & 2:
                    chain.page(UNMEASURED, g)
                elif dtype == 0:
                    chain.page(NORMAL, g, raw[offset:offset + PAGE] if offset else b"\0" * PAGE)
                elif dtype == 1:
                    chain.page(SECRETS, g)
                else:
                    chain.page(CPUID, g)
        elif typ == 0x303:
            gpa, m, index = struct.unpack_from("<QII", b)
            if m & mask:
                for i in range(areas[index] // PAGE):
                    chain.page(UNMEASURED, gpa + i * PAGE)
        elif typ == 0x304:
            gpa, m, offset = struct.unpack_from("<QII", b)
            if m & mask:
                vmsa = raw[offset:offset + PAGE]
    chain.page(VMSA, VMSA_GPA, vmsa)
    return chain.ld.hex()


def tamper(path, kind, out):
    raw = bytearray(open(path, "rb").read())
    _, _, vh_offset, vh_size, _, _ = struct.unpack_from("<IIIIII", raw)
    off, first = vh_offset, {}
    while off < vh_offset + vh_size:
        typ, length = struct.unpack_from("<II", raw, off)
        first.setdefault(typ, off + 8)
        off += 8 + (length + 7) // 8 * 8
    if kind == "vmsa-gpa":
        struct.pack_into("<Q", raw, first[0x304], 0x1000)
    elif kind == "data-offset":
        struct.pack_into("<I", raw, first[0x302] + 12, len(raw) - 100)
    elif kind == "unknown-type":
        struct.pack_into("<I", raw, first[0x307] - 8, 0x399)
    elif kind == "undeclared-area":
        struct.pack_into("<I", raw, first[0x303] + 12, 7)
    elif kind == "vmsa-first":
        # the first page directive becomes a VP context: pages follow the VMSA, which KVM measures last
        struct.pack_into("<IIQIIHH", raw, first[0x302] - 8, 0x304, 20, VMSA_GPA, 1, 0, 0, 0)
        struct.pack_into("<I", raw, first[0x302] + 12, struct.unpack_from("<I", raw, first[0x304] + 12)[0])
    struct.pack_into("<I", raw, 20, 0)
    crc = zlib.crc32(bytes(raw[:24]) + bytes(raw[vh_offset:vh_offset + vh_size])) & 0xffffffff
    struct.pack_into("<I", raw, 20, crc)
    open(out, "wb").write(raw)


if __name__ == "__main__":
    if sys.argv[1] == "build":
        build(sys.argv[2], snp="--no-snp" not in sys.argv)
    elif sys.argv[1] == "tamper":
        tamper(*sys.argv[2:5])
    else:
        print(measure(sys.argv[2]))
