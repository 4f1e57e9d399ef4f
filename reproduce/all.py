"""`make reproduce-all`: every paper's experiments as Hydra multiruns, then the report.

    python -m reproduce.all [--profile cpu|paper] [--papers drmad,parallel_aco] [--launcher joblib] [--dry-run]

Each paper runs as one sweep per stage (a paper whose evaluation needs a meta-trained model lists
its stages in order under `stages:` in its config), over the seeds its config (or the profile's
specialisation) lists. A failing job is a FAILED run and the sweep goes on; a paper whose sweep
cannot start at all is reported and the next paper still runs. The report is written last.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from reproduce import REPO_ROOT, register_resolvers

# Cheapest first, so a CPU budget shows results early.
PAPER_ORDER = ["bidirectional_bp", "parallel_aco", "affective_space", "drmad", "neural_optimizer"]


def paper_plan(paper: str, profile: str) -> tuple[list[str], list[int]]:
    """(stage glob patterns, seeds) for one paper under one profile, read from its composed config."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from reproduce import CONF_DIR
    from reproduce.report import experiment_names

    names = [n for n in experiment_names() if n.startswith(f"{paper}/")]
    if not names:
        return [], []
    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"experiment={names[0]}", f"profile={profile}"])
    stages = list(cfg.paper.get("stages") or [f"{paper}/*"])
    return stages, [int(s) for s in cfg.paper.get("seeds", [0])]


def commands(profile: str, papers: list[str], launcher: str | None) -> list[tuple[str, list[str]]]:
    out = []
    for paper in papers:
        stages, seeds = paper_plan(paper, profile)
        for stage in stages:
            cmd = [sys.executable, "-m", "reproduce", "--multirun", f"experiment=glob({stage})",
                   f"seed={','.join(map(str, seeds))}", f"profile={profile}"]
            if launcher:
                cmd += [f"hydra/launcher={launcher}"]
            out.append((paper, cmd))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu", choices=["cpu", "paper"])
    parser.add_argument("--papers", default=",".join(PAPER_ORDER), help="comma-separated paper keys")
    parser.add_argument("--launcher", default=None, help="a Hydra launcher, e.g. joblib or submitit_slurm")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.papers.split(",")) - set(PAPER_ORDER))
    if unknown:
        print(f"error: unknown paper(s) {', '.join(unknown)}: choose from {', '.join(PAPER_ORDER)}", file=sys.stderr)
        return 2
    plan = commands(args.profile, [p for p in PAPER_ORDER if p in args.papers.split(",")], args.launcher)
    broken = []
    for paper, cmd in plan:
        print("$ " + " ".join(f"'{c}'" if "(" in c else c for c in cmd[1:]).replace("-m reproduce", "python -m reproduce", 1),
              flush=True)
        if args.dry_run:
            continue
        start = time.perf_counter()
        code = subprocess.run(cmd, cwd=REPO_ROOT).returncode
        print(f"[reproduce-all] {paper}: exit {code} after {time.perf_counter() - start:.0f} s", flush=True)
        if code != 0:
            broken.append(paper)
    if not args.dry_run:
        from reproduce.report import main as report_main

        report_main([])
    if broken:
        print(f"[reproduce-all] sweeps that could not run: {', '.join(broken)} (see their output above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
