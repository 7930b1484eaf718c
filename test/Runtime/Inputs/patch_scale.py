"""patch_scale.py IN OUT TENSOR FACTOR: multiplies the (first) quantization
scale of the tensor named TENSOR in subgraph 0 of a .circle/.tflite file by
FACTOR, in place of the float32 in the file (a deliberately wrong scale for
kiln-parity's tests). Walks the FlatBuffer by field ids (Model.subgraphs = 2,
SubGraph.tensors = 0, Tensor.name = 3, Tensor.quantization = 4,
QuantizationParameters.scale = 2)."""
import struct
import sys


def u32(b, at):
    return struct.unpack_from("<I", b, at)[0]


def field(b, table, fid):
    vtable = table - struct.unpack_from("<i", b, table)[0]
    vsize = struct.unpack_from("<H", b, vtable)[0]
    if 4 + 2 * fid >= vsize:
        return None
    off = struct.unpack_from("<H", b, vtable + 4 + 2 * fid)[0]
    return table + off if off else None


def deref(b, at):
    return at + u32(b, at)


def vector(b, at):
    at = deref(b, at)
    return [at + 4 + 4 * i for i in range(u32(b, at))], at + 4


def main():
    src, dst, name, factor = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    b = bytearray(open(src, "rb").read())
    model = u32(b, 0)
    subgraph = deref(b, vector(b, field(b, model, 2))[0][0])
    for slot in vector(b, field(b, subgraph, 0))[0]:
        tensor = deref(b, slot)
        nf = field(b, tensor, 3)
        s = deref(b, nf)
        tname = bytes(b[s + 4:s + 4 + u32(b, s)]).decode()
        if tname != name:
            continue
        q = deref(b, field(b, tensor, 4))
        scales = deref(b, field(b, q, 2))
        old = struct.unpack_from("<f", b, scales + 4)[0]
        struct.pack_into("<f", b, scales + 4, old * factor)
        open(dst, "wb").write(b)
        print(f"patch_scale: {name}: scale {old:.6e} -> {old * factor:.6e}")
        return
    sys.exit(f"patch_scale: no tensor '{name}' in subgraph 0")


main()
