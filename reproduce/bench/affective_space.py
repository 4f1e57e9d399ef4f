"""Building AffectiveSpace: time and peak memory to project the whole proxy AffectNet to k dimensions.

    python -m reproduce.bench.affective_space                       # k = 100, every CPU method
    python -m reproduce.bench.affective_space --k 50 100 200 --repeats 5
    python -m reproduce.bench.affective_space --matrix .cache/affective_space/affectnet_proxy-<id>.npz --methods gpu

Methods, all on the same matrix (200,000 x 260,819, nnz 2.5 M) and the same k:
  twin            the CPU twin of the CUDA kernel, Achlioptas entries (density 1/3) -- the suite's RP
  sklearn_third   scikit-learn SparseRandomProjection(density=1/3, dense_output=True): the same law
  twin_auto       the CPU twin with very sparse entries (density 1/sqrt(d))
  sklearn_auto    SparseRandomProjection with its default density="auto" = 1/sqrt(d): the same law
  svd             TruncatedSVD(algorithm="randomized", n_iter=5): AffectiveSpace 1's baseline
  gpu             the CUDA kernel (only when a GPU is present)
scikit-learn is timed as fit_transform (it has to draw its matrix; the twin draws it on the fly).

How it measures: each method runs in a fresh Python process that first loads the cached matrix and
imports what it needs. Peak memory = growth of the process's resident-set high-water mark during the
first call (VmHWM reset through /proc/self/clear_refs), and separately tracemalloc's peak of traced
(numpy/scipy) allocations; for the GPU, torch's max_memory_allocated growth. Time = median wall clock
of --repeats further calls (GPU: after a warm-up call, synchronised), with the process CPU time of the
same calls beside it (all threads: the twin hashes on up to 4 threads, SVD's BLAS uses its own). SVD is timed once by default
(--svd-repeats). JL = mean |ratio - 1| of squared distances on 5,000 random concept pairs, to show what
each law does to distances. Not a test: numbers move with the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

CPU_METHODS = ["twin", "sklearn_third", "twin_auto", "sklearn_auto", "svd"]


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _load(path: str):
    import numpy as np
    import scipy.sparse as sp

    with np.load(path) as z:
        return sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))


def _runner(method: str, matrix, k: int, seed: int):

    from kernels.random_projection_cpu import random_projection

    if method == "twin":
        return lambda: random_projection(matrix, k, seed, "achlioptas")
    if method == "twin_auto":
        return lambda: random_projection(matrix, k, seed, "very_sparse")
    if method.startswith("sklearn"):
        from sklearn.random_projection import SparseRandomProjection

        density = 1 / 3 if method == "sklearn_third" else "auto"
        return lambda: SparseRandomProjection(k, density=density, dense_output=True,
                                              random_state=seed).fit_transform(matrix)
    if method == "svd":
        from sklearn.decomposition import TruncatedSVD

        return lambda: TruncatedSVD(k, algorithm="randomized", n_iter=5, random_state=seed).fit_transform(matrix)
    raise ValueError(method)


def _jl(matrix, y, seed: int = 0, n_pairs: int = 5000) -> float:
    import numpy as np

    from lightning_modules.affective_space.reasoning import sampled_pairs, sparse_sq_distances

    i, j = sampled_pairs(matrix.shape[0], n_pairs, np.random.default_rng(seed))
    before = sparse_sq_distances(matrix, i, j)
    keep = before > 0
    after = ((y[i[keep]] - y[j[keep]]) ** 2).sum(1)
    return float(np.mean(np.abs(after / before[keep] - 1.0)))


def worker(method: str, path: str, k: int, repeats: int, seed: int) -> dict:
    import gc

    import numpy as np

    matrix = _load(path)
    if method == "gpu":
        return _gpu_worker(matrix, k, repeats, seed)
    run = _runner(method, matrix, k, seed)
    gc.collect()
    hwm_ok = _reset_hwm()
    base = _status_kb("VmRSS")
    y = np.asarray(run())
    rss_peak = (_status_kb("VmHWM") - base) / 1024 if hwm_ok else float("nan")
    times, cpu = [], []
    for _ in range(repeats):
        del y
        gc.collect()
        start, start_cpu = time.perf_counter(), time.process_time()
        y = np.asarray(run())
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    del y
    gc.collect()
    tracemalloc.start()
    y = np.asarray(run())
    traced = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return {"method": method, "k": k, "time_s": statistics.median(times), "times": times,
            "cpu_s": statistics.median(cpu), "rss_peak_mb": rss_peak, "traced_peak_mb": traced, "jl": _jl(matrix, y.astype(np.float64))}


def _gpu_worker(matrix, k: int, repeats: int, seed: int) -> dict:
    import numpy as np
    import torch

    from kernels.random_projection import random_projection_cuda

    csr = matrix.tocsr()
    csr.sort_indices()
    t = [torch.from_numpy(np.ascontiguousarray(a, dtype=dt)).cuda()
         for a, dt in ((csr.indptr, np.int32), (csr.indices, np.int32), (csr.data, np.float32))]
    random_projection_cuda(*t, csr.shape[1], k, seed)  # warm-up: NVRTC compile, module load
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        y = random_projection_cuda(*t, csr.shape[1], k, seed)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    return {"method": "gpu", "k": k, "time_s": statistics.median(times), "times": times, "cpu_s": float("nan"),
            "rss_peak_mb": float("nan"),
            "traced_peak_mb": peak, "jl": _jl(csr, y.cpu().numpy().astype(np.float64)),
            "device": torch.cuda.get_device_name()}


def _ensure_matrix(args) -> str:
    if args.matrix:
        return args.matrix
    from lightning_modules.affective_space.data import load_affective_data
    from lightning_modules.affective_space.datamodule import resolve_wordnet_affect
    from reproduce import REPO_ROOT

    data_dir = os.environ.get("REPRO_DATA_DIR", str(REPO_ROOT / "data"))
    cache = Path(args.cache_dir or REPO_ROOT / ".cache")
    wna = resolve_wordnet_affect(data_dir, args.data_mirror or os.environ.get("REPRO_DATA_MIRROR"))
    groups = ("relations", "reverse_relations", "self", "words") + (("wordnet_affect",) if wna else ())
    load_affective_data(cache, wna, None, groups)
    files = sorted((cache / "affective_space").glob("affectnet_proxy-*.npz"), key=os.path.getmtime)
    return str(files[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, nargs="+", default=[100])
    parser.add_argument("--methods", nargs="+", default=None, help=f"default: {' '.join(CPU_METHODS)} (+ gpu if present)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--svd-repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--matrix", default=None, help="a cached matrix (.npz) instead of building/reading the cache")
    parser.add_argument("--data-mirror", default=None)
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--json", default=None, help="also write the rows here")
    parser.add_argument("--worker", nargs=5, metavar=("METHOD", "PATH", "K", "REPEATS", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        method, path, k, repeats, seed = args.worker
        print(json.dumps(worker(method, path, int(k), int(repeats), int(seed))))
        return 0

    methods = args.methods
    if methods is None:
        methods = list(CPU_METHODS)
        try:
            import torch

            if torch.cuda.is_available():
                methods.append("gpu")
        except ImportError:
            pass
    path = _ensure_matrix(args)
    import numpy as np

    with np.load(path) as z:
        shape, nnz = tuple(z["shape"]), len(z["data"])
    rows = []
    for k in args.k:
        for method in methods:
            repeats = args.svd_repeats if method == "svd" else args.repeats
            cmd = [sys.executable, "-m", "reproduce.bench.affective_space", "--worker", method, path, str(k),
                   str(repeats), str(args.seed)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{method} k={k} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
                continue
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            r = rows[-1]
            print(f"  done {method:13s} k={k}: {r['time_s']:.3f} s", file=sys.stderr, flush=True)

    print(f"\nmatrix {shape[0]:,} x {shape[1]:,}, nnz {nnz:,} ({path})")
    print(f"{'k':>4} {'method':14} {'time s':>9} {'CPU s':>8} {'RSS peak MB':>12} {'traced MB':>10} {'JL |r-1|':>9}"
          "  vs its reference (time, traced mem)")
    by = {(r["k"], r["method"]): r for r in rows}
    pair = {"sklearn_third": "twin", "sklearn_auto": "twin_auto", "svd": "twin", "gpu": "twin"}
    for r in rows:
        ref = by.get((r["k"], pair.get(r["method"], "")))
        note = ""
        if ref:
            note = f"  {r['time_s'] / ref['time_s']:.1f}x time, {r['traced_peak_mb'] / ref['traced_peak_mb']:.2f}x mem of {ref['method']}"
        print(f"{r['k']:>4} {r['method']:14} {r['time_s']:9.3f} {r['cpu_s']:8.3f} {r['rss_peak_mb']:12.1f} {r['traced_peak_mb']:10.1f} "
              f"{r['jl']:9.3f}{note}")
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(f"{i['internal_api']} {i['num_threads']} threads" for i in threadpool_info())
    except ImportError:
        blas = "unknown"
    print(f"\nmeasured on {platform.node()}: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
          f"BLAS: {blas}; python {platform.python_version()}")
    print("time: median wall clock of --repeats calls in a fresh process per method (svd: --svd-repeats); CPU s: "
          "process CPU time of those calls, all threads (robust to a loaded machine; twin hashes on up to 4 threads, "
          "BLAS threads count for svd); memory: RSS high-water growth of the first call and tracemalloc peak of a "
          "separate call (GPU: torch max_memory_allocated)")
    print("command: python -m reproduce.bench.affective_space " + " ".join(argv if argv is not None else sys.argv[1:]))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
