#!/usr/bin/python3
"""Conversion at real model sizes (issue 12, item 6): time and memory of kiln-convert
against the I/O floor measured in the same run.

    bench/convert_scale/run.py [--sizes 1b,3b] [--recipes w4a16,w8a16] [--work DIR]
                               [--quick] [--limit-size 3b] [--limit GB] [--warm]
                               [--keep-outputs] [--force] [--build-dir DIR]

For each size and recipe it
  1. makes the whole model with kiln_torch (random weights, scripted, tied embeddings
     as in Llama-3.2), cached as DIR/models/<size>-<recipe>.pt so reruns reuse it;
  2. measures the I/O floor: torch.jit.load of the file plus writing every parameter
     and buffer (each storage once) to DIR/floor.bin with fsync, wall time;
  3. runs kiln-convert MODEL.pt -o OUT --mode prefill+decode --seq-len 128
     --cache-len 128, whole model and (when kiln-convert has the flag) --split layers,
     recording wall time, CPU time (user+sys, getrusage of the child) and peak RSS;
  4. converts --limit-size under a memory limit (cgroup v2 memory.max, or systemd-run
     --scope -p MemoryMax=) when this machine allows it, else says why not;
and prints one table (stdout) with the ratios: wall and CPU against the floor's wall
time, peak RSS against the .pt size.  See README.md next to this file.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GB = 1e9
GIB = 1024 ** 3

# Benchmark sizes: name -> kiln_torch preset (and config overrides).
SIZES: Dict[str, Tuple[str, Dict[str, Any]]] = {
    "small": ("small", {}),            # --quick: 4 layers, 1024 vocabulary, ~11 MB
    "1b": ("llama-3.2-1b", {}),
    "3b": ("llama-3.2-3b", {}),
    # Llama-3.1-8B's shape (kiln_torch has no preset): untied, 32 layers, fp32 .pt ~32 GB.
    "8b": ("llama-3.2-3b", dict(hidden_size=4096, intermediate_size=14336,
                                num_attention_heads=32, num_key_value_heads=8, head_dim=128,
                                num_hidden_layers=32, tie_word_embeddings=False,
                                rope_scaling={"rope_type": "llama3", "factor": 8.0,
                                              "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                              "original_max_position_embeddings": 8192})),
}
# Sizes written tensor by tensor (helper_build_streamed): kiln_torch cannot hold them.
STREAMED = {"8b"}
STREAM_ALL = False   # --streamed: every size
STREAM_SIZES: set = set()   # --streamed 3b,...: those sizes
SEED = 0
CALIB = dict(batches=1, length=9, decode_steps=1)   # ranges only need to exist
CONVERT_ARGS = ["--mode", "prefill+decode", "--seq-len", "128", "--cache-len", "128"]
RESERVE = int(1.5 * GIB)   # a child is killed if MemAvailable drops below this


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Helpers run in their own process (so their memory is gone afterwards)
# ---------------------------------------------------------------------------

def _kiln_config(size: str):
    sys.path.insert(0, os.path.join(ROOT, "python"))
    from kiln_torch import get_config
    preset, overrides = SIZES[size]
    return get_config(preset, **overrides)


def helper_build(size: str, recipe: str, path: str) -> int:
    """Builds, calibrates, converts and saves the whole model (scripted) to path."""
    import torch
    sys.path.insert(0, os.path.join(ROOT, "python"))
    from kiln_torch import (build_model, calibrate, convert, prepare, random_token_batches,
                            save_torchscript)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    config = _kiln_config(size)
    t0 = time.time()
    model = build_model(config, SEED)
    t1 = time.time()
    prepare(model, recipe)
    batches = random_token_batches(config, CALIB["batches"], 1, CALIB["length"], SEED + 1)
    with torch.no_grad():
        calibrate(model, batches, CALIB["decode_steps"])
        convert(model)
    t2 = time.time()
    tmp = path + ".tmp"
    save_torchscript(model, tmp)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    t3 = time.time()
    print(json.dumps({"init_s": t1 - t0, "quantize_s": t2 - t1, "save_s": t3 - t2}))
    return 0


MARKER = (1234.5, -4321.25, 2.0 ** -17)   # first floats of a not-yet-written weight, + index


def helper_build_streamed(size: str, recipe: str, path: str) -> int:
    """The same model as helper_build, written without ever holding its weights.

    1. Activation ranges: a proxy with this shape but 2 layers and a 1024-token
       vocabulary is built, prepared and calibrated like helper_build; layer i of the
       big model takes the ranges of proxy layer i % 2.
    2. The big model is constructed with every 2-D weight a private mapping of zero
       pages (no memory), the first floats of each set to a marker naming it; norm
       weights are real (1 + N(0, 0.1^2)).
    3. Weight ranges are set without reading the weights: weight rows are written as
       N(0, 1/in) (embedding N(0, 1)) clamped to [-c, c] (c = 3 sigma), element 0 = c
       and element 1 = -c, so every row's observed range is exactly [-c, c].
       Quantizers frozen as convert() does; scripted and saved by save_torchscript
       (the zero weights go to the file).
    4. Each weight's record in the (stored, uncompressed) zip is found by its marker,
       overwritten in place with its rows, generated and written in chunks, and its
       CRC-32 patched in the local header and the central directory.
    """
    import math
    import mmap
    import struct
    import zipfile
    import zlib
    import torch
    sys.path.insert(0, os.path.join(ROOT, "python"))
    from kiln_torch import build_model, calibrate, prepare, random_token_batches, save_torchscript
    from kiln_torch.model import QuantLlamaForCausalLM
    from kiln_torch.quant import FakeQuant, iter_quantizers
    t0 = time.time()
    config = _kiln_config(size)

    # 1. Activation ranges from the proxy.
    proxy_layers = min(2, config.num_hidden_layers)
    proxy_cfg = config.replace(num_hidden_layers=proxy_layers, vocab_size=min(1024, config.vocab_size))
    proxy = build_model(proxy_cfg, SEED)
    prepare(proxy, recipe)
    batches = random_token_batches(proxy_cfg, CALIB["batches"], 1, CALIB["length"], SEED + 1)
    with torch.no_grad():
        calibrate(proxy, batches, CALIB["decode_steps"])
    ranges = {name: (q.min_val.clone(), q.max_val.clone())
              for name, q in iter_quantizers(proxy) if q.enabled and q.min_val.numel()}
    del proxy, batches

    # 2. The model, weights on zero pages.
    maps: List[Any] = []
    lazy: List[torch.Tensor] = []
    real_zeros = torch.zeros

    def lazy_zeros(*shape: Any, **kwargs: Any) -> torch.Tensor:
        if kwargs or len(shape) != 2 or not all(isinstance(d, int) for d in shape):
            return real_zeros(*shape, **kwargs)
        nbytes = shape[0] * shape[1] * 4
        m = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        maps.append(m)
        t = torch.frombuffer(m, dtype=torch.float32).view(*shape)
        t.view(-1)[:4] = torch.tensor(MARKER + (float(len(lazy)),))
        lazy.append(t)
        return t

    torch.zeros = lazy_zeros
    try:
        model = QuantLlamaForCausalLM(config).eval()
    finally:
        torch.zeros = real_zeros
    gen = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for _, param in model.named_parameters():
            if param.dim() == 1:
                param.copy_(1.0 + 0.1 * torch.randn(param.shape, generator=gen))
    prepare(model, recipe)

    # 3. Ranges, then freeze (what convert() does).
    # Weights replaced after construction (lm_head's, when tied) are not in the file.
    params = {p.data_ptr() for p in model.parameters()}
    index_of = {t.data_ptr(): i for i, t in enumerate(lazy) if t.data_ptr() in params}
    plan: Dict[int, Tuple[int, int, float, bool]] = {}   # index -> rows, cols, c, embedding
    owners = {}
    for name, module in model.named_modules():
        q = getattr(module, "weight_quant", None)
        if isinstance(q, FakeQuant):
            owners[id(q)] = module
            w = module.weight
            if w.data_ptr() in index_of:
                rows, cols = w.shape
                embedding = q.role == "embedding" and name.endswith("embed_tokens")
                c = float(torch.tensor(3.0 if embedding else 3.0 / math.sqrt(cols),
                                       dtype=torch.float32))
                plan.setdefault(index_of[w.data_ptr()], (rows, cols, c, embedding))
    if len(plan) != len(index_of):
        raise RuntimeError(f"{len(index_of)} lazy weights, {len(plan)} with a quantizer")
    for name, q in iter_quantizers(model):
        if not q.enabled:
            continue
        module = owners.get(id(q))
        if module is not None and module.weight.data_ptr() in index_of:
            rows, _, c, _ = plan[index_of[module.weight.data_ptr()]]
            q.set_range(torch.full((rows,), -c), torch.full((rows,), c))
        elif module is not None:
            q.reset()
            q.observe(module.weight)
        else:
            m = re.match(r"(model\.layers\.)(\d+)(\..*)", name)
            key = f"{m.group(1)}{int(m.group(2)) % proxy_layers}{m.group(3)}" if m else name
            if key not in ranges:
                raise RuntimeError(f"no proxy range for quantizer {name}")
            q.set_range(*ranges[key])
        q.freeze(name)
    t1 = time.time()
    tmp = path + ".tmp"
    save_torchscript(model, tmp)
    t2 = time.time()

    # 4. Weights into their records.
    zf = zipfile.ZipFile(tmp)
    infos = zf.infolist()
    cd_offset = zf.start_dir
    zf.close()
    marker = struct.pack("<3f", *MARKER)
    crcs: Dict[str, int] = {}
    done = set()
    with open(tmp, "r+b") as f:
        for info in infos:
            if info.compress_type != 0 or info.file_size < 16 or "/data/" not in info.filename:
                continue
            f.seek(info.header_offset)
            local = f.read(30)
            flags = struct.unpack_from("<H", local, 6)[0]
            nlen, elen = struct.unpack_from("<HH", local, 26)
            data_at = info.header_offset + 30 + nlen + elen
            f.seek(data_at)
            head = f.read(16)
            if head[:12] != marker:
                continue
            idx = int(struct.unpack_from("<f", head, 12)[0])
            rows, cols, c, embedding = plan[idx]
            if info.file_size != rows * cols * 4 or idx in done:
                raise RuntimeError(f"record {info.filename}: {info.file_size} bytes for "
                                   f"weight {idx} [{rows}, {cols}]")
            done.add(idx)
            wgen = torch.Generator().manual_seed(SEED * 1000003 + idx + 1)
            step = max(1, (16 << 20) // cols)
            crc = 0
            f.seek(data_at)
            for r0 in range(0, rows, step):
                x = torch.randn(min(step, rows - r0), cols, generator=wgen)
                if not embedding:
                    x.mul_(1.0 / math.sqrt(cols))
                x.clamp_(-c, c)
                x[:, 0] = c
                x[:, 1] = -c
                data = memoryview(x.numpy()).cast("B")
                crc = zlib.crc32(data, crc)
                f.write(data)
            if flags & 8:
                # Data descriptor after the data (PyTorch's writer): [PK\x07\x08] crc ...
                sig = f.read(4)
                f.seek(data_at + info.file_size + (4 if sig == b"PK\x07\x08" else 0))
            else:
                f.seek(info.header_offset + 14)
            f.write(struct.pack("<I", crc))
            crcs[info.filename] = crc
        if len(done) != len(plan):
            raise RuntimeError(f"found {len(done)} of {len(plan)} weight records")
        # Central directory entries: CRC-32 at +16.
        f.seek(cd_offset)
        at = cd_offset
        patched = 0
        while True:
            f.seek(at)
            entry = f.read(46)
            if len(entry) < 46 or entry[:4] != b"PK\x01\x02":
                break
            nlen, elen, clen = struct.unpack_from("<HHH", entry, 28)
            name = f.read(nlen).decode("utf-8")
            if name in crcs:
                f.seek(at + 16)
                f.write(struct.pack("<I", crcs[name]))
                patched += 1
            at += 46 + nlen + elen + clen
        if patched != len(crcs):
            raise RuntimeError(f"patched {patched} of {len(crcs)} central directory entries")
        f.flush()
        os.fsync(f.fileno())
    zipfile.ZipFile(tmp).close()
    os.replace(tmp, path)
    t3 = time.time()
    print(json.dumps({"init_s": t1 - t0, "quantize_s": 0.0, "save_s": t2 - t1,
                      "stream_s": t3 - t2, "streamed": True}))
    return 0


def helper_floor(pt: str, out: str) -> int:
    """I/O floor: torch.jit.load(pt), then every storage's bytes to out, fsync."""
    import resource
    import torch
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    module = torch.jit.load(pt)
    t1 = time.perf_counter()
    seen = set()
    written = 0
    with open(out, "wb") as f:
        tensors = [t for _, t in module.named_parameters()] + [t for _, t in module.named_buffers()]
        for t in tensors:
            key = (t.untyped_storage().data_ptr() if hasattr(t, "untyped_storage")
                   else t.storage().data_ptr(), t.storage_offset(), t.numel())
            if key in seen:
                continue
            seen.add(key)
            data = t.detach().contiguous().reshape(-1).view(torch.uint8).numpy()
            f.write(memoryview(data))
            written += data.nbytes
        f.flush()
        os.fsync(f.fileno())
    t2 = time.perf_counter()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    os.unlink(out)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print(json.dumps({"wall_s": t2 - t0, "load_s": t1 - t0, "write_s": t2 - t1, "cpu_s": cpu,
                      "maxrss": r1.ru_maxrss * 1024, "bytes": written, "tensors": len(seen)}))
    return 0


