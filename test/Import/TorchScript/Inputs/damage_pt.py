"""Writes a damaged copy of a TorchScript archive.

usage: damage_pt.py MODE IN.pt OUT.pt

MODE: short-record (the largest tensor record one float short), empty-record,
debug-index (a debug pickle whose first source names a string-table entry
that does not exist), debug-truncated, pickle-length (a data.pkl string
length of 0xFFFFFFF0), memo (a LONG_BINPUT index of 2^31), stack (a TUPLE3
on an almost empty stack), central-directory (its offset moved past the end),
weight-bit, bit-in-debug (one bit of the largest tensor record / of a debug
pickle flipped in place: the zip stays valid, the entry's CRC-32 does not
match).
"""
import io
import struct
import sys
import zipfile


def entries(path):
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i.filename), i.compress_type) for i in z.infolist()]


def rezip(items, out):
    with zipfile.ZipFile(out, "w") as z:
        for name, data, method in items:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            z.writestr(info, data)


def main():
    mode, src, out = sys.argv[1:]
    items = entries(src)
    find = lambda pred: next(k for k, e in enumerate(items) if pred(e[0]))
    if mode in ("weight-bit", "bit-in-debug"):
        raw = bytearray(open(src, "rb").read())
        with zipfile.ZipFile(src) as z:
            infos = z.infolist()
            if mode == "weight-bit":
                info = max((i for i in infos if "/data/" in i.filename), key=lambda i: i.file_size)
            else:
                info = next(i for i in infos if i.filename.endswith(".debug_pkl"))
        n, e = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
        raw[info.header_offset + 30 + n + e + info.compress_size // 2] ^= 0x10
        open(out, "wb").write(raw)
        return
    if mode in ("short-record", "empty-record"):
        k = max((k for k, e in enumerate(items) if "/data/" in e[0]), key=lambda k: len(items[k][1]))
        name, data, method = items[k]
        items[k] = (name, data[:-4] if mode == "short-record" else b"", method)
    elif mode.startswith("debug"):
        k = find(lambda n: n.endswith(".debug_pkl"))
        name, data, method = items[k]
        if mode == "debug-truncated":
            data = data[: len(data) // 2]
        else:
            # The first source tuple's file index (BININT1 after the first
            # build_intlist REDUCE): 250 is past the string table.
            at = data.index(b"R", data.index(b"build_intlist")) + 1
            assert data[at:at + 1] == b"K", data[at:at + 2]
            data = data[:at + 1] + bytes([250]) + data[at + 2:]
        items[k] = (name, data, method)
    elif mode in ("pickle-length", "memo", "stack"):
        k = find(lambda n: n.endswith("/data.pkl"))
        name, data, method = items[k]
        if mode == "pickle-length":
            at = data.index(b"X")
            data = data[:at + 1] + struct.pack("<I", 0xFFFFFFF0) + data[at + 5:]
        elif mode == "memo":
            at = data.index(b"q")  # BINPUT 0 -> LONG_BINPUT 2^31
            data = data[:at] + b"r" + struct.pack("<I", 1 << 31) + data[at + 2:]
        else:
            at = data.index(b"\x81")  # NEWOBJ -> TUPLE3
            data = data[:at] + b"\x87" + data[at + 1:]
        items[k] = (name, data, method)
    elif mode == "central-directory":
        raw = bytearray(open(src, "rb").read())
        at = raw.rindex(b"PK\x05\x06")
        raw[at + 16:at + 20] = struct.pack("<I", len(raw) + 1000)
        open(out, "wb").write(raw)
        return
    else:
        sys.exit("unknown mode " + mode)
    rezip(items, out)


if __name__ == "__main__":
    main()
