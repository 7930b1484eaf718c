"""Checks an imported .mlir against the TorchScript module it came from.

usage: check_import.py model.pt plain.mlir located.mlir
                       [--reference scripted.located.mlir --prefix layer.]

plain.mlir is kiln-import's normal output (it has the weight blobs);
located.mlir is the same import printed with --mlir-print-debuginfo
--mlir-print-local-scope, so that every op carries its location inline.
Independently of the importer, this reads the module with torch and checks:

  * every kiln.fake_quant / kiln.fake_quant_per_axis op: its name location is
    the module path of a FakeQuant whose scale, zero point, axis and range
    (read from the torch module) are exactly the op's;
  * every enabled FakeQuant of the module is in the IR, and nothing else;
  * every dense_resource weight: its blob key is a parameter/buffer name with
    the same shape and the same bytes;
  * locations: the Python source line of linear/matmul/softmax/fake-quant/...
    ops contains that operation.

A traced module keeps no per-tensor quantizer attributes (tracing bakes them
into the graph). For it, --reference gives the located import of the scripted
module made from the same seed (itself checked against torch), whose
quantizer paths are the traced ones without --prefix.

Prints one summary line; exits 1 with a message on the first mismatch.
"""
import re
import sys

import torch

OP_SOURCE_WORDS = {
    "kiln.fake_quant": "fake_quantize_per_tensor_affine",
    "kiln.fake_quant_per_axis": "fake_quantize_per_channel_affine",
    "kiln.linear": "linear",
    "kiln.matmul": "matmul",
    "kiln.softmax": "softmax",
    "kiln.embedding": "embedding",
    "kiln.rsqrt": "rsqrt",
    "kiln.silu": "silu",
    "kiln.repeat_interleave": "repeat_interleave",
    "kiln.cat": "cat",
}

FQ = re.compile(r"kiln\.fake_quant %\S+ scale\(([^)]+)\) zero_point\((-?\d+)\) "
                r"range \[(-?\d+), (-?\d+)\]")
FQA = re.compile(r"kiln\.fake_quant_per_axis %\S+ axis\((-?\d+)\) scales \[([^\]]*)\] "
                 r"zero_points \[([^\]]*)\] range \[(-?\d+), (-?\d+)\]")
NAMELOC = re.compile(r'loc\("([^"]+)"\(')
FILELOC = re.compile(r'"([^"]+\.py)":(\d+):(\d+)')
OPNAME = re.compile(r"= (kiln\.[a-z_]+) ")
RESOURCE = re.compile(r"kiln\.constant dense_resource<([\w.]+)> : tensor<([^>]*)>")
BLOB = re.compile(r'^\s+([\w.]+): "0x([0-9A-F]*)",?\s*$')


def fail(msg):
    print("MISMATCH: " + msg)
    sys.exit(1)


def reference_params(path):
    """path -> ("tensor", scale, zp, qmin, qmax) or ("axis", ...) from an import."""
    params = {}
    for line in open(path).read().splitlines():
        names = NAMELOC.findall(line)
        m = FQA.search(line)
        if m and names:
            params[names[0]] = ("axis",) + m.groups()
            continue
        m = FQ.search(line)
        if m and names:
            params[names[0]] = ("tensor",) + m.groups()
    return params


