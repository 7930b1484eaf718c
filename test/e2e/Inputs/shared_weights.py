"""shared_weights.py ONE.tflite MANY.tflite: the weights of a file with more
signatures are stored once, as in a file with fewer.

Reads both files with `kiln-translate --circle-dump` (on PATH). Weights are the
buffers of quantized constant tensors. Checks that MANY stores as many weight
buffers, with the same bytes, as ONE, and that every signature of MANY reads
every one of its weight buffers (one copy shared by all). Exits 1 otherwise.
"""
import re
import subprocess
import sys


def read(path):
    dump = subprocess.run(["kiln-translate", "--circle-dump", path], check=True,
                          capture_output=True, text=True).stdout
    sizes = {int(m.group(1)): int(m.group(2))
             for m in re.finditer(r"^  buffer #(\d+) \w+ (\d+) bytes", dump, re.M)}
    per_signature = []
    for line in dump.splitlines():
        if line.startswith("subgraph #"):
            per_signature.append(set())
        m = re.match(r"  tensor #\d+ .* buffer (\d+) quant scale", line)
        if m and per_signature:
            per_signature[-1].add(int(m.group(1)))
    weights = set().union(*per_signature)
    return per_signature, {b: sizes[b] for b in weights}


def main():
    one_sigs, one = read(sys.argv[1])
    many_sigs, many = read(sys.argv[2])
    ok = True
    if len(one) != len(many) or sum(one.values()) != sum(many.values()):
        print(f"weights differ: {len(one)} buffers, {sum(one.values())} bytes vs "
              f"{len(many)} buffers, {sum(many.values())} bytes")
        ok = False
    else:
        print(f"weights: {len(many)} buffers, {sum(many.values())} bytes in both files: same")
    for i, used in enumerate(many_sigs):
        if used != set(many):
            print(f"signature {i} reads {len(used)} of the {len(many)} weight buffers")
            ok = False
    print(f"signatures: {len(one_sigs)} and {len(many_sigs)}")
    return 0 if ok and many else 1


if __name__ == "__main__":
    sys.exit(main())