# ---------------------------------------------------------------------------
# Machine state
# ---------------------------------------------------------------------------

def meminfo() -> Dict[str, int]:
    info = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, value = line.split(":", 1)
            info[key] = int(value.split()[0]) * 1024
    return info


def mem_available() -> int:
    return meminfo()["MemAvailable"]


def disk_free(path: str) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def evict(path: str) -> None:
    """Drops this file's clean pages from the page cache (only this file)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def param_count(config) -> int:
    h, i, v = config.hidden_size, config.intermediate_size, config.vocab_size
    q = config.num_attention_heads * config.head_dim
    kv = config.num_key_value_heads * config.head_dim
    layer = h * q + 2 * h * kv + q * h + 3 * h * i + 2 * h
    return v * h * (1 if config.tie_word_embeddings else 2) + config.num_hidden_layers * layer + h


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ---------------------------------------------------------------------------
# Running a child with time and memory measurement
# ---------------------------------------------------------------------------

class Result(dict):
    pass


def _status_kb(pid: int, key: str) -> Optional[int]:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return None


def run_measured(cmd: List[str], log_path: str, preexec=None, poll_extra=None) -> Result:
    """Runs cmd, output to log_path; wall, user+sys and peak RSS of the child (getrusage
    via wait4), peak anonymous RSS sampled from /proc; kills the child (by its pid) if
    the machine's MemAvailable drops below RESERVE."""
    with open(log_path, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, preexec_fn=preexec)
        peak_anon = 0
        min_avail = mem_available()
        killed = None
        extra_peak = 0
        try:
            while True:
                pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                anon = _status_kb(proc.pid, "RssAnon")
                if anon:
                    peak_anon = max(peak_anon, anon)
                if poll_extra:
                    extra_peak = max(extra_peak, poll_extra() or 0)
                avail = mem_available()
                min_avail = min(min_avail, avail)
                if avail < RESERVE and killed is None:
                    killed = f"killed: MemAvailable {avail / GIB:.1f} GiB < {RESERVE / GIB:.1f} GiB reserve"
                    os.kill(proc.pid, signal.SIGKILL)
                time.sleep(0.1)
        except KeyboardInterrupt:
            os.kill(proc.pid, signal.SIGKILL)
            os.wait4(proc.pid, 0)
            raise
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    res = Result(wall_s=wall, cpu_s=ru.ru_utime + ru.ru_stime, user_s=ru.ru_utime,
                 sys_s=ru.ru_stime, maxrss=ru.ru_maxrss * 1024, peak_anon=peak_anon,
                 rc=proc.returncode, min_avail=min_avail, extra_peak=extra_peak)
    if killed:
        res["error"] = killed
    elif proc.returncode != 0:
        res["error"] = f"exit {proc.returncode}" + (" (SIGKILL: out of memory?)"
                                                    if proc.returncode == -9 else "")
    return res


