"""The paper through the real entry point (`python -m reproduce`'s code path) on generated SenticNet
and WordNet-Affect files, and its configs composing as intended."""

import pytest

from tests.affective_space import synthetic as S
from tests.helpers import compose_cfg, run_entry


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("entry")
    return {"senticnet": S.write_senticnet(root / "senticnet6.py", S.make_table(n=400, seed=3)),
            "mirror": S.write_mirror(root / "mirror")}


def _small(inputs):
    return [f"dataset.senticnet_file={inputs['senticnet']}", f"paths.data_mirror={inputs['mirror']}",
            "paper.module.k=16", "paper.module.reasoning.n_eval=null", "paper.module.reasoning.n_probe_train=null",
            "paper.module.reasoning.n_cluster=null", "paper.module.reasoning.jl_pairs=2000", "num_threads=1"]


@pytest.mark.parametrize("method", ["rp", "svd"])
def test_experiment_runs_end_to_end(tmp_path, tracking_uri, inputs, method):
    m = run_entry([f"experiment=affective_space/{method}_k100", *_small(inputs)], tmp_path, tracking_uri)
    for key in ("time/build_s", "mem/build_peak_mb", "val/polarity_acc", "val/polarity_acc_probe", "val/mood_acc",
                "val/mood_acc_probe", "val/cluster_mood_acc", "val/jl_distortion", "data/nnz", "time/eval_s"):
        assert key in m, key
    assert m["data/concepts"] == 400 + sum(len(S.hubs(mood)) for mood in S.MOODS)
    assert m["val/polarity_acc"] > m["val/polarity_majority"] + 15
    assert 0 < m["time/build_s"] < 60 and m["mem/build_peak_mb"] > 0
    assert list((tmp_path / ".cache" / "affective_space").glob("affectnet_proxy-*.npz"))


def test_experiments_and_profiles_compose():
    for k in (50, 100, 200):
        for method in ("rp", "svd"):
            cfg = compose_cfg([f"experiment=affective_space/{method}_k{k}"])
            assert cfg.paper.module.method == method and cfg.paper.module.k == k and cfg.method == method
            assert cfg.dataset.name == "senticnet" and cfg.get("optimizer") is None
            assert list(cfg.published) == []
    cpu = compose_cfg(["experiment=affective_space/rp_k100"])
    paper = compose_cfg(["experiment=affective_space/rp_k100", "profile=paper"])
    assert cpu.paper.module.reasoning.n_eval == 2000 and paper.paper.module.reasoning.n_eval is None
    assert cpu.paper.module.distribution == "achlioptas" and cpu.paper.module.seed == cpu.seed
    assert cpu.dataset.split_seed == cpu.seed
    claims = {c.name: c for c in cpu.paper.claims}
    assert claims["rp_much_faster_than_svd"].op == "ratio>=" and claims["rp_much_faster_than_svd"].value == 20


def test_cpu_budget_stages_cover_the_claims():
    from reproduce.all import paper_plan

    stages, seeds = paper_plan("affective_space", "cpu")
    assert seeds == [0, 1, 2]
    assert "affective_space/*_k100" in stages  # both sides of every claim
    paper_stages, _ = paper_plan("affective_space", "paper")
    assert paper_stages == ["affective_space/*"]
