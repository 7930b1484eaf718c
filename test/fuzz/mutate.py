#!/usr/bin/env python3
"""Bounded mutation fuzzing of Kiln's two input paths (issue 13).

    mutate.py pt --seed-file m.pt --mutants 200 --bin build/bin --work DIR
    mutate.py fb --seed-file m.tflite --seed-file m.circle --mutants 2000 ...

Makes `mutants` mutants of the seed files with a fixed random seed (so a run is
reproducible), feeds each to the tools of that path and classifies the outcome:

  pt  : kiln-import M -o out.mlir, and (every 4th mutant, --convert-every N) kiln-convert M -o out.tflite
  fb  : kiln-translate --circle-dump M, kiln-translate --circle-to-mlir M

Outcome classes per (family, tool):
  accepted   exit 0 (a mutant that is still a valid file, e.g. a flipped weight bit)
  diagnosed  exit 1, an 'error:' line on stderr, no output file left
  SIGNAL     killed by a signal (crash, abort)          -> failure
  TIMEOUT    ran longer than --timeout seconds           -> failure
  NODIAG     non-zero exit without an 'error:' line      -> failure
  LEFTOVER   failed but left an output (or temporary) file -> failure
  EXIT       an exit code other than 0 and 1             -> failure
  REPARSE    accepted, but the MLIR it wrote (kiln-import, --circle-to-mlir)
             does not parse and verify in kiln-opt        -> failure

Prints a table of counts by family and outcome, writes every failing mutant to
DIR/failures/ (with the command and stderr), and exits 1 if any failure class
is non-zero.

Mutation families
  pt: bitflip (1-16 random bits), truncate (random length), zip (damage of one
      zip structure field: EOCD, central directory, local headers), entry
      (one archive entry edited and the archive re-zipped, so the zip is
      valid: data.pkl, constants.pkl, code/*.debug_pkl, code/*.py, tensor
      records (shortened, emptied, extended), version; bit flips, truncation,
      pickle opcode/length damage)
  fb: bitflip, truncate, int32 (a 4-aligned word set to 0, -1, INT32_MIN,
      INT32_MAX, a small or large value), int16 (a 2-aligned half-word, as
      vtable entries: 0 = field absent), json (with --schema: the seed as
      flatc JSON, one field deleted or set to a hostile integer, float, string
      or list length, written back by flatc: files that verify), splice (a range copied over another)
"""
import argparse
import collections
import concurrent.futures
import io
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import zipfile

FAIL_CLASSES = ("SIGNAL", "TIMEOUT", "NODIAG", "LEFTOVER", "EXIT", "REPARSE")


# --------------------------------------------------------------------------
# Generic byte mutations
# --------------------------------------------------------------------------
def bitflip(rng, data, lo=0, hi=None):
    data = bytearray(data)
    hi = len(data) if hi is None else hi
    if hi <= lo:
        return bytes(data)
    for _ in range(rng.choice([1, 1, 2, 4, 8, 16])):
        i = rng.randrange(lo, hi)
        data[i] ^= 1 << rng.randrange(8)
    return bytes(data)


def truncate(rng, data):
    if not data:
        return data
    return data[: rng.randrange(len(data))]


INTERESTING32 = [0, 0xFFFFFFFF, 0x80000000, 0x7FFFFFFF, 1, 2, 0xFFFF, 0x10000,
                 0x7FFFFFF0, 0xFFFFFFFE, 64, 1 << 20]


def int32(rng, data):
    data = bytearray(data)
    if len(data) < 4:
        return bytes(data)
    i = rng.randrange(0, len(data) - 3) & ~3
    v = rng.choice(INTERESTING32 + [rng.randrange(1 << 32)])
    data[i:i + 4] = struct.pack("<I", v)
    return bytes(data)


INTERESTING16 = [0, 0xFFFF, 0x8000, 0x7FFF, 1, 4]


def int16(rng, data):
    """A 2-aligned half-word (FlatBuffer vtable entries, enum fields) set to
    0 (a field absent), -1 or another value."""
    data = bytearray(data)
    if len(data) < 2:
        return bytes(data)
    i = rng.randrange(0, len(data) - 1) & ~1
    v = rng.choice(INTERESTING16 + [rng.randrange(1 << 16)])
    data[i:i + 2] = struct.pack("<H", v)
    return bytes(data)


