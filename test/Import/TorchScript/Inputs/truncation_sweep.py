"""Runs kiln-import on many truncated and damaged copies of one .pt file.

usage: truncation_sweep.py KILN_IMPORT IN.pt WORKDIR

Cuts the archive at zip structure boundaries (the local header and the middle
of six records, the central directory, the end record) and at 6 other
offsets, and zeroes one page inside the largest tensor record. Each copy
is imported with the mapped loader (--load=map) and with LibTorch's copy
(--load=copy): every run must exit with status 1, print one 'error:' line
naming the file, and write no output. Prints one line per loader and exits 1
on the first run that crashes, succeeds or fails differently.
"""
import os
import subprocess
import sys
import zipfile


def cut_points(path):
    size = os.path.getsize(path)
    points = set()
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        # Four entries spread over the archive, the largest and the last:
        # a tiny model has hundreds of records, all alike.
        picked = infos[::max(1, len(infos) // 4)]
        picked += [max(infos, key=lambda i: i.compress_size), infos[-1]]
        for info in picked:
            points.add(info.header_offset)             # before the local header
            start = info.header_offset + 30 + len(info.filename.encode())
            points.add(start + info.compress_size // 2)  # inside the record
        cd = z.start_dir
    points.update({cd, cd + 1, size - 22, size - 1, 1, 4})
    points.update(size * k // 7 for k in range(1, 7))
    return sorted(p for p in points if 0 < p < size)


def zero_page(path, out):
    raw = bytearray(open(path, "rb").read())
    with zipfile.ZipFile(path) as z:
        big = max(z.infolist(), key=lambda i: i.compress_size)
    start = big.header_offset + 30 + len(big.filename.encode()) + len(big.extra)
    mid = start + big.compress_size // 2
    raw[mid:mid + 4096] = bytes(min(4096, big.compress_size // 2))
    open(out, "wb").write(raw)


def main():
    tool, src, work = sys.argv[1:]
    os.makedirs(work, exist_ok=True)
    data = open(src, "rb").read()
    cases = []
    for p in cut_points(src):
        name = os.path.join(work, f"cut{p}.pt")
        open(name, "wb").write(data[:p])
        cases.append(name)
    name = os.path.join(work, "zeroed-page.pt")
    zero_page(src, name)
    cases.append(name)
    bad = 0
    for mode in ("map", "copy"):
        refused = 0
        for case in cases:
            out = case + "." + mode + ".mlir"
            r = subprocess.run([tool, case, "--load=" + mode, "-o", out],
                               capture_output=True, text=True, timeout=120)
            errors = [l for l in r.stderr.splitlines() if "error:" in l]
            ok = (r.returncode == 1 and len(errors) == 1 and os.path.basename(case) in errors[0]
                  and not os.path.exists(out))
            if not ok:
                bad += 1
                print(f"FAIL --load={mode} {os.path.basename(case)}: exit {r.returncode}\n{r.stderr[-2000:]}")
            else:
                refused += 1
        print(f"--load={mode}: {refused} of {len(cases)} damaged copies refused with one error")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
