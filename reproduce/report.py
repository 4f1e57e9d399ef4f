"""Published vs measured: read the MLflow store, write reports/summary.{md,json} and plots.

    python -m reproduce.report [--out reports] [--tracking-uri URI] [--profile cpu]

Rows come from the configs, not from the store: every experiment in conf/experiment/ gets a row
(so one that never ran says "not run"), with each published number and its provenance (source,
verified), the measured mean ± std over seeds from the latest finished run per (experiment,
profile, seed), and a verdict. Each paper's `claims` (orderings, ratios) are evaluated the same way.
Nothing published is ever copied into a measured column.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from reproduce import CONF_DIR, REPO_ROOT, register_resolvers

# Claim operators: these four compare means; `closer`, `ratio>=` and `within` are handled in claim_verdict.
OPS = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


@dataclass
class Measured:
    values: list[float] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    @property
    def std(self) -> float | None:
        return statistics.stdev(self.values) if self.n > 1 else (0.0 if self.values else None)

    def text(self, digits: int = 3) -> str:
        if not self.values:
            return "—"
        if len(set(self.values)) == 1 and float(self.values[0]).is_integer():
            return f"{int(self.values[0]):,}"  # a count (matrix shape, iterations): every digit, no spread
        return f"{self.mean:.{digits}g} ± {self.std:.2g}" if self.n > 1 else f"{self.mean:.{digits}g}"


def experiment_names(searchpath: tuple[str, ...] = ()) -> list[str]:
    """Every experiment config: conf/experiment/ plus any extra config dirs (tests add a toy paper)."""
    names = set()
    for base in (CONF_DIR, *map(Path, searchpath)):
        root = base / "experiment"
        names.update(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml"))
    return sorted(names)


def compose_experiments(names: list[str], searchpath: tuple[str, ...] = ()) -> dict:
    """name -> composed config, in one Hydra context (composing is cheap; initialising is not)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_resolvers()
    GlobalHydra.instance().clear()
    extra = [f"hydra.searchpath=[{','.join('file://' + str(p) for p in searchpath)}]"] if searchpath else []
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return {name: compose(config_name="train", overrides=extra + [f"experiment={name}"]) for name in names}


def compose_experiment(name: str, searchpath: tuple[str, ...] = ()):
    return compose_experiments([name], searchpath)[name]


def default_tracking_uri() -> str:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return str(compose(config_name="train").tracking.uri)