def splice(rng, data):
    data = bytearray(data)
    if len(data) < 16:
        return bytes(data)
    n = rng.randrange(1, min(64, len(data) // 2))
    src = rng.randrange(0, len(data) - n)
    dst = rng.randrange(0, len(data) - n)
    data[dst:dst + n] = data[src:src + n]
    return bytes(data)


# --------------------------------------------------------------------------
# Zip (TorchScript archive) mutations
# --------------------------------------------------------------------------
def zip_damage(rng, data):
    """Damage one field of the zip structure (EOCD, central directory entry,
    local header)."""
    data = bytearray(data)
    sigs = {b"PK\x05\x06": "eocd", b"PK\x01\x02": "central", b"PK\x03\x04": "local",
            b"PK\x06\x06": "eocd64", b"PK\x06\x07": "locator64"}
    spots = []
    for sig in sigs:
        start = 0
        while True:
            i = data.find(sig, start)
            if i < 0:
                break
            spots.append(i)
            start = i + 1
    if not spots:
        return bitflip(rng, data)
    at = rng.choice(spots)
    # A field within the first 46 bytes of the record (all fixed fields).
    off = at + rng.randrange(4, 46)
    width = rng.choice([1, 2, 4])
    if off + width > len(data):
        return bytes(data)
    v = rng.choice([0, 0xFF, 0xFFFF, 0xFFFFFFFF, 0x7FFFFFFF, 1, rng.randrange(1 << 32)])
    data[off:off + width] = (v & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
    return bytes(data)


PICKLE_LEN_OPS = {b"X": 4, b"B": 4, b"C": 1, b"\x8c": 1, b"\x8d": 8, b"\x8e": 8,
                  b"T": 4, b"U": 1, b"\x95": 8, b"\x8a": 1, b"\x8b": 4}


def pickle_damage(rng, data):
    """Damage a pickle: an opcode replaced, a length field enlarged, bytes
    deleted or duplicated."""
    data = bytearray(data)
    if not data:
        return bytes(data)
    kind = rng.randrange(4)
    if kind == 0:  # opcode replaced by another (random) byte
        i = rng.randrange(len(data))
        data[i] = rng.choice(b"()]}qhjrX\x8c\x94\x85\x86\x87tRbse.NJKM" + bytes([rng.randrange(256)]))
    elif kind == 1:  # a length field of a string/frame opcode
        positions = [i for i in range(len(data)) if bytes(data[i:i + 1]) in PICKLE_LEN_OPS]
        if positions:
            i = rng.choice(positions)
            w = PICKLE_LEN_OPS[bytes(data[i:i + 1])]
            if i + 1 + w <= len(data):
                v = rng.choice([0, (1 << (8 * w)) - 1, 1 << (8 * w - 1), rng.randrange(1 << (8 * w))])
                data[i + 1:i + 1 + w] = v.to_bytes(w, "little")
    elif kind == 2:  # bytes deleted
        i = rng.randrange(len(data))
        del data[i:i + rng.randrange(1, 8)]
    else:  # bytes duplicated
        i = rng.randrange(len(data))
        n = rng.randrange(1, 8)
        data[i:i] = data[i:i + n]
    return bytes(data)


def rezip(entries):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as z:
        for name, content in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            z.writestr(info, content)
    return out.getvalue()


def entry_edit(rng, data):
    """Edit one entry of the archive and re-zip it (a valid zip)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        entries = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    groups = collections.defaultdict(list)
    for k, (name, _) in enumerate(entries):
        base = name.split("/", 1)[-1]
        if base == "data.pkl":
            groups["data.pkl"].append(k)
        elif base == "constants.pkl":
            groups["constants.pkl"].append(k)
        elif name.endswith(".debug_pkl"):
            groups["debug_pkl"].append(k)
        elif name.endswith(".py"):
            groups["code"].append(k)
        elif "/data/" in name or "/constants/" in name:
            groups["tensor"].append(k)
        else:
            groups["other"].append(k)
    group = rng.choice(sorted(groups))
    k = rng.choice(groups[group])
    name, content = entries[k]
    if group == "tensor":
        how = rng.randrange(5)
        if how == 0:
            content = b""
        elif how == 1:
            content = content[:-4] if len(content) >= 4 else b""
        elif how == 2:
            content = content[: rng.randrange(len(content) + 1)]
        elif how == 3:
            content = content + bytes(rng.randrange(1, 64))
        else:
            content = bitflip(rng, content)
    elif group in ("data.pkl", "constants.pkl", "debug_pkl"):
        how = rng.randrange(3)
        if how == 0:
            content = pickle_damage(rng, content)
        elif how == 1:
            content = bitflip(rng, content)
        else:
            content = truncate(rng, content)
    else:
        content = rng.choice([bitflip, truncate, splice])(rng, content)
    entries[k] = (name, content)
    return rezip(entries), group


# Structure-aware FlatBuffer mutants: the seed as flatc JSON, one field
# deleted or set to a hostile value, written back by flatc (so they pass the
# FlatBuffers verifier and reach the reader's own checks).
HOSTILE_INTS = [0, -1, 1, 2, 7, 255, 65535, 2**31 - 1, -2**31, 2**32 - 1, 2**63 - 1, -2**63]


class JsonMutator:
    def __init__(self, schema, workdir):
        self.schema, self.workdir, self.texts = schema, workdir, {}

    def _json(self, seed_index, seed):
        if seed_index not in self.texts:
            d = os.path.join(self.workdir, "json%d" % seed_index)
            os.makedirs(d, exist_ok=True)
            src = os.path.join(d, "seed.bin")
            open(src, "wb").write(seed)
            subprocess.run(["flatc", "--json", "--strict-json", "--raw-binary", "--defaults-json",
                            "-o", d, self.schema, "--", src], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.texts[seed_index] = open(os.path.join(d, "seed.json")).read()
        return json.loads(self.texts[seed_index])

    @staticmethod
    def _spots(node, path, out):
        if isinstance(node, dict):
            for k, v in node.items():
                out.append((node, k))
                if k != "data":
                    JsonMutator._spots(v, path + [k], out)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                if isinstance(v, (dict, list)) or len(node) < 64:
                    out.append((node, i))
                    JsonMutator._spots(v, path + [i], out)

    def mutate(self, rng, seed_index, seed):
        for _ in range(8):
            model = self._json(seed_index, seed)
            spots = []
            self._spots(model, [], spots)
            parent, key = rng.choice(spots)
            value = parent[key]
            if isinstance(parent, dict) and rng.random() < 0.3:
                del parent[key]
            elif isinstance(value, bool):
                parent[key] = not value
            elif isinstance(value, int):
                parent[key] = rng.choice(HOSTILE_INTS + [value + 1, value - 1])
            elif isinstance(value, float):
                parent[key] = rng.choice([0.0, -1.0, 1e38, -1e-38, float("inf")])
            elif isinstance(value, list) and isinstance(parent, dict):
                parent[key] = value[:-1] if value and rng.random() < 0.5 else value + value[:1]
            elif isinstance(value, str):
                parent[key] = rng.choice(["", "X" * 300])
            else:
                continue
            d = os.path.join(self.workdir, "json%d" % seed_index)
            text = json.dumps(model).replace("Infinity", "inf")
            open(os.path.join(d, "m.json"), "w").write(text)
            r = subprocess.run(["flatc", "-b", "-o", d, self.schema, os.path.join(d, "m.json")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            out = os.path.join(d, "m.bin")
            if r.returncode == 0 and os.path.exists(out):
                data = open(out, "rb").read()
                os.remove(out)
                # flatc writes the schema's identifier: keep the seed's.
                return data[:4] + seed[4:8] + data[8:] if len(data) >= 8 else data
        return bitflip(rng, seed)


PT_FAMILIES = ["bitflip", "truncate", "zip", "entry"]
FB_FAMILIES = ["bitflip", "truncate", "int32", "int16", "splice"]


def make_mutant(rng, path_kind, seed, seed_index=0, json_mutator=None):
    families = PT_FAMILIES if path_kind == "pt" else FB_FAMILIES + (["json"] if json_mutator else [])
    family = rng.choice(families)
    if family == "json":
        return family, json_mutator.mutate(rng, seed_index, seed)
    if family == "bitflip":
        return family, bitflip(rng, seed)
    if family == "truncate":
        return family, truncate(rng, seed)
    if family == "zip":
        return family, zip_damage(rng, seed)
    if family == "entry":
        data, group = entry_edit(rng, seed)
        return "entry:" + group, data
    if family == "int32":
        return family, int32(rng, seed)
    if family == "int16":
        return family, int16(rng, seed)
    return family, splice(rng, seed)


# --------------------------------------------------------------------------
# Running the tools
# --------------------------------------------------------------------------
def commands(path_kind, bindir, mutant, out, index, convert_args, convert_every=4):
    if path_kind == "pt":
        cmds = [("kiln-import", [os.path.join(bindir, "kiln-import"), mutant, "-o", out + ".mlir"], out + ".mlir")]
        if index % convert_every == 0:
            cmds.append(("kiln-convert", [os.path.join(bindir, "kiln-convert"), mutant, "-o", out + ".tflite"]
                         + convert_args, out + ".tflite"))
        return cmds
    tr = os.path.join(bindir, "kiln-translate")
    return [("circle-dump", [tr, "--circle-dump", mutant, "-o", out + ".txt"], out + ".txt"),
            ("circle-to-mlir", [tr, "--circle-to-mlir", mutant, "-o", out + ".mlir"], out + ".mlir")]


def classify(proc, stderr, outdir, out):
    leftovers = [f for f in os.listdir(outdir) if f.startswith(os.path.basename(out))]
    if proc is None:
        return "TIMEOUT"
    if proc.returncode < 0:
        return "SIGNAL"
    if proc.returncode == 0:
        return "accepted"
    if proc.returncode != 1:
        return "EXIT"
    if "error:" not in stderr:
        return "NODIAG"
    if leftovers:
        return "LEFTOVER"
    return "diagnosed"


def run_one(job):
    index, family, mutant_path, path_kind, bindir, workdir, timeout, convert_args, convert_every = job
    results = []
    outdir = os.path.join(workdir, "out%d" % index)
    os.makedirs(outdir, exist_ok=True)
    out = os.path.join(outdir, "o")
    for tool, cmd, produced in commands(path_kind, bindir, mutant_path, out, index, convert_args,
                                        convert_every):
        env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "detect_leaks=0"))
        try:
            proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  timeout=timeout, env=env)
            stderr = proc.stderr.decode("utf-8", "replace")
        except subprocess.TimeoutExpired:
            proc, stderr = None, ""
        outcome = classify(proc, stderr, outdir, out)
        if outcome == "accepted" and produced.endswith(".mlir") and os.path.exists(produced):
            check = subprocess.run([os.path.join(bindir, "kiln-opt"), produced, "-o", os.devnull],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout, env=env)
            if check.returncode != 0:
                outcome = "REPARSE"
                stderr += "\n--- kiln-opt\n" + check.stderr.decode("utf-8", "replace")
        # Sanitizer reports end with a non-zero exit: count them as crashes.
        if "ERROR: AddressSanitizer" in stderr or "runtime error:" in stderr:
            outcome = "SIGNAL"
        results.append((tool, outcome, cmd, stderr, proc.returncode if proc else None))
        for f in os.listdir(outdir):
            os.remove(os.path.join(outdir, f))
    os.rmdir(outdir)
    return index, family, mutant_path, results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", choices=["pt", "fb"])
    ap.add_argument("--seed-file", action="append", required=True)
    ap.add_argument("--mutants", "-n", type=int, default=100)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--bin", required=True, help="directory of the Kiln tools")
    ap.add_argument("--work", required=True)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--keep", action="store_true", help="keep every mutant")
    ap.add_argument("--schema", help="fb: Kiln's kiln_circle.fbs, for the 'json' family (flatc)")
    ap.add_argument("--convert-args", default="--format tflite --mode prefill --seq-len 4",
                    help="kiln-convert options for .pt mutants")
    ap.add_argument("--convert-every", type=int, default=4,
                    help="pt: run kiln-convert on every Nth mutant (kiln-import runs on each)")
    ap.add_argument("--progress", type=int, default=0,
                    help="print the counts so far to stderr every N mutants (long campaigns)")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    seeds = [open(f, "rb").read() for f in args.seed_file]
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(os.path.join(args.work, "mutants"))
    ext = ".pt" if args.path == "pt" else ".bin"
    jobs = []
    json_mutator = JsonMutator(args.schema, args.work) if args.schema and args.path == "fb" else None
    for i in range(args.mutants):
        family, data = make_mutant(rng, args.path, seeds[i % len(seeds)], i % len(seeds), json_mutator)
        p = os.path.join(args.work, "mutants", "m%05d%s" % (i, ext))
        with open(p, "wb") as f:
            f.write(data)
        jobs.append((i, family, p, args.path, args.bin, args.work, args.timeout,
                     args.convert_args.split(), max(1, args.convert_every)))

    table = collections.defaultdict(collections.Counter)
    failures = 0
    faildir = os.path.join(args.work, "failures")
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        for index, family, mutant, results in pool.map(run_one, jobs):
            failed = False
            for tool, outcome, cmd, stderr, rc in results:
                table[(family, tool)][outcome] += 1
                table[("ALL", tool)][outcome] += 1
                if outcome in FAIL_CLASSES:
                    failed = True
                    failures += 1
                    os.makedirs(faildir, exist_ok=True)
                    base = os.path.join(faildir, os.path.basename(mutant))
                    shutil.copy(mutant, base)
                    with open(base + "." + tool + ".txt", "w") as f:
                        f.write("family: %s\noutcome: %s (rc %s)\ncommand: %s\n--- stderr\n%s"
                                % (family, outcome, rc, " ".join(cmd), stderr[-4000:]))
            if not failed and not args.keep:
                os.remove(mutant)
            if args.progress and (index + 1) % args.progress == 0:
                runs = sum(sum(c.values()) for (fam, _), c in table.items() if fam == "ALL")
                print("progress: %d mutants, %d runs, %d failing" % (index + 1, runs, failures),
                      file=sys.stderr, flush=True)

    classes = ["accepted", "diagnosed"] + list(FAIL_CLASSES)
    print("%-22s %-15s %s" % ("family", "tool", " ".join("%9s" % c for c in classes)))
    for key in sorted(table, key=lambda k: (k[0] == "ALL", k)):
        c = table[key]
        print("%-22s %-15s %s" % (key[0], key[1], " ".join("%9d" % c[x] for x in classes)))
    print("mutants: %d, failing runs: %d%s" % (args.mutants, failures,
                                                 (" (see %s)" % faildir) if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
