"""Paper 1 benchmark: wall time per optimizee step of Adam vs Adam driven by the frozen LSTM controller
(the controller's overhead ratio), the L2L baseline's step, and meta-training time per meta-iteration.

    python -m reproduce.bench.neural_optimizer [--reps 5] [--steps 400] [--threads 1] [--windows 20,50,100,200]

Measured on the MNIST-shaped optimizee of the paper config (784-20-10 sigmoid MLP, batch 128, 15,910
parameters) with generated inputs of MNIST's shape: a step's cost does not depend on pixel values,
and the benchmark then runs offline. Each configuration runs `--steps` optimizer steps (gradient +
update, the same loop as the experiments) per repetition; repetitions are interleaved across
configurations so that load drifts hit all alike; the table reports the median and the minimum over
repetitions, and ratios of medians. The controller acts once per window, so its overhead per step
falls as 1/S: the table lists several S, marking those of the cpu and paper profiles.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time

import torch


def _problem():
    from lightning_modules.data.vision import synthetic_vision
    from lightning_modules.neural_optimizer.optimizee import MLPSpec, ResidentData
    from lightning_modules.neural_optimizer.runner import Problem

    data = ResidentData(synthetic_vision((1, 28, 28), 10, 4096, 256, seed=0))
    return Problem(MLPSpec(784, (20,), 10, "sigmoid"), data, 128)


def _profile_values() -> dict[str, dict]:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from reproduce import CONF_DIR, register_resolvers

    register_resolvers()
    out = {}
    for profile in ("cpu", "paper"):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose("train", overrides=["experiment=neural_optimizer/mnist_neural", f"profile={profile}"])
        out[profile] = {"window": int(cfg.paper.budget.window), "horizon": int(cfg.paper.budget.horizon)}
    GlobalHydra.instance().clear()
    return out


def _time_steps(problem, opt, steps: int, seed: int) -> float:
    """Seconds per step of the experiments' own loop (no logging windows inside the timed span)."""
    from lightning_modules.neural_optimizer.runner import train_optimizee

    res = train_optimizee(problem, opt, steps, torch.Generator().manual_seed(seed), log_every=10 ** 9,
                          eval_test=False)
    return res.seconds / steps


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--steps", type=int, default=400, help="optimizee steps per timed repetition")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (the profiles use 1)")
    parser.add_argument("--windows", default="20,50,100,200", help="controller windows S to time")
    parser.add_argument("--l2l", action=argparse.BooleanOptionalAction, default=True, help="also time the L2L step")
    parser.add_argument("--meta", action=argparse.BooleanOptionalAction, default=True,
                        help="also time one meta-iteration (neural, cpu and paper T) and one L2L meta-training optimizee")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from lightning_modules.neural_optimizer.controller import NeuralAdam
    from lightning_modules.neural_optimizer.l2l import L2LOptimizer
    from lightning_modules.neural_optimizer.optimizers import Adam

    problem = _problem()
    profiles = _profile_values()
    windows = sorted({int(w) for w in args.windows.split(",")} | {p["window"] for p in profiles.values()})
    configs = {"adam": lambda: Adam(lr=1e-3)}
    for w in windows:
        # a frozen controller; its weights do not change its cost
        configs[f"neural S={w}"] = (lambda w=w: NeuralAdam(lr=1e-3, window=w, meta={"seed": 0}))
    if args.l2l:
        configs["l2l"] = lambda: L2LOptimizer(meta={"seed": 0})
    opts = {k: make() for k, make in configs.items()}
    for opt in opts.values():  # warm-up: allocator, first-call dispatch
        _time_steps(problem, opt, 20 if opt.name != "l2l" else 5, 0)
    times: dict[str, list[float]] = {k: [] for k in opts}
    for rep in range(args.reps):
        for k, opt in opts.items():
            n = args.steps if k != "l2l" else max(20, args.steps // 10)  # l2l is ~20-50x slower per step
            times[k].append(_time_steps(problem, opt, n, rep + 1))

    base = statistics.median(times["adam"])
    tags = {p["window"]: name for name, p in profiles.items()}
    print(f"\nPer optimizee step (784-20-10 MLP, batch 128, {problem.spec.num_params} parameters; "
          f"{args.reps} interleaved repetitions of {args.steps} steps, l2l {max(20, args.steps // 10)})")
    print(f"{'optimizer':<16} {'median ms':>10} {'min ms':>9} {'x Adam':>8}  note")
    for k, v in times.items():
        med = statistics.median(v)
        note = ""
        if k.startswith("neural"):
            w = int(k.split("=")[1])
            ok = "meets" if med / base <= 1.3 else "exceeds"
            note = f"{ok} the 1.3x bound" + (f"  <- {tags[w]} profile" if w in tags else "")
        print(f"{k:<16} {med * 1e3:>10.3f} {min(v) * 1e3:>9.3f} {med / base:>8.2f}  {note}")

    if args.meta:
        print("\nMeta-training (one meta-iteration = one fresh optimizee of T steps with online controller updates)")
        for name, p in profiles.items():
            opt = NeuralAdam(lr=1e-3, window=p["window"], meta={"horizon": p["horizon"], "seed": 0,
                                                                  "init_lr_range": [1e-4, 1e-1]})
            t0 = time.perf_counter()
            opt.meta_train_iteration(problem, torch.Generator().manual_seed(0))
            dt = time.perf_counter() - t0
            print(f"  neural, {name} profile (T={p['horizon']}, S={p['window']}): {dt:.2f} s per meta-iteration "
                  f"({dt / p['horizon'] * 1e3:.2f} ms per optimizee step)")
        if args.l2l:
            opt = L2LOptimizer(meta={"seed": 0})
            t0 = time.perf_counter()
            opt.meta_train_iteration(problem, torch.Generator().manual_seed(0))
            dt = time.perf_counter() - t0
            print(f"  l2l (100-step optimizee, BPTT unrolls of 20): {dt:.2f} s per meta-training optimizee "
                  f"({dt / 100 * 1e3:.1f} ms per optimizee step)")

    print(f"\nHow measured: time.perf_counter around the experiments' own step loop (runner.train_optimizee) "
          f"on CPU with torch.set_num_threads({args.threads}); torch {torch.__version__}, "
          f"Python {platform.python_version()}, {platform.machine()}. Other load on the machine inflates every "
          "row; compare ratios, and rerun on an idle machine for absolute numbers.")
    print("Command: python -m reproduce.bench.neural_optimizer " + " ".join(argv if argv is not None else sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