def main():
    args = sys.argv[1:]
    reference, prefix = None, ""
    if "--reference" in args:
        i = args.index("--reference")
        reference = reference_params(args[i + 1])
        del args[i:i + 2]
    if "--prefix" in args:
        i = args.index("--prefix")
        prefix = args[i + 1]
        del args[i:i + 2]
    pt, plain, located = args
    module = torch.jit.load(pt)
    modules = dict(module.named_modules())
    tensors = dict(module.named_parameters())
    tensors.update(dict(module.named_buffers()))
    text = open(located).read().splitlines()

    if reference is not None:
        enabled = {prefix + name for name in reference}
    else:
        enabled = {name for name, m in modules.items()
                   if getattr(m, "original_name", "") == "FakeQuant" and m.enabled}
    seen = set()
    counts = {"fake_quant": 0, "fake_quant_per_axis": 0, "weights": 0, "located": 0}
    source_cache = {}

    def quantizer(line):
        names = NAMELOC.findall(line)
        if not names:
            fail("fake quant without a module path: " + line.strip()[:120])
        path = names[0]
        if path not in enabled:
            fail(f"{path} is not an enabled FakeQuant of the module")
        seen.add(path)
        return path, modules[path]

    for line in text:
        m = FQA.search(line)
        if m and reference is not None:
            path, q = quantizer(line)
            if reference[path[len(prefix):]] != ("axis",) + m.groups():
                fail(f"{path} differs from the reference import")
            # The per-channel buffers survive tracing: check them too.
            if [float(s) for s in m.group(2).split(",")] != q.scales.double().tolist():
                fail(f"{path}: scales differ from the module's buffer")
            counts["fake_quant_per_axis"] += 1
        elif m:
            path, q = quantizer(line)
            if not q.per_channel:
                fail(f"{path} is per tensor but imported per axis")
            axis, scales, zps, qmin, qmax = m.groups()
            want_scales = q.scales.double().tolist()
            got_scales = [float(s) for s in scales.split(",")]
            if got_scales != want_scales:
                fail(f"{path}: scales {got_scales[:4]}... != {want_scales[:4]}...")
            if [int(z) for z in zps.split(",")] != q.zero_points.tolist():
                fail(f"{path}: zero points differ")
            if (int(axis), int(qmin), int(qmax)) != (q.axis, q.quant_min, q.quant_max):
                fail(f"{path}: axis/range ({axis}, {qmin}, {qmax}) != "
                     f"({q.axis}, {q.quant_min}, {q.quant_max})")
            counts["fake_quant_per_axis"] += 1
        else:
            m = FQ.search(line)
            if m and reference is not None:
                path, q = quantizer(line)
                if reference[path[len(prefix):]] != ("tensor",) + m.groups():
                    fail(f"{path} differs from the reference import")
                counts["fake_quant"] += 1
            elif m:
                path, q = quantizer(line)
                if q.per_channel:
                    fail(f"{path} is per channel but imported per tensor")
                scale, zp, qmin, qmax = m.groups()
                if float(scale) != q.scale:
                    fail(f"{path}: scale {float(scale)!r} != {q.scale!r}")
                if (int(zp), int(qmin), int(qmax)) != (q.zero_point, q.quant_min, q.quant_max):
                    fail(f"{path}: zero point/range differ")
                counts["fake_quant"] += 1

        op = OPNAME.search(line)
        if op and op.group(1) in OP_SOURCE_WORDS:
            where = FILELOC.findall(line)
            if not where:
                fail("no Python location on: " + line.strip()[:120])
            # The innermost file location is the op's own source.
            file, lineno, col = where[0]
            if file not in source_cache:
                source_cache[file] = open(file).read().splitlines()
            src = source_cache[file][int(lineno) - 1]
            word = OP_SOURCE_WORDS[op.group(1)]
            if word not in src:
                fail(f"{op.group(1)} located at {file}:{lineno}, which reads {src.strip()!r}")
            if not 1 <= int(col) <= len(src):
                fail(f"column {col} outside {file}:{lineno}")
            counts["located"] += 1

        r = RESOURCE.search(line)
        if r:
            name, shape = r.groups()
            if name not in tensors:
                fail(f"weight blob {name} is not a parameter or buffer")
            dims = [int(d) for d in shape.split("x")[:-1]]
            if list(tensors[name].shape) != dims:
                fail(f"{name}: shape {dims} != {list(tensors[name].shape)}")

    if seen != enabled:
        fail(f"quantizers missing from the IR: {sorted(enabled - seen)[:5]}")

    blobs = {}
    for line in open(plain).read().splitlines():
        b = BLOB.match(line)
        if b:
            blobs[b.group(1)] = b.group(2)
    for name, hexdata in blobs.items():
        if name not in tensors:
            fail(f"blob {name} is not a parameter or buffer")
        want = tensors[name].detach().contiguous().numpy().tobytes()
        got = bytes.fromhex(hexdata)[4:]  # 4-byte alignment prefix
        if got != want:
            fail(f"blob {name}: data differs from the tensor")
        counts["weights"] += 1
    # Every parameter's storage is imported (tied weights share one blob).
    storages = {t.data_ptr() for n, t in module.named_parameters()}
    imported = {tensors[n].data_ptr() for n in blobs}
    if storages - imported:
        fail("parameters missing from the blobs: " + str(sorted(n for n, t in module.named_parameters() if t.data_ptr() not in imported)[:5]))

    print(f"checked {counts['fake_quant']} fake_quant, "
          f"{counts['fake_quant_per_axis']} fake_quant_per_axis, "
          f"{counts['weights']} weights, {counts['located']} located ops")


if __name__ == "__main__":
    main()
