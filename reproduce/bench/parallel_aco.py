"""Paper 5 benchmark: time per MMAS iteration and tours per second against the number of cities.

    python -m reproduce.bench.parallel_aco                       # CPU: twin, sequential, C reference
    python -m reproduce.bench.parallel_aco --gpu                 # + the CUDA kernels (torch, cupy, numpy only)
    python -m reproduce.bench.parallel_aco --instances eil51,kroA100 --iterations 10 --methods twin_air,c_ref

Methods (all on the authors' MMAS, mmas_air: m = n ants, full-row selection, same pheromone update):
  twin_air / twin_roulette  the CPU twin (NumPy, vectorised over ants)     kernels/aco_cpu.py
  sequential                one ant at a time, textbook roulette (NumPy per step; the paper's baseline)
  c_ref                     a compiled single-threaded C MMAS with the same full-row roulette
                            (compiled here with gcc -O2 when a C compiler exists; source below)
  gpu_air / gpu_roulette    the CUDA kernels kernels/air_select.cu            (--gpu)
An iteration = probability matrix + all m tours + their lengths + pheromone update. The first
iteration (compilation, warm-up) is left out of the mean. Instances beyond the embedded six come from
the TSPLIB mirror ($REPRO_DATA_MIRROR, or ../shared/data beside the repository); without it (or
without tsplib95, as on the GPU check machine) a uniform random EUC_2D instance of the same size
stands in, marked with '~'. This is a measurement, not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DEFAULT_INSTANCES = "eil51,kroA100,ch150,a280,lin318,pcb442,rat783,pr1002"
CPU_METHODS = ("twin_air", "twin_roulette", "sequential", "c_ref")
GPU_METHODS = ("gpu_air", "gpu_roulette")

# The reference the issue compares the twin with: one ant at a time, full-row roulette on the shared
# column-normalised P = tau * eta^2, directed iteration-best deposit, the authors' tau limits.
C_SOURCE = r"""
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static uint64_t state;
static double uniform(void) {  /* SplitMix64 */
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull; z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return ((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
int main(int argc, char **argv) {
    int n = atoi(argv[2]), m = n, iters = atoi(argv[3]);
    state = (uint64_t)atoll(argv[4]);
    int *D = malloc(sizeof(int) * n * n); FILE *f = fopen(argv[1], "rb");
    if (!f || fread(D, sizeof(int), (size_t)n * n, f) != (size_t)n * n) return 2;
    fclose(f);
    float *tau = malloc(sizeof(float) * n * n), *eta2 = malloc(sizeof(float) * n * n), *P = malloc(sizeof(float) * n * n);
    double *colsum = malloc(sizeof(double) * n); int *tours = malloc(sizeof(int) * m * n);
    long long *len = malloc(sizeof(long long) * m); char *open_ = malloc(n);
    double rho = 0.02, root = pow(0.05, 1.0 / n), ratio = (1 - root) / ((n - 3) * root);
    long long l0 = 0; for (int i = 0; i < n; ++i) l0 += D[i * n + (i + 1) % n];
    for (int i = 0; i < n * n; ++i) {
        int d = D[i]; eta2[i] = (i / n == i % n) ? 0.f : 1.f / ((float)(d > 0 ? d : 0.1) * (float)(d > 0 ? d : 0.1));
        tau[i] = (i / n == i % n) ? 0.f : (float)(1.0 / (rho * l0));
    }
    double total_t = 0; int timed = 0;
    for (int it = 0; it < iters; ++it) {
        double t0 = now();
        for (int j = 0; j < n; ++j) colsum[j] = 0;
        for (int i = 0; i < n * n; ++i) { P[i] = tau[i] * eta2[i]; colsum[i % n] += P[i]; }
        for (int i = 0; i < n * n; ++i) P[i] = (float)(P[i] / colsum[i % n]);
        for (int k = 0; k < m; ++k) {
            int *t = tours + k * n; for (int j = 0; j < n; ++j) open_[j] = 1;
            int cur = (int)(uniform() * n); t[0] = cur; open_[cur] = 0; len[k] = 0;
            for (int s = 1; s < n; ++s) {
                const float *row = P + cur * n; double tot = 0;
                for (int j = 0; j < n; ++j) if (open_[j]) tot += row[j];
                double r = uniform() * tot, acc = 0; int nxt = -1;
                for (int j = 0; j < n; ++j) if (open_[j]) { nxt = j; acc += row[j]; if (acc > r) break; }
                t[s] = nxt; open_[nxt] = 0; len[k] += D[cur * n + nxt]; cur = nxt;
            }
            len[k] += D[cur * n + t[0]];
        }
        int ib = 0; for (int k = 1; k < m; ++k) if (len[k] < len[ib]) ib = k;
        float tmax = (float)(1.0 / (rho * len[ib])), tmin = (float)(tmax * ratio);
        for (int i = 0; i < n * n; ++i) tau[i] *= (float)(1 - rho);
        for (int s = 0; s < n; ++s) tau[tours[ib * n + s] * n + tours[ib * n + (s + 1) % n]] += (float)(1.0 / len[ib]);
        long long not_min = 0;
        for (int i = 0; i < n * n; ++i) {
            if (tau[i] < tmin && tau[i] != 0) tau[i] = tmin;
            if (tau[i] > tmax) tau[i] = tmax;
            not_min += tau[i] != tmin;
        }
        if ((double)not_min / n - 2 < 0.01) for (int i = 0; i < n * n; ++i) tau[i] = (i / n == i % n) ? 0.f : tmax;
        double dt = now() - t0;
        if (it > 0 || iters == 1) { total_t += dt; ++timed; }
    }
    printf("%.6f %d\n", 1e3 * total_t / timed, timed);
    return 0;
}
"""


def _mirror_folder() -> Path | None:
    from reproduce import REPO_ROOT

    for candidate in (os.environ.get("REPRO_DATA_MIRROR"), str(REPO_ROOT.parent / "shared" / "data")):
        if candidate and (Path(candidate) / "tsplib").is_dir():
            return Path(candidate)
    return None


def load(name: str):
    """(instance, label): the TSPLIB instance, or a random one of the same size marked '~'."""
    from lightning_modules.parallel_aco.tsplib import EMBEDDED, random_euclidean

    digits = re.search(r"(\d+)$", name)
    n = int(digits.group(1)) if digits else 0
    try:
        import tsplib95  # noqa: F401 - the parser the embedded files need

        from lightning_modules.parallel_aco.tsplib import load_instance

        mirror = _mirror_folder()
        if name in EMBEDDED or mirror is not None:
            instance = load_instance(name, mirror=str(mirror) if mirror else None)
            return instance, name
    except Exception as err:  # noqa: BLE001 - any reason the real file is unavailable
        print(f"[bench] {name}: {type(err).__name__}: {err}; using a random instance of the same size", file=sys.stderr)
    if n < 5:
        raise SystemExit(f"cannot guess the size of '{name}' for a random stand-in")
    return random_euclidean(n, seed=0, name=f"~{name}"), f"~{name}"


def build_c_reference(workdir: Path) -> Path | None:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        return None
    src, exe = workdir / "mmas_ref.c", workdir / "mmas_ref"
    src.write_text(C_SOURCE)
    result = subprocess.run([cc, "-O2", "-std=c11", str(src), "-o", str(exe), "-lm"], capture_output=True, text=True)
    if result.returncode != 0:
        print(f"[bench] C reference did not compile:\n{result.stderr}", file=sys.stderr)
        return None
    return exe


def time_c(exe: Path, instance, iterations: int, workdir: Path) -> tuple[float, int]:
    path = workdir / "D.bin"
    instance.distance_matrix().astype(np.int32).tofile(path)
    out = subprocess.run([str(exe), str(path), str(instance.n), str(iterations), "1"], capture_output=True,
                         text=True, check=True).stdout.split()
    return float(out[0]), int(out[1])


def time_python(instance, method: str, iterations: int, max_seconds: float) -> tuple[float, int]:
    import torch

    from lightning_modules.parallel_aco.module import ParallelACO

    selection = method.split("_", 1)[1] if "_" in method else method
    device = torch.device("cuda" if method.startswith("gpu") else "cpu")
    module = ParallelACO({"variant": "mmas_air", "stop_branching": None}, selection=selection, seed=0,
                         iterations=iterations)
    module.prepare(instance, device)
    start = time.perf_counter()
    while not module.done:
        module.iterate()
        if time.perf_counter() - start > max_seconds and len(module.iteration_s) >= 2:
            break
    steady = module.iteration_s[1:] or module.iteration_s
    return 1e3 * float(np.mean(steady)), len(steady)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default=DEFAULT_INSTANCES)
    parser.add_argument("--iterations", type=int, default=6, help="iterations per cell (the first is not timed)")
    parser.add_argument("--max-seconds", type=float, default=30.0, help="stop a cell after this long (>= 2 iterations)")
    parser.add_argument("--methods", default=None, help=f"comma list from {', '.join(CPU_METHODS + GPU_METHODS)}")
    parser.add_argument("--gpu", action="store_true", help="also time the CUDA kernels")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    methods = args.methods.split(",") if args.methods else list(CPU_METHODS) + (list(GPU_METHODS) if args.gpu else [])
    if any(m.startswith("gpu") for m in methods) and not torch.cuda.is_available():
        print("error: --gpu needs a CUDA device (torch.cuda.is_available() is False)", file=sys.stderr)
        return 2
    print("# parallel_aco benchmark: ms per MMAS iteration (mmas_air, m = n ants, full-row selection)")
    print(f"# command: python -m reproduce.bench.parallel_aco {' '.join(argv if argv is not None else sys.argv[1:])}")
    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}; torch {torch.__version__} (1 thread), numpy {np.__version__}"
          + (f"; GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))
    print(f"# timing: wall clock per iteration (GPU: synchronised), mean over up to {args.iterations - 1} iterations "
          f"after a warm-up one, a cell stops after {args.max_seconds:g} s; '~' = random stand-in instance")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        c_exe = build_c_reference(workdir) if "c_ref" in methods else None
        for name in args.instances.split(","):
            instance, label = load(name)
            cell = {}
            for method in methods:
                if method == "c_ref":
                    if c_exe is None:
                        continue
                    cell[method] = time_c(c_exe, instance, args.iterations, workdir)
                else:
                    cell[method] = time_python(instance, method, args.iterations, args.max_seconds)
                ms, k = cell[method]
                rows.append((label, instance.n, method, k, ms, instance.n / ms * 1e3))
                print(f"{label:>10} n={instance.n:<5} {method:<14} {ms:10.2f} ms/it  ({k} it)", file=sys.stderr, flush=True)
            seq = cell.get("sequential", (None,))[0]
            c_ms = cell.get("c_ref", (None,))[0]
            for i, row in enumerate(rows):
                if row[0] == label:
                    rows[i] = row + ((seq / row[4]) if seq else None, (row[4] / c_ms) if c_ms else None)
    print()
    print("| instance | n | method | timed it | ms / iteration | tours / s | speedup vs sequential | x C reference |")
    print("|---|---|---|---|---|---|---|---|")
    for label, n, method, k, ms, tps, speedup, vs_c in rows:
        print(f"| {label} | {n} | {method} | {k} | {ms:.2f} | {tps:,.0f} | "
              f"{'—' if speedup is None else f'{speedup:.1f}x'} | {'—' if vs_c is None else f'{vs_c:.2f}'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