def load_runs(uri: str) -> dict[tuple[str, str], list]:
    """(experiment, profile) -> runs: the latest finished run per seed, plus every failed/killed run."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp_ids = [e.experiment_id for e in client.search_experiments()]
    runs = []
    for i in range(0, len(exp_ids), 50):  # search_runs takes a bounded list of experiment ids
        page_token = None
        while True:
            page = client.search_runs(exp_ids[i:i + 50], max_results=5000, page_token=page_token,
                                      order_by=["attributes.start_time DESC"])
            runs.extend(page)
            page_token = page.token
            if not page_token:
                break
    grouped: dict[tuple[str, str], list] = defaultdict(list)
    seen_seed = set()
    for run in runs:  # newest first
        tags = run.data.tags
        key = (tags.get("experiment", "?"), tags.get("profile", "?"))
        if run.info.status == "FINISHED":
            if (key, tags.get("seed")) in seen_seed:
                continue
            seen_seed.add((key, tags.get("seed")))
        grouped[key].append(run)
    return grouped


def measured(runs, metric: str) -> Measured:
    return Measured([r.data.metrics[metric] for r in runs if r.info.status == "FINISHED" and metric in r.data.metrics])


def published_verdict(m: Measured, item: dict) -> str:
    if m.mean is None:
        return "not run"
    tol = item.get("tolerance")
    if tol is None:
        return "no tolerance given"
    return "within tolerance" if abs(m.mean - float(item["value"])) <= float(tol) else "outside tolerance"


def _verdict(m: Measured, item: dict, runs) -> str:
    if m.n == 0 and any(r.info.status == "FINISHED" for r in runs):
        return "not logged by this experiment"
    if item.get("value") is None:
        return "measured" if m.n else "not run"
    return published_verdict(m, item)


def _side(value, metric: str, runs_by_exp: dict[str, list], stat: str = "mean") -> tuple[float | None, str]:
    if isinstance(value, (int, float)):
        return float(value), f"{value:g}"
    m = measured(runs_by_exp.get(str(value), []), metric)
    if stat == "median":
        return m.median, f"{value} = median {_fmt(m.median)} of {m.values and [round(v, 3) for v in m.values]} (n={m.n})"
    return m.mean, f"{value} = {m.text()} (n={m.n})"


def claim_verdict(claim: dict, runs_by_exp: dict[str, list]) -> tuple[str, str]:
    """('claim holds' | 'claim fails' | 'not run', the numbers behind it)."""
    metric, op, stat = claim["metric"], claim["op"], claim.get("stat", "mean")  # stat: mean | median over seeds
    lhs, lhs_text = _side(claim["lhs"], metric, runs_by_exp, stat)
    rhs, rhs_text = _side(claim["rhs"], metric, runs_by_exp, stat)
    if op == "closer":
        ref, ref_text = _side(claim["ref"], metric, runs_by_exp, stat)
        if None in (lhs, rhs, ref):
            return "not run", f"{lhs_text}; {rhs_text}; ref {ref_text}"
        holds = abs(lhs - ref) < abs(rhs - ref)
        return ("claim holds" if holds else "claim fails"), f"|{lhs_text} − ref| vs |{rhs_text} − ref|; ref {ref_text}"
    if lhs is None or rhs is None:
        return "not run", f"{lhs_text} {op} {rhs_text}"
    if op == "within":  # |lhs - rhs| <= value: "ends within 1.5 points of the exact method"
        diff = abs(lhs - rhs)
        holds = diff <= float(claim["value"])
        return ("claim holds" if holds else "claim fails"), f"|{lhs_text} − {rhs_text}| = {diff:.3g} (needs ≤ {claim['value']})"
    if op == "ratio>=":
        ratio = lhs / rhs if rhs else math.inf
        holds = ratio >= float(claim["value"])
        return ("claim holds" if holds else "claim fails"), f"{lhs_text} / {rhs_text} = {ratio:.3g} (needs ≥ {claim['value']})"
    holds = OPS[op](lhs, rhs)
    return ("claim holds" if holds else "claim fails"), f"{lhs_text} {op} {rhs_text}"


def _failure_note(runs) -> str:
    failed = [r for r in runs if r.info.status in ("FAILED", "KILLED")]
    if not failed:
        return ""
    error = failed[0].data.tags.get("error", failed[0].info.status)
    return f"{len(failed)} failed/killed: {error[:160]}"


def build(uri: str, profile: str | None = None, searchpath: tuple[str, ...] = ()) -> dict:
    runs = load_runs(uri)
    profiles = sorted({p for (_, p) in runs if profile in (None, p)}) or [profile or "cpu"]

    # A budget gets rows only for the papers it ran: one paper run at profile=paper must not give
    # every other paper a page of "not run" rows. A paper that ran nothing keeps the default rows.
    ran: dict[str, set[str]] = defaultdict(set)
    for exp, prof in runs:
        if prof in profiles:
            ran[exp.split("/", 1)[0]].add(prof)

    def paper_profiles(paper: str) -> list[str]:
        return sorted(ran.get(paper, ())) or [profile or "cpu"]

    rows, claims, papers = [], [], {}
    for name, cfg in compose_experiments(experiment_names(searchpath), searchpath).items():
        paper = str(cfg.paper.name)
        papers[paper] = cfg.paper
        items = list(cfg.get("published") or [])
        report_metrics = [m for m in cfg.paper.get("report_metrics", ["test/error"]) if m not in {i.metric for i in items}]
        items += [{"metric": m, "value": None, "source": None, "verified": None} for m in report_metrics]
        for prof in paper_profiles(paper):
            exp_runs = runs.get((name, prof), [])
            for item in items:
                m = measured(exp_runs, item["metric"])
                has_value = item.get("value") is not None
                rows.append({
                    "paper": paper, "experiment": name, "profile": prof, "method": str(cfg.method),
                    "dataset": str(cfg.dataset.name), "metric": item["metric"], "unit": item.get("unit", ""),
                    "published": float(item["value"]) if has_value else None,
                    "tolerance": item.get("tolerance"), "source": item.get("source"), "verified": item.get("verified"),
                    "mean": m.mean, "std": m.std, "median": m.median, "n": m.n, "values": m.values,
                    "gap": (m.mean - float(item["value"])) if (has_value and m.mean is not None) else None,
                    "verdict": _verdict(m, item, exp_runs),
                    "note": _failure_note(exp_runs),
                })
    for paper, pcfg in sorted(papers.items()):
        for prof in paper_profiles(paper):
            by_exp = {exp: r for (exp, p), r in runs.items() if p == prof}
            for claim in pcfg.get("claims") or []:
                verdict, detail = claim_verdict(dict(claim), by_exp)
                claims.append({"paper": paper, "profile": prof, "name": claim["name"], "text": claim.get("text", ""),
                               "source": claim.get("source"), "verified": claim.get("verified"),
                               "metric": claim["metric"], "verdict": verdict, "detail": detail})
    return {"tracking_uri": uri, "profiles": profiles, "rows": rows, "claims": claims,
            "plots": {p: [dict(x) for x in (c.get("plots") or [])] for p, c in papers.items()}}


def _fmt(value, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}g}"


def to_markdown(summary: dict, plot_files: dict[str, list[str]]) -> str:
    out = ["# Published vs measured", "",
           f"Store: `{summary['tracking_uri']}`. Budgets (profiles) present: {', '.join(summary['profiles'])}. "
           "Measured = mean ± std over seeds (latest finished run per seed), beside their median; "
           "gap = measured mean − published. "
           "Unverified published numbers are marked as such; they are design anchors, not targets.", ""]
    for paper in sorted({r["paper"] for r in summary["rows"]}):
        out += [f"## {paper}", ""]
        out += ["| experiment | profile | metric | published | provenance | measured | median | n | gap | verdict |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for r in (r for r in summary["rows"] if r["paper"] == paper):
            prov = "—" if r["source"] is None else f"{r['source']} ({'verified' if r['verified'] else 'UNVERIFIED'})"
            meas = Measured(r["values"]).text(4)
            verdict = r["verdict"] + (f"; {r['note']}" if r["note"] else "")
            pub = "—" if r["published"] is None else f"{r['published']:g}{r['unit'] or ''} ± {r['tolerance']}"
            out.append(f"| {r['experiment']} | {r['profile']} | {r['metric']} | {pub} | {prov} | {meas} | "
                       f"{_fmt(r['median'])} | {r['n']} | {_fmt(r['gap'])} | {verdict} |")
        paper_claims = [c for c in summary["claims"] if c["paper"] == paper]
        if paper_claims:
            out += ["", "| claim | profile | source | verdict | numbers |", "|---|---|---|---|---|"]
            for c in paper_claims:
                prov = f"{c['source']} ({'verified' if c['verified'] else 'UNVERIFIED'})"
                out.append(f"| {c['text'] or c['name']} | {c['profile']} | {prov} | **{c['verdict']}** | {c['detail']} |")
        for png in plot_files.get(paper, []):
            out += ["", f"![{paper}]({png})"]
        out.append("")
    return "\n".join(out)


def make_plots(summary: dict, uri: str, out_dir: Path) -> dict[str, list[str]]:
    """Per paper: each configured metric's curve (mean over seeds) per experiment, one PNG per metric."""
    import fnmatch

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    runs = load_runs(uri)
    files: dict[str, list[str]] = defaultdict(list)
    for paper, plots in summary["plots"].items():
        for spec in plots:
            for prof in summary["profiles"]:
                fig, ax = plt.subplots(figsize=(7, 4.5))
                drawn = 0
                for (exp, p), exp_runs in sorted(runs.items()):
                    if p != prof or not fnmatch.fnmatch(exp, spec.get("experiments", f"{paper}/*")):
                        continue
                    curves = [[m.value for m in sorted(client.get_metric_history(r.info.run_id, spec["metric"]),
                                                       key=lambda m: m.step)]
                              for r in exp_runs if r.info.status == "FINISHED"]
                    curves = [c for c in curves if c]
                    if not curves:
                        continue
                    length = min(map(len, curves))
                    mean = [statistics.fmean(c[i] for c in curves) for i in range(length)]
                    line, = ax.plot(range(1, length + 1), mean, label=f"{exp.split('/', 1)[-1]} (n={len(curves)})")
                    drawn += 1
                    # published points (0-based index -> value), drawn as markers in the curve's colour
                    points = (spec.get("published") or {}).get(exp) or {}
                    if points:
                        ax.scatter([int(i) + 1 for i in points], list(points.values()), marker="*", s=90,
                                   color=line.get_color(), label=f"{exp.split('/', 1)[-1]}: published", zorder=3)
                if drawn:
                    ax.set_xlabel(spec.get("x_label", "epoch")), ax.set_ylabel(spec["metric"])
                    ax.set_title(spec.get("title", f"{paper}: {spec['metric']} ({prof} budget)"))
                    if spec.get("log_y"):
                        ax.set_yscale("log")
                    ax.legend(fontsize=7), ax.grid(alpha=0.3)
                    name = f"{paper}_{spec['metric'].replace('/', '_')}_{spec.get('tag', 'all')}_{prof}.png"
                    fig.savefig(out_dir / name, dpi=110, bbox_inches="tight")
                    files[paper].append(name)
                plt.close(fig)
    return files


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", default=None, help="MLflow store (default: the suite's sqlite store)")
    parser.add_argument("--out", default=str(REPO_ROOT / "reports"), help="output folder")
    parser.add_argument("--profile", default=None, help="only this budget (cpu, paper)")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    uri = args.tracking_uri or default_tracking_uri()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = build(uri, args.profile)
    plots = {} if args.no_plots else make_plots(summary, uri, out)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    (out / "summary.md").write_text(to_markdown(summary, plots))
    counts = defaultdict(int)
    for item in summary["rows"] + summary["claims"]:
        counts[item["verdict"]] += 1
    print(f"wrote {out / 'summary.md'} and summary.json ({', '.join(f'{v}: {n}' for v, n in sorted(counts.items()))})")


if __name__ == "__main__":
    main()
