# Reads a Circle file's buffers through flatc's JSON (Kiln's schema) and the
# raw bytes, independently of Kiln's reader.
import json, struct, sys

model = json.load(open(sys.argv[1]))
data = open(sys.argv[2], "rb").read()
end = 0
previous = 0
for i, b in enumerate(model["buffers"]):
    if i == 0 or "offset" not in b:
        continue
    off, size = int(b["offset"]), int(b["size"])
    raw = data[off:off + size]
    kinds = {1: lambda r: "[" + ", ".join(repr(v) for v in struct.unpack("<4f", r)) + "]",
             2: lambda r: "[" + ", ".join("0x%02x" % v for v in r) + "]",
             3: lambda r: "[" + ", ".join(str(v) for v in struct.unpack("<2i", r)) + "]"}
    print("buffer", i, "external",
          "aligned" if off % 16 == 0 else "MISALIGNED",
          "in-order" if off >= previous and "data" not in b else "OVERLAPS",
          kinds[i](raw))
    previous = off + size
    end = max(end, off + size)
print("file ends at the last buffer:", end == len(data))