def wait_for_binary(path: str, timeout: float = 600.0) -> bool:
    """Waits until path is executable and has not changed for 15 s (others may be
    relinking it); False after timeout."""
    deadline = time.time() + timeout
    said = False
    while time.time() < deadline:
        try:
            if os.access(path, os.X_OK) and time.time() - os.path.getmtime(path) > 15:
                return True
        except OSError:
            pass
        if not said:
            log(f"waiting for {path} (being rebuilt?)")
            said = True
        time.sleep(5)
    return False


def stage_times(log_path: str) -> Dict[str, float]:
    try:
        with open(log_path, errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        return {}
    m = re.findall(r"^time: (.*)$", text, re.M)
    if not m:
        return {}
    return {k: float(v.rstrip("s")) for k, v in re.findall(r"([\w+-]+)=([\d.]+s)", m[-1])}


def last_lines(path: str, n: int = 3) -> str:
    try:
        with open(path, errors="replace") as f:
            lines = [l.rstrip() for l in f if l.strip()]
        return " | ".join(lines[-n:])
    except FileNotFoundError:
        return ""


def tree_size(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            total += os.path.getsize(os.path.join(dirpath, name))
    return total


# ---------------------------------------------------------------------------
# Memory limit: cgroup v2 memory.max, or systemd-run --scope
# ---------------------------------------------------------------------------

def _mounts() -> List[Tuple[str, str, str]]:
    with open("/proc/self/mounts") as f:
        return [tuple(line.split()[1:4]) for line in f]  # mountpoint, fstype, options


class Limiter:
    """How this machine can limit a child's memory; .how is None with .why otherwise."""

    def __init__(self) -> None:
        self.how: Optional[str] = None
        self.why = ""
        self.cgroup: Optional[str] = None
        self.v2_mount: Optional[str] = None
        reasons = []
        try:
            with open("/proc/1/comm") as f:
                init = f.read().strip()
        except OSError:
            init = "?"
        v2 = [m for m, fs, _ in _mounts() if fs == "cgroup2"]
        if shutil.which("systemd-run") and os.path.isdir("/run/systemd/system"):
            self.how = "systemd-run"
            self.v2_mount = v2[0] if v2 else None
            return
        reasons.append(f"systemd is not running (PID 1 is {init}), so no systemd-run --scope")
        own = "/"
        with open("/proc/self/cgroup") as f:
            for line in f:
                hid, _, path = line.rstrip("\n").split(":", 2)
                if hid == "0":
                    own = path
        for mount in v2:
            try:
                with open(os.path.join(mount, "cgroup.controllers")) as f:
                    controllers = f.read().split()
            except OSError as e:
                reasons.append(f"{mount}: {e}")
                continue
            if "memory" not in controllers:
                reasons.append(f"cgroup2 at {mount} has no memory controller "
                               f"(controllers: {' '.join(controllers) or 'none'})")
                continue
            # A child of this process's cgroup, else a sibling: the first whose
            # subtree_control has memory and that we may write.
            mine = os.path.join(mount, own.lstrip("/"))
            for parent in (mine, os.path.dirname(mine.rstrip("/"))):
                try:
                    with open(os.path.join(parent, "cgroup.subtree_control")) as f:
                        enabled = f.read().split()
                except OSError as e:
                    reasons.append(f"{parent}: {e}")
                    continue
                if "memory" not in enabled:
                    reasons.append(f"memory not enabled in {parent}/cgroup.subtree_control")
                elif not os.access(parent, os.W_OK):
                    reasons.append(f"{parent} not writable")
                else:
                    self.how, self.cgroup = "cgroup2", parent
                    return
        if not v2:
            reasons.append("no cgroup2 mount")
        # cgroup v1: a child of this process's own memory cgroup (so the child stays
        # inside whatever accounts for this process), else of the hierarchy's root.
        v1 = [m for m, fs, opts in _mounts() if fs == "cgroup" and "memory" in opts.split(",")]
        for mount in v1:
            own_v1 = "/"
            with open("/proc/self/cgroup") as f:
                for line in f:
                    hid, ctrls, path = line.rstrip("\n").split(":", 2)
                    if "memory" in ctrls.split(","):
                        own_v1 = path
            for parent in (os.path.join(mount, own_v1.lstrip("/")), mount):
                if not os.path.exists(os.path.join(parent, "memory.limit_in_bytes")):
                    reasons.append(f"{parent}: no memory.limit_in_bytes")
                elif not os.access(parent, os.W_OK):
                    reasons.append(f"{parent} not writable")
                else:
                    self.how, self.cgroup = "cgroup1", parent.rstrip("/")
                    return
        if not v1:
            reasons.append("no cgroup v1 memory controller")
        self.why = "; ".join(reasons)

    def run(self, cmd: List[str], limit: int, log_path: str) -> Result:
        if self.how == "systemd-run":
            # The scope execs cmd in place: the pid measured is kiln-convert's.
            unit = f"kiln-convert-scale-{os.getpid()}"
            full = ["systemd-run", "--scope", "--quiet", f"--unit={unit}",
                    "-p", f"MemoryMax={limit}", "-p", "MemorySwapMax=0", "--"] + cmd
            found: List[str] = []

            def current() -> int:
                if not found and self.v2_mount:
                    for dirpath, dirs, _ in os.walk(self.v2_mount):
                        if os.path.basename(dirpath) == unit + ".scope":
                            found.append(dirpath)
                            break
                try:
                    with open(os.path.join(found[0], "memory.current")) as f:
                        return int(f.read())
                except (IndexError, OSError):
                    return 0

            res = run_measured(full, log_path, poll_extra=current)
            res["cgroup_peak"] = res["extra_peak"]
            res["oom_kill"] = 1 if res["rc"] == -9 else 0
            return res
        if self.how == "cgroup1":
            return self._run_v1(cmd, limit, log_path)
        group = os.path.join(self.cgroup, f"kiln-convert-scale-{os.getpid()}")
        os.mkdir(group)
        try:
            for name, value in (("memory.max", str(limit)), ("memory.swap.max", "0")):
                try:
                    with open(os.path.join(group, name), "w") as f:
                        f.write(value)
                except OSError:
                    if name == "memory.max":
                        raise

            def enter() -> None:
                with open(os.path.join(group, "cgroup.procs"), "w") as f:
                    f.write(str(os.getpid()))

            def current() -> int:
                with open(os.path.join(group, "memory.current")) as f:
                    return int(f.read())

            res = run_measured(cmd, log_path, preexec=enter, poll_extra=current)
            try:
                with open(os.path.join(group, "memory.peak")) as f:
                    res["cgroup_peak"] = int(f.read())
            except OSError:
                res["cgroup_peak"] = res["extra_peak"]
            with open(os.path.join(group, "memory.events")) as f:
                events = dict(line.split() for line in f)
            res["oom_kill"] = int(events.get("oom_kill", 0))
            return res
        finally:
            os.rmdir(group)


    def _run_v1(self, cmd: List[str], limit: int, log_path: str) -> Result:
        """cgroup v1: memory.limit_in_bytes (and memory.memsw.limit_in_bytes, so no
        swap), the child's pid into cgroup.procs before exec; afterwards the group's
        memory.max_usage_in_bytes (v1 charges page cache, the .pt's clean file pages
        included: those are reclaimed at the limit), memory.failcnt (how often the
        limit was hit, i.e. reclaim ran) and oom_kill from memory.oom_control."""
        group = os.path.join(self.cgroup, f"kiln-convert-scale-{os.getpid()}")
        os.mkdir(group)

        def read(name: str) -> str:
            with open(os.path.join(group, name)) as f:
                return f.read()

        try:
            with open(os.path.join(group, "memory.limit_in_bytes"), "w") as f:
                f.write(str(limit))
            memsw = os.path.exists(os.path.join(group, "memory.memsw.limit_in_bytes"))
            if memsw:
                with open(os.path.join(group, "memory.memsw.limit_in_bytes"), "w") as f:
                    f.write(str(limit))
            set_limit = int(read("memory.limit_in_bytes"))
            peaks = {"usage": 0, "rss_at_peak": 0, "cache_at_peak": 0, "rss": 0}

            def enter() -> None:
                with open(os.path.join(group, "cgroup.procs"), "w") as f:
                    f.write(str(os.getpid()))

            def current() -> int:
                usage = int(read("memory.usage_in_bytes"))
                stat = dict(line.split() for line in read("memory.stat").splitlines())
                rss = int(stat.get("total_rss", stat.get("rss", 0)))
                peaks["rss"] = max(peaks["rss"], rss)
                if usage > peaks["usage"]:
                    peaks.update(usage=usage, rss_at_peak=rss,
                                 cache_at_peak=int(stat.get("total_cache", stat.get("cache", 0))))
                return usage

            res = run_measured(cmd, log_path, preexec=enter, poll_extra=current)
            res["cgroup_peak"] = int(read("memory.max_usage_in_bytes"))
            res["cgroup_failcnt"] = max(int(read("memory.failcnt")),
                                        int(read("memory.memsw.failcnt")) if memsw else 0)
            oom = dict(line.split() for line in read("memory.oom_control").splitlines())
            res["oom_kill"] = int(oom.get("oom_kill", 1 if res["rc"] == -9 else 0))
            res["cgroup_limit"] = set_limit
            res["cgroup_memsw"] = memsw
            res["cgroup_rss_peak"] = peaks["rss"]          # sampled every 0.1 s
            res["cgroup_cache_at_peak"] = peaks["cache_at_peak"]
            res["cgroup"] = group
            return res
        finally:
            for _ in range(50):      # the last task may take a moment to leave
                try:
                    os.rmdir(group)
                    break
                except OSError:
                    time.sleep(0.1)


# ---------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------

def run_helper(args: List[str], log_path: str) -> Tuple[Result, Optional[dict]]:
    res = run_measured([sys.executable, os.path.abspath(__file__)] + args, log_path)
    data = None
    if not res.get("error"):
        with open(log_path) as f:
            lines = [l for l in f if l.startswith("{")]
        data = json.loads(lines[-1]) if lines else None
    return res, data


def ensure_model(size: str, recipe: str, work: str, force: bool) -> Tuple[Optional[str], dict]:
    """The cached model file (made if missing or stale); (path, info) or (None, {error})."""
    config = _kiln_config(size)
    params = param_count(config)
    streamed = size in STREAMED or STREAM_ALL or size in STREAM_SIZES
    meta = {"size": size, "recipe": recipe, "config": config.to_dict(), "seed": SEED,
            "calib": CALIB, "scripted": True, "streamed": streamed}
    models = os.path.join(work, "models")
    os.makedirs(models, exist_ok=True)
    path = os.path.join(models, f"{size}-{recipe}{'-streamed' if streamed and size not in STREAMED else ''}.pt")
    meta_path = path + ".json"
    if os.path.exists(path) and os.path.exists(meta_path):
        with open(meta_path) as f:
            old = json.load(f)
        old_meta = dict(old.get("meta", {}))
        old_meta.setdefault("streamed", False)     # files made before --streamed existed
        if old_meta == meta and old.get("bytes") == os.path.getsize(path):
            return path, dict(old, cached=True)
    expected = params * 4
    # model + floor copy + outputs; a streamed model is too big for the floor anyway
    need_disk = expected + 2 * GB if streamed else 2.6 * expected + 2 * GB
    if disk_free(work) < need_disk and not force:
        return None, {"error": f"disk: {disk_free(work) / GB:.1f} GB free in {work}, "
                               f"needs ~{need_disk / GB:.1f} GB"}
    need_mem = 3 * GIB if streamed else 1.4 * expected + 0.5 * GIB
    if mem_available() - RESERVE < need_mem and not force:
        return None, {"error": f"building needs ~{need_mem / GIB:.1f} GiB, MemAvailable "
                               f"{mem_available() / GIB:.1f} GiB"}
    log(f"building {size} {recipe} ({params / 1e9:.2f} B params, ~{expected / GB:.2f} GB"
        f"{', tensor by tensor' if streamed else ''}) -> {path}")
    res, data = run_helper(["--_build", size, recipe, path], path + ".log")
    if res.get("error") or data is None:
        return None, {"error": f"build {res.get('error', 'no result')}: {last_lines(path + '.log')}"}
    info = {"meta": meta, "bytes": os.path.getsize(path), "params": params,
            "build_wall_s": res["wall_s"], "build_maxrss": res["maxrss"], **data}
    with open(meta_path, "w") as f:
        json.dump(info, f, indent=1)
    log(f"built in {res['wall_s']:.0f} s (peak RSS {res['maxrss'] / GIB:.1f} GiB)")
    return path, dict(info, cached=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1b,3b", help="comma list of: " + ", ".join(SIZES)
                        + " (8b: Llama-3.1-8B's shape, written tensor by tensor)")
    parser.add_argument("--recipes", default="w4a16,w8a16")
    parser.add_argument("--work", default="/tmp/kiln-convert-scale",
                        help="work dir (models are cached in WORK/models)")
    parser.add_argument("--quick", action="store_true",
                        help="the kiln_torch 'small' shape only (end-to-end check, ~1 min)")
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    parser.add_argument("--limit-size", help="size converted under a memory limit "
                        "(default: 3b if in --sizes, else the last size)")
    parser.add_argument("--limit", type=lambda v: [float(x) for x in v.split(",") if x.strip()],
                        help="the limit in GB, or a comma list of limits each run in turn (default: half the .pt, at least 0.5)")
    parser.add_argument("--no-limit", action="store_true", help="skip the memory-limit run")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the floor and each conversion N times and keep the fastest "
                             "(for a loaded machine)")
    parser.add_argument("--no-split", action="store_true", help="skip --split layers")
    parser.add_argument("--warm", action="store_true",
                        help="do not evict the .pt from the page cache before each measurement")
    parser.add_argument("--keep-outputs", action="store_true",
                        help="keep the .circle outputs in WORK/out (deleted by default)")
    parser.add_argument("--force", action="store_true",
                        help="run steps the memory/disk estimate says do not fit "
                             "(the watchdog still kills a child when MemAvailable < 1.5 GiB)")
    parser.add_argument("--streamed", nargs="?", const="all", metavar="SIZES",
                        help="build every size (or only the comma list SIZES) tensor by tensor "
                             "(as 8b always is): ~3 GiB of memory at any size; the models are "
                             "cached apart from the others")
    parser.add_argument("--_build", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--_floor", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._build:
        size, recipe, path = args._build
        env = os.environ.get("KILN_SCALE_STREAMED", "")   # set by --streamed: 1 or sizes
        if size in STREAMED or env == "1" or size in env.split(","):
            return helper_build_streamed(size, recipe, path)
        return helper_build(size, recipe, path)
    if args._floor:
        return helper_floor(*args._floor)

    global STREAM_ALL
    STREAM_ALL = args.streamed == "all"
    if STREAM_ALL:
        os.environ["KILN_SCALE_STREAMED"] = "1"
    elif args.streamed:
        STREAM_SIZES.update(x.strip() for x in args.streamed.split(",") if x.strip())
        os.environ["KILN_SCALE_STREAMED"] = ",".join(sorted(STREAM_SIZES))
    sizes = ["small"] if args.quick else [s.strip() for s in args.sizes.split(",") if s.strip()]
    recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
    for s in sizes:
        if s not in SIZES:
            parser.error(f"unknown size {s!r}; known: {', '.join(SIZES)}")
    convert = os.path.join(args.build_dir, "bin", "kiln-convert")
    if not os.access(convert, os.X_OK):
        parser.error(f"no {convert}")
    work = os.path.abspath(args.work)
    out_dir = os.path.join(work, "out")
    logs = os.path.join(work, "logs")
    os.makedirs(out_dir, exist_ok=True)
    os.makedirs(logs, exist_ok=True)
    help_text = subprocess.run([convert, "--help"], capture_output=True, text=True).stdout
    has_split = re.search(r"^\s*--split\b", help_text, re.M) is not None
    limit_size = args.limit_size or ("3b" if "3b" in sizes else sizes[-1])
    limiter = None if args.no_limit else Limiter()
    start = time.time()
    load_at_start = loadavg()
    log(f"kiln-convert {convert} (mtime {time.ctime(os.path.getmtime(convert))}); "
        f"split: {'available' if has_split else 'not available'}; load {loadavg()}; "
        f"MemAvailable {mem_available() / GIB:.1f} GiB; disk free {disk_free(work) / GB:.0f} GB")

    rows: List[dict] = []
    stages: List[Tuple[str, Dict[str, float]]] = []
    ratio_estimate = 2.0     # peak RSS / .pt assumed before a conversion has been measured
    points: List[Tuple[str, int, int, int]] = []   # (size, .pt bytes, peak RSS, peak anon)

    def convert_row(size, recipe, pt, pt_bytes, floor, kind, extra_args, limit=None):
        nonlocal ratio_estimate
        name = f"{size}-{recipe}-{kind}"
        row = {"size": size, "recipe": recipe, "run": kind, "pt": pt_bytes, "floor": floor}
        if kind.startswith("limit") and limit is not None:
            row["run"] = f"limit {gb(limit)}GB"
        need = ratio_estimate * pt_bytes + 0.3 * GIB
        if limit is None and mem_available() - RESERVE < need and not args.force:
            row["error"] = (f"skipped: needs ~{need / GIB:.1f} GiB ({ratio_estimate:.2f}x the .pt), "
                            f"MemAvailable {mem_available() / GIB:.1f} GiB (--force to try)")
            rows.append(row)
            log(row["error"])
            return row
        if kind == "split":
            target_dir = os.path.join(out_dir, name)
            shutil.rmtree(target_dir, ignore_errors=True)
            os.makedirs(target_dir)
            target = target_dir      # --split layers: -o is the directory (manifest.json + files)
        else:
            target = os.path.join(out_dir, name + ".circle")
            if os.path.exists(target):
                os.unlink(target)
        cmd = [convert, pt, "-o", target] + CONVERT_ARGS + extra_args
        log(f"{' '.join(cmd)}" + (f" (limit {limit / GB:.1f} GB, {limiter.how})" if limit else ""))
        log_path = os.path.join(logs, name + ".log")
        res = None
        for attempt in range(1 if limit else args.repeat):
            if not args.warm:
                evict(pt)
            if not wait_for_binary(convert):
                one = Result(error=f"{convert} not executable for 10 min", wall_s=0.0, cpu_s=0.0,
                             maxrss=0, peak_anon=0)
            else:
                built = os.path.getmtime(convert)
                try:
                    one = (limiter.run(cmd, limit, log_path) if limit
                           else run_measured(cmd, log_path))
                except OSError as e:   # relinked between the check and the exec
                    one = Result(error=f"cannot run {convert}: {e}", wall_s=0.0, cpu_s=0.0,
                                 maxrss=0, peak_anon=0)
                one["built"] = built
            if args.repeat > 1 and not limit:
                log(f"  run {attempt + 1}: wall {one['wall_s']:.1f} s")
            if res is None or one.get("error") or one["wall_s"] < res["wall_s"]:
                res = one
            if one.get("error"):
                break
        row.update(res)
        if res.get("built"):
            row["note"] = "kiln-convert built " + time.strftime("%H:%M:%S", time.gmtime(res["built"]))
        row["out"] = tree_size(target_dir if kind == "split" else target) if not res.get("error") else 0
        if res.get("error"):
            row["error"] = f"{res['error']}: {last_lines(log_path)}"
        stages.append((name, stage_times(log_path)))
        if not args.keep_outputs:
            if kind == "split":
                shutil.rmtree(target_dir, ignore_errors=True)
            elif os.path.exists(target):
                os.unlink(target)
        if not res.get("error") and kind == "whole":
            ratio_estimate = max(ratio_estimate if points else 0, res["maxrss"] / pt_bytes)
            points.append((size, pt_bytes, res["maxrss"], res["peak_anon"]))
        log(f"  wall {res['wall_s']:.1f} s, cpu {res['cpu_s']:.1f} s, peak RSS "
            f"{res['maxrss'] / GIB:.2f} GiB{', ' + row['error'] if row.get('error') else ''}")
        rows.append(row)
        return row

    limit_rows: List[dict] = []
    limit_note = None
    limit_done = False
    for size in sizes:
        for recipe in recipes:
            pt, info = ensure_model(size, recipe, work, args.force)
            if pt is None:
                rows.append({"size": size, "recipe": recipe, "run": "build", "error": info["error"]})
                log(info["error"])
                continue
            pt_bytes = os.path.getsize(pt)
            need = pt_bytes + 0.5 * GIB      # torch.jit.load reads every storage
            # --force does not make a floor bigger than the machine's memory fit (8b).
            if mem_available() - RESERVE < need and (not args.force
                                                     or need > meminfo()["MemTotal"]):
                rows.append({"size": size, "recipe": recipe, "run": "floor", "pt": pt_bytes,
                             "error": f"skipped: torch.jit.load needs ~{need / GIB:.1f} GiB, "
                                      f"MemAvailable {mem_available() / GIB:.1f} GiB"})
                log(rows[-1]["error"])
                convert_row(size, recipe, pt, pt_bytes, None, "whole", [])
                if has_split and not args.no_split:
                    convert_row(size, recipe, pt, pt_bytes, None, "split", ["--split", "layers"])
                continue
            log(f"I/O floor of {pt} ({pt_bytes / GB:.2f} GB)")
            res, data = None, None
            for attempt in range(args.repeat):
                if not args.warm:
                    evict(pt)
                one, one_data = run_helper(["--_floor", pt, os.path.join(work, "floor.bin")],
                                           os.path.join(logs, f"{size}-{recipe}-floor.log"))
                if one_data is None:
                    res, data = one, None
                    break
                if args.repeat > 1:
                    log(f"  run {attempt + 1}: {one_data['wall_s']:.1f} s")
                if data is None or one_data["wall_s"] < data["wall_s"]:
                    res, data = one, one_data
            if data is None:
                rows.append({"size": size, "recipe": recipe, "run": "floor", "pt": pt_bytes,
                             "error": res.get("error", "no result")})
                continue
            floor = data["wall_s"]
            rows.append({"size": size, "recipe": recipe, "run": "floor", "pt": pt_bytes,
                         "floor": floor, "wall_s": floor, "cpu_s": data["cpu_s"],
                         "maxrss": res["maxrss"], "peak_anon": res["peak_anon"],
                         "out": data["bytes"],
                         "note": f"load {data['load_s']:.1f} s + write {data['write_s']:.1f} s"})
            log(f"  floor {floor:.1f} s (load {data['load_s']:.1f} s, write {data['write_s']:.1f} s)")
            convert_row(size, recipe, pt, pt_bytes, floor, "whole", [])
            if args.no_split:
                pass
            elif has_split:
                convert_row(size, recipe, pt, pt_bytes, floor, "split", ["--split", "layers"])
            else:
                rows.append({"size": size, "recipe": recipe, "run": "split",
                             "error": "split: not available"})
            if limiter is not None and size == limit_size and not limit_done:
                limit_done = True
                # Default: half the .pt, at least 0.5 GB (LibTorch alone is ~0.25 GB).
                limits = ([int(l * GB) for l in args.limit] if args.limit
                          else [max(pt_bytes // 2, int(0.5 * GB))])
                for limit in limits:
                    if limiter.how is None:
                        limit_note = f"cgroup limit: not supported here ({limiter.why})"
                        rows.append({"size": size, "recipe": recipe,
                                     "run": f"limit {gb(limit)}GB",
                                     "error": "cgroup limit: not supported here (reason below)"})
                        break
                    one = convert_row(size, recipe, pt, pt_bytes, floor,
                                      f"limit{len(limit_rows)}", [], limit)
                    one["limit"] = limit
                    limit_rows.append(one)

    # ---------------------------------------------------------------- report
    head = subprocess.run(["git", "-C", ROOT, "log", "-1", "--format=%h"], capture_output=True,
                          text=True).stdout.strip() or "?"
    print()
    builds = sorted({r["built"] for r in rows if r.get("built")})
    print(f"{convert}: "
          + (", ".join(time.strftime("built %Y-%m-%d %H:%M:%S UTC", time.gmtime(b)) for b in builds)
             or "not run")
          + (" (REBUILT during the run: see each row)" if len(builds) > 1 else "")
          + f"; repo HEAD {head} at the end (the binary may hold uncommitted work)")
    print(f"kiln-convert MODEL.pt -o OUT {' '.join(CONVERT_ARGS)}   "
          f"({'warm' if args.warm else 'cold'} page cache; "
          f"{f'fastest of {args.repeat}; ' if args.repeat > 1 else ''}load {load_at_start} at start, "
          f"{loadavg()} at end; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    header = ("model", "recipe", "run", ".pt GB", "wall s", "/floor", "cpu s", "/floor",
              "peakRSS GB", "/.pt", "anon GB", "out GB")
    fmt = "{:<6} {:<6} {:<12} {:>7} {:>8} {:>7} {:>8} {:>7} {:>10} {:>6} {:>8} {:>7}"
    print(fmt.format(*header))
    for r in rows:
        if r.get("error") and not r.get("wall_s"):
            print(fmt.format(r["size"], r["recipe"], r["run"], *[""] * 9).rstrip() + "  " + r["error"])
            continue
        floor = r.get("floor")
        pt = r.get("pt")
        cells = [r["size"], r["recipe"], r["run"], gb(pt) if pt else "",
                 f"{r['wall_s']:.1f}", f"{r['wall_s'] / floor:.2f}x" if floor else "",
                 f"{r['cpu_s']:.1f}", f"{r['cpu_s'] / floor:.2f}x" if floor else "",
                 gb(r["maxrss"]), f"{r['maxrss'] / pt:.2f}x" if pt else "",
                 gb(r["peak_anon"]) if r.get("peak_anon") else "",
                 gb(r["out"]) if r.get("out") else ""]
        line = fmt.format(*cells)
        if r.get("note"):
            line += "  " + r["note"]
        if r.get("error"):
            line += "  " + r["error"]
        print(line)

    if stages:
        print()
        print("stages (s, from kiln-convert's 'time:' line)")
        for name, st in stages:
            print(f"  {name:<20} " + (" ".join(f"{k}={v:g}" for k, v in st.items()) or "-"))

    print()
    if limit_note:
        print(limit_note)
    elif limit_rows:
        for limit_row in limit_rows:
            ok = not limit_row.get("error") and not limit_row.get("oom_kill")
            peak = limit_row.get("cgroup_peak") or limit_row.get("maxrss", 0)
            extra = ""
            if limiter.how == "cgroup1":
                extra = (f", memory.failcnt {limit_row.get('cgroup_failcnt', 0)}, "
                         f"oom_kill {limit_row.get('oom_kill', 0)}, group anon peak "
                         f"{limit_row.get('cgroup_rss_peak', 0) / GB:.2f} GB (sampled), "
                         f"page cache at the peak {limit_row.get('cgroup_cache_at_peak', 0) / GB:.2f} GB"
                         f"{'' if limit_row.get('cgroup_memsw') else ', no memsw limit'}")
            print(f"memory limit ({limiter.how}): {limit_row['size']} {limit_row['recipe']}, "
                  f".pt {limit_row['pt'] / GB:.2f} GB under {limit_row['limit'] / GB:.2f} GB: "
                  f"{'PASS' if ok else 'FAIL'}, group max usage {peak / GB:.2f} GB "
                  f"(process peak RSS {limit_row.get('maxrss', 0) / GB:.2f} GB, wall "
                  f"{limit_row.get('wall_s', 0):.1f} s{extra})")
    elif args.no_limit:
        print("memory limit: skipped (--no-limit)")
    else:
        print(f"memory limit: not run ({limit_size} not converted in this run)")

    if points:
        for label, idx in (("peak RSS", 2), ("peak anonymous RSS (what a limit cannot reclaim)", 3)):
            a, b = fit([(p[0], p[1], p[idx]) for p in points])
            if b <= 0:
                continue
            largest = (24 * GIB - a) / b
            print(f"largest model in 24 GiB by {label}: .pt {largest / GB:.1f} GB "
                  f"(~{largest / 4 / 1e9:.1f} B fp32 params; need = {a / GIB:.2f} GiB + "
                  f"{b:.2f} x .pt, fitted over {len({p[0] for p in points})} size(s))")
    print(f"total {time.time() - start:.0f} s; logs in {logs}")
    with open(os.path.join(work, "results.json"), "w") as f:
        json.dump({"rows": rows, "stages": stages, "limit_note": limit_note}, f, indent=1,
                  default=str)
    return 0 if not any(r.get("error") and not r["error"].startswith(("split: not", "cgroup limit"))
                        for r in rows) else 1


def gb(n: float) -> str:
    """Bytes as GB (1e9): 2 decimals, 3 significant digits below 0.1 GB."""
    return f"{n / GB:.2f}" if n >= 0.1 * GB else f"{n / GB:.3g}"


def fit(points: List[Tuple[str, int, int]]) -> Tuple[float, float]:
    """need = a + b * .pt bytes over (size, .pt bytes, need): per size the worst recipe;
    least squares over two or more sizes, else proportional (a = 0)."""
    worst: Dict[str, Tuple[float, float]] = {}
    for size, x, y in points:
        if size not in worst or y > worst[size][1]:
            worst[size] = (x, y)
    if len(worst) < 2:
        x, y = next(iter(worst.values()))
        return 0.0, y / x
    n = len(worst)
    mx = sum(x for x, _ in worst.values()) / n
    my = sum(y for _, y in worst.values()) / n
    b = (sum((x - mx) * (y - my) for x, y in worst.values())
         / sum((x - mx) ** 2 for x, _ in worst.values()))
    return my - b * mx, b


if __name__ == "__main__":
    sys.exit(main())
