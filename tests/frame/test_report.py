"""The report: rows from the configs, measured numbers from the store, honest verdicts."""

import json
import statistics

from reproduce import report
from tests.helpers import FIXTURE_CONF, run_entry


def test_report_rows_claims_and_plots(tmp_path, tracking_uri):
    for seed in (0, 1):
        run_entry(["experiment=toy/fast", "trainer.max_epochs=2", f"seed={seed}", "profile=paper"], tmp_path,
                  tracking_uri, fixtures=True)
    run_entry(["experiment=toy/slow", "trainer.max_epochs=2", "seed=0", "profile=paper"], tmp_path, tracking_uri,
              fixtures=True)
    summary = report.build(tracking_uri, profile="paper", searchpath=(str(FIXTURE_CONF),))
    fast = [r for r in summary["rows"] if r["experiment"] == "toy/fast" and r["metric"] == "test/error"]
    assert len(fast) == 1 and fast[0]["n"] == 2 and fast[0]["published"] == 5.0
    assert fast[0]["gap"] == fast[0]["mean"] - 5.0
    assert fast[0]["median"] == statistics.median(fast[0]["values"])
    assert fast[0]["verdict"] in ("within tolerance", "outside tolerance")
    assert fast[0]["verified"] is False and fast[0]["source"] == "test fixture"
    slow = [r for r in summary["rows"] if r["experiment"] == "toy/slow"]
    assert slow[0]["published"] is None and slow[0]["verdict"] == "measured"
    (claim,) = [c for c in summary["claims"] if c["name"] == "toy_fast_beats_slow"]
    assert claim["verdict"] == ("claim holds" if fast[0]["mean"] < slow[0]["mean"] else "claim fails")

    md = report.to_markdown(summary, {})
    assert "toy/fast" in md and "UNVERIFIED" in md
    (row,) = [line for line in md.splitlines() if line.startswith("| toy/fast | paper | test/error |")]
    assert row.split(" | ")[6] == f"{fast[0]['median']:.4g}"  # the median column, beside mean ± std


def test_a_budget_gets_rows_only_for_the_papers_it_ran(tmp_path, tracking_uri):
    run_entry(["experiment=toy/fast", "trainer.max_epochs=1", "seed=0", "profile=paper"], tmp_path, tracking_uri,
              fixtures=True)
    ran = {(exp.split("/", 1)[0], prof) for (exp, prof) in report.load_runs(tracking_uri)}
    summary = report.build(tracking_uri, searchpath=(str(FIXTURE_CONF),))
    assert ("toy", "paper") in {(r["paper"], r["profile"]) for r in summary["rows"]}
    for paper in {r["paper"] for r in summary["rows"]}:
        shown = {r["profile"] for r in summary["rows"] if r["paper"] == paper}
        shown |= {c["profile"] for c in summary["claims"] if c["paper"] == paper}
        assert shown == ({prof for (p, prof) in ran if p == paper} or {"cpu"}), paper


def test_claim_verdicts_follow_the_numbers():
    class R:  # the slice of an MLflow run the report reads
        def __init__(self, value):
            self.info = type("I", (), {"status": "FINISHED"})()
            self.data = type("D", (), {"metrics": {"m": value}, "tags": {}})()

    runs = {"a": [R(1.0), R(3.0)], "b": [R(4.0)], "ref": [R(0.0)]}
    assert report.claim_verdict({"metric": "m", "lhs": "a", "op": "<", "rhs": "b"}, runs)[0] == "claim holds"
    assert report.claim_verdict({"metric": "m", "lhs": "b", "op": "<", "rhs": "a"}, runs)[0] == "claim fails"
    assert report.claim_verdict({"metric": "m", "lhs": "a", "op": "closer", "rhs": "b", "ref": "ref"}, runs)[0] == "claim holds"
    assert report.claim_verdict({"metric": "m", "lhs": "b", "op": "ratio>=", "rhs": "a", "value": 3}, runs)[0] == "claim fails"
    assert report.claim_verdict({"metric": "m", "lhs": "b", "op": "ratio>=", "rhs": "a", "value": 2}, runs)[0] == "claim holds"
    assert report.claim_verdict({"metric": "m", "lhs": "missing", "op": "<", "rhs": "a"}, runs)[0] == "not run"
    assert report.claim_verdict({"metric": "m", "lhs": "a", "op": "within", "rhs": "b", "value": 2}, runs)[0] == "claim holds"
    assert report.claim_verdict({"metric": "m", "lhs": "a", "op": "within", "rhs": "b", "value": 1.5}, runs)[0] == "claim fails"
    runs["c"] = [R(1.0), R(1.5), R(30.0)]  # mean 10.8, median 1.5
    assert report.claim_verdict({"metric": "m", "lhs": "c", "op": "<", "rhs": 2.0}, runs)[0] == "claim fails"
    assert report.claim_verdict({"metric": "m", "lhs": "c", "op": "<", "rhs": 2.0, "stat": "median"}, runs)[0] == "claim holds"


def test_report_cli_writes_files(tmp_path, tracking_uri):
    report.main(["--tracking-uri", tracking_uri, "--out", str(tmp_path / "rep"), "--no-plots"])
    data = json.loads((tmp_path / "rep" / "summary.json").read_text())
    assert {"rows", "claims", "profiles"} <= set(data)
    assert (tmp_path / "rep" / "summary.md").read_text().startswith("# Published vs measured")


def test_measured_text_keeps_every_digit_of_a_constant_count():
    assert report.Measured([2_538_933.0] * 3).text(4) == "2,538,933"
    assert report.Measured([2.0, 4.0]).text(4) == "3 ± 1.4"
    assert report.Measured([0.5]).text(4) == "0.5"
