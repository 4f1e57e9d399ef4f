"""DrMAD vs exact reverse mode: hypergradient time and peak memory against the number of SGD steps.

    python -m reproduce.bench.drmad                       # steps 100 500 2000, CPU, MNIST-shaped data
    python -m reproduce.bench.drmad --steps 100 500 2000 --device cuda --methods drmad exact exact_reversible

The problem is the paper's: MLP 784-50-50-50-10 (tanh), 44,860 weights, 934 hyperparameters,
batch 50, lr 0.05, momentum 0.1, 15,000 training / 5,000 validation rows. Cost does not depend on
pixel values, so the rows are random unless --data mnist (needs the data mirror or data dir).

How it measures: every (method, steps) pair runs in a fresh Python process (so one method's freed
memory cannot hide the next one's growth), after a 4-step warm-up call in that process. Time: wall
clock of the whole hypergradient (forward training + reverse pass) and of the reverse pass alone,
median of --repeats calls. Memory: "kept" = bytes the method holds from forward to reverse pass
(trajectory / remainders / two endpoints), read from the tensors themselves; "peak" = growth of the
process resident set during the call (VmHWM reset through /proc/self/clear_refs; CPU) or of
torch's allocated CUDA memory (max_memory_allocated; GPU). Not a test: numbers vary with the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def _worker(method: str, steps: int, device: str, dtype: str, repeats: int, data: str, threads: int) -> dict:
    import torch

    if threads:
        torch.set_num_threads(threads)
    from lightning_modules.drmad.hypergrad import DrMADSchedule, InnerSGD, hypergradient
    from lightning_modules.drmad.problem import MLPProblem, draw_batches, initial_weights

    dt = getattr(torch, dtype)
    gen = torch.Generator().manual_seed(0)
    if data == "mnist":
        from lightning_modules.data.vision import load_vision_tensors

        root = os.environ.get("REPRO_DATA_DIR", "data")
        d = load_vision_tensors("mnist", root, os.environ.get("REPRO_DATA_MIRROR"))
        x, y = d["train_x"][:20000].flatten(1), d["train_y"][:20000]
        x = x - x.mean(0, keepdim=True)
    else:
        x, y = torch.rand(20000, 784, generator=gen) - 0.5, torch.randint(10, (20000,), generator=gen)
    x, y = x.to(device, dt), y.to(device)
    sizes = [784, 50, 50, 50, 10]

    def problem(T):
        return MLPProblem(sizes, x[:15000], y[:15000], x[15000:], y[15000:],
                          draw_batches(15000, T, 50, gen, device))

    p = problem(4)
    h = torch.full((p.num_hypers,), 0.2, dtype=dt, device=device)
    z0 = initial_weights(p.num_params, -3.0, gen, dt, device)
    hypergradient(method, p, h, z0, InnerSGD(0.05, 0.1, 4), DrMADSchedule())  # warm-up
    p = problem(steps)
    runs = [hypergradient(method, p, h, z0, InnerSGD(0.05, 0.1, steps), DrMADSchedule()) for _ in range(repeats)]
    return {
        "method": method, "steps": steps, "device": device,
        "total_s": statistics.median(r.total_s for r in runs),
        "reverse_s": statistics.median(r.reverse_s for r in runs),
        "kept_mb": runs[0].kept_bytes / 2**20,
        "peak_mb": max(r.peak_bytes for r in runs) / 2**20,
        "peak_source": runs[0].peak_source,
    }


def _run_isolated(args, method: str, steps: int) -> dict:
    cmd = [sys.executable, "-m", "reproduce.bench.drmad", "--worker", method, str(steps), "--device", args.device,
           "--dtype", args.dtype, "--repeats", str(args.repeats), "--data", args.data, "--threads", str(args.threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, nargs="+", default=[100, 500, 2000])
    ap.add_argument("--methods", nargs="+", default=["drmad", "exact"],
                    choices=["drmad", "exact", "exact_reversible"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--data", default="random", choices=["random", "mnist"])
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0 = torch's default)")
    ap.add_argument("--worker", nargs=2, metavar=("METHOD", "STEPS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args.worker[0], int(args.worker[1]), args.device, args.dtype, args.repeats,
                                 args.data, args.threads)))
        return

    started = time.strftime("%Y-%m-%d %H:%M:%S")
    rows = {(m, T): _run_isolated(args, m, T) for T in args.steps for m in args.methods}
    print(f"DrMAD hypergradient benchmark ({started}; device={args.device}, dtype={args.dtype}, "
          f"threads={args.threads or 'default'}, data={args.data}, repeats={args.repeats})")
    print(f"{'method':<17}{'steps':>6}{'total s':>10}{'reverse s':>11}{'kept MiB':>11}{'peak MiB':>11}")
    for (m, T), r in rows.items():
        print(f"{m:<17}{T:>6}{r['total_s']:>10.2f}{r['reverse_s']:>11.2f}{r['kept_mb']:>11.2f}{r['peak_mb']:>11.2f}")
    print("\nratios (other method / drmad):")
    for m in [m for m in args.methods if m != "drmad"]:
        for T in args.steps:
            if ("drmad", T) not in rows:
                continue
            a, b = rows[m, T], rows["drmad", T]

            def q(num, den):
                return f"{num / den:8.1f}x" if den > 0 else "     inf"

            print(f"  {m:<17} steps={T:<5} time {q(a['total_s'], b['total_s'])}  reverse-only time "
                  f"{q(a['reverse_s'], b['reverse_s'])}  kept memory {q(a['kept_mb'], b['kept_mb'])}  "
                  f"peak memory {q(a['peak_mb'], b['peak_mb'])}")
    src = next(iter(rows.values()))["peak_source"]
    print(f"\nmeasured: one fresh process per row, warm-up call first; time = wall clock (median of {args.repeats});"
          f" peak = {src} growth during the call; kept = bytes held between forward and reverse pass.")
    print("paper claim (abstract): >= 45x faster, >= 100x less memory than the exact method.")
    print("command: python -m reproduce.bench.drmad " + " ".join(argv if argv is not None else sys.argv[1:]))


if __name__ == "__main__":
    main()
