# Checks kiln-convert's "weights:" summary line against the file: the bytes
# of every constant buffer once (from kiln-translate --circle-dump), by the
# kind of the tensors that use it, and the file size.
#   stored_bytes.py SUMMARY DUMP FILE
import os
import re
import sys
from math import prod

summary, dump, path = (open(sys.argv[1]).read(), open(sys.argv[2]).read(), sys.argv[3])
line = re.search(r"^weights: (.*) \((\d+)B in (\d+) buffers for (\d+) tensors; file (\d+)B\)$",
                 summary, re.M)
claimed = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)B", line.group(1))}
total, nbuffers, ntensors, file_bytes = map(int, line.groups()[1:])

sizes = {int(b): int(n) for b, n in re.findall(r"buffer #(\d+) (?:inline|external) (\d+) bytes", dump)}
metadata = {int(b) for b in re.findall(r'metadata "[^"]*" buffer (\d+)', dump)}
plain = {"FLOAT32": "f32", "FLOAT16": "f16", "BOOL": "i1", "INT32": "i32", "INT64": "i64",
         "INT16": "i16", "INT8": "i8", "UINT8": "ui8"}
kinds, uses, errors = {}, 0, []
for name, ttype, shape, buf, rest in re.findall(
        r'tensor #\d+ "([^"]*)" (\w+) \[([^\]]*)\] buffer (\d+)(.*)', dump):
    buf, uses = int(buf), uses + 1
    quantized = "quant scale" in rest
    kind = ttype.lower() if quantized else plain.get(ttype, ttype.lower())
    if kinds.setdefault(buf, kind) != kind:
        errors.append("buffer %d used as %s and %s" % (buf, kinds[buf], kind))
    count = prod(int(d) for d in shape.split(",")) if shape.strip() else 1
    if ttype in ("INT4", "UINT4") and sizes[buf] != (count + 1) // 2:
        errors.append("%s: %d 4-bit values in %d bytes" % (name, count, sizes[buf]))
stored = {}
for buf, kind in kinds.items():
    stored[kind] = stored.get(kind, 0) + sizes[buf]
constant_buffers = [b for b in sizes if b != 0 and b not in metadata]
if stored != claimed:
    errors.append("summary %s, file %s" % (claimed, stored))
if total != sum(sizes[b] for b in constant_buffers) or nbuffers != len(constant_buffers):
    errors.append("summary %dB in %d buffers, file %dB in %d" % (
        total, nbuffers, sum(sizes[b] for b in constant_buffers), len(constant_buffers)))
if ntensors != uses:
    errors.append("summary %d tensors, dump %d" % (ntensors, uses))
if file_bytes != os.path.getsize(path):
    errors.append("summary file %dB, on disk %dB" % (file_bytes, os.path.getsize(path)))
print("\n".join(errors) if errors else
      "stored bytes match: %dB in %d buffers (%s)" % (total, nbuffers, " ".join(
          "%s=%d" % kv for kv in sorted(stored.items()))))
sys.exit(1 if errors else 0)
