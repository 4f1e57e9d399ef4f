"""The baselines' learning-rate sweeps: the grids, the Hydra multiruns that run them, and a summary of
their MLflow runs with the winner per optimizer.

    python -m lightning_modules.neural_optimizer.sweep commands [--profile cpu|paper] [--full]
    python -m lightning_modules.neural_optimizer.sweep summary  [--profile cpu|paper] [--tracking-uri URI]

"Same budget" as the neural optimizer: it is meta-trained on 5 optimizee runs of T steps, so each
baseline gets 5 runs of T steps (the 1x horizon) on MNIST, one per grid value, and keeps the value
with the lowest final full-training-set loss (the quantity the meta-objective also sees; test
accuracy is never used). When the best value sits on the grid's edge the grid is extended by one
value (x ~3) in that direction and the sweep re-read (`summary` prints the command); a winner on the
edge would otherwise handicap the baseline. The cpu profile's default sweep is the 3 central values
(`--full` for 5). Winners go into `paper.budget.tuned` of conf/paper_profile/neural_optimizer_
<profile>.yaml by hand, with the sweep's outcome beside them.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict

# optimizer config -> (hyperparameter swept, 5-value log grid). Adam-HD sweeps its hypergradient step
# beta with the initial rate fixed at 1e-3 (the neural optimizer's start), as Baydin et al. do.
GRIDS = {
    "sgd": ("lr", [0.03, 0.1, 0.3, 1.0, 3.0]),
    "sgd_momentum": ("lr", [0.003, 0.01, 0.03, 0.1, 0.3]),
    "rmsprop": ("lr", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]),
    "adam": ("lr", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]),
    "adam_hd": ("beta", [1e-7, 1e-6, 1e-5, 1e-4, 1e-3]),
    "adam_hd_pw": ("beta", [1e-5, 1e-4, 1e-3, 1e-2, 1e-1]),
}
SWEEP_SEED = 100          # not one of the evaluation seeds
SELECT_METRIC = "train/loss_full_final"


def grid(name: str, full: bool) -> list[float]:
    values = GRIDS[name][1]
    return values if full else values[1:4]


def commands(profile: str, full: bool) -> list[str]:
    out = []
    for name, (key, _) in GRIDS.items():
        values = ",".join(f"{v:g}" for v in grid(name, full))
        out.append(f"python -m reproduce --multirun experiment=neural_optimizer/tune_mnist profile={profile} "
                   f"seed={SWEEP_SEED} optimizer=neural_optimizer/{name} optimizer.{key}={values}")
    return out


def summary(uri: str, profile: str) -> dict[str, list[tuple[float, float]]]:
    """optimizer -> [(value, metric)] over the finished tune runs of `profile` (latest run per value)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("neural_optimizer")
    if exp is None:
        return {}
    runs = client.search_runs([exp.experiment_id], "tags.experiment = 'neural_optimizer/tune_mnist' and "
                              f"tags.profile = '{profile}' and attributes.status = 'FINISHED'",
                              order_by=["attributes.start_time DESC"], max_results=5000)
    table: dict[str, dict[float, float]] = defaultdict(dict)
    targets = {"Adam": "adam", "SGD": "sgd", "RMSprop": "rmsprop", "AdamHD": "adam_hd"}
    for run in runs:
        p = run.data.params
        cls = p.get("optimizer._target_", "").rsplit(".", 1)[-1]
        name = targets.get(cls)
        if name is None or SELECT_METRIC not in run.data.metrics:
            continue
        if name == "sgd" and float(p.get("optimizer.momentum", 0)) > 0:
            name = "sgd_momentum"
        if name == "adam_hd" and p.get("optimizer.parameter_wise") == "True":
            name = "adam_hd_pw"
        value = float(p[f"optimizer.{GRIDS[name][0]}"])
        table[name].setdefault(value, run.data.metrics[SELECT_METRIC])  # newest first
    return {k: sorted(v.items()) for k, v in table.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["commands", "summary"])
    parser.add_argument("--profile", default="cpu", choices=["cpu", "paper"])
    parser.add_argument("--full", action="store_true", help="5 values per optimizer (default: 5 for paper, 3 for cpu)")
    parser.add_argument("--tracking-uri", default=None)
    args = parser.parse_args(argv)
    if args.what == "commands":
        print("\n".join(commands(args.profile, args.full or args.profile == "paper")))
        return 0
    from reproduce.report import default_tracking_uri

    table = summary(args.tracking_uri or default_tracking_uri(), args.profile)
    if not table:
        print(f"no finished neural_optimizer/tune_mnist runs for profile={args.profile}")
        return 1
    print(f"{'optimizer':<14} {'swept':<6} {SELECT_METRIC} per value (best marked *)")
    for name in GRIDS:
        rows = table.get(name, [])
        if not rows:
            print(f"{name:<14} {GRIDS[name][0]:<6} not run")
            continue
        best = min(rows, key=lambda r: r[1])
        cells = "  ".join(f"{v:g}: {m:.4f}{'*' if (v, m) == best else ''}" for v, m in rows)
        print(f"{name:<14} {GRIDS[name][0]:<6} {cells}")
        values = [v for v, _ in rows]
        if best[0] in (values[0], values[-1]):
            step = values[1] / values[0] if best[0] == values[0] else values[-1] / values[-2]
            nxt = best[0] / step if best[0] == values[0] else best[0] * step
            print(f"{'':<21}best on the grid's edge: extend with  python -m reproduce --multirun "
                  f"experiment=neural_optimizer/tune_mnist profile={args.profile} seed={SWEEP_SEED} "
                  f"optimizer=neural_optimizer/{name} optimizer.{GRIDS[name][0]}={nxt:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
