"""Reasoning in the space: neighbours, probe, sentic medoids, JL distortion, and the leakage test."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from lightning_modules.affective_space import data as D
from lightning_modules.affective_space.module import DEFAULT_REASONING, evaluate_space
from lightning_modules.affective_space.projections import build_space
from lightning_modules.affective_space.reasoning import jl_distortion, k_medoids, nearest, normalise, vote
from reproduce.errors import UserError
from tests.affective_space import synthetic as S

SMALL = {**DEFAULT_REASONING, "n_eval": None, "n_probe_train": None, "n_cluster": None, "jl_pairs": 3000,
         "probe_max_iter": 200}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("reasoning")
    table = S.make_table(n=1500, seed=2)
    mirror = S.write_mirror(root / "mirror")
    return {"table": table, "root": root, "wna": mirror / D.WNA_DIR,
            "data": D.load_affective_data(None, mirror / D.WNA_DIR, str(S.write_senticnet(root / "sn.py", table)))}


def _split(n, seed=0, frac=0.25):
    perm = np.random.default_rng(seed).permutation(n)
    m = int(frac * n)
    return np.sort(perm[m:]), np.sort(perm[:m])


def test_knn_vote_and_nearest():
    train = normalise(torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]]))
    queries = normalise(torch.tensor([[1.0, 0.05], [0.05, 1.0]]))
    sims, idx = nearest(train, queries, k=2, chunk=1)
    assert sorted(idx[0].tolist()) == [0, 1] and sorted(idx[1].tolist()) == [2, 3]
    labels = torch.tensor([0, 0, 1, 1])
    assert vote(sims, labels[idx], 2).tolist() == [0, 1]


def test_k_medoids_recovers_separated_clusters():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 20, generator=g)
    x = normalise(torch.cat([c + 0.2 * torch.randn(100, 20, generator=g) for c in centres]))
    truth = torch.arange(4).repeat_interleave(100)
    init = torch.tensor([0, 1, 2, 3])  # every seed inside the first cluster: the updates must move them
    assign, medoids, iters = k_medoids(x, init, 50)
    assert iters > 1
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(truth.numpy(), assign.numpy()) > 0.95
    assert set(truth[medoids].tolist()) == {0, 1, 2, 3}


def test_jl_distortion_is_zero_for_an_isometry_and_small_for_rp():
    a = sp.random(400, 3000, density=0.01, format="csr", dtype=np.float32, random_state=0)
    a.data[:] = 1.0
    exact = jl_distortion(a, torch.from_numpy(a.toarray()), 2000, 0)
    assert exact["val/jl_distortion"] < 1e-6 and exact["val/jl_ratio_median"] == pytest.approx(1.0)
    rp = build_space(a, "rp", 200, 0).vectors
    got = jl_distortion(a, torch.from_numpy(rp), 2000, 0)
    assert 0.05 < got["val/jl_distortion"] < 0.15  # sqrt(2/k) sqrt(2/pi) = 0.08 at k = 200
    assert abs(got["val/jl_ratio_median"] - 1.0) < 0.05


def test_build_space_methods_and_errors(world):
    m = world["data"].proxy.matrix
    for method in ("rp", "svd", "sklearn_srp"):
        space = build_space(m, method, 12, 0)
        assert space.vectors.shape == (m.shape[0], 12) and space.vectors.dtype == np.float32
        assert space.build_s > 0 and space.peak_mb > 0
    a = build_space(m, "rp", 12, 5, measure_memory=False).vectors
    assert np.array_equal(a, build_space(m, "rp", 12, 5).vectors)  # deterministic given the seed
    with pytest.raises(UserError):
        build_space(m, "pca", 12, 0)
    with pytest.raises(UserError):
        build_space(m, "rp", m.shape[0] + 5, 0)


@pytest.mark.parametrize("method", ["rp", "svd"])
def test_reasoning_beats_chance_on_structured_data(world, method):
    data = world["data"]
    train, test = _split(len(data.proxy.concepts))
    space = build_space(data.proxy.matrix, method, 32, 0)
    out = evaluate_space(space.vectors, data, train, test, SMALL, 0, 32)
    assert out["val/polarity_acc"] > out["val/polarity_majority"] + 20
    assert out["val/mood_acc"] > out["val/mood_majority"] + 30
    assert out["val/polarity_acc_probe"] > out["val/polarity_majority"] + 10
    assert out["val/cluster_mood_acc"] > out["val/mood_majority"] + 10
    assert out["val/clusters"] >= 2
    if method == "rp":
        assert out["val/jl_distortion"] < 0.5


def _shuffle_targets(data, seed):
    """The same space, with every target permuted across concepts."""
    perm = np.random.default_rng(seed).permutation(len(data.proxy.concepts))
    rec = data.records
    shuffled = D.SenticNetRecords(rec.concepts, rec.semantics, rec.sentics[perm], rec.moods[perm],
                                  rec.polarity[perm], rec.polarity_value[perm])
    return D.AffectiveData(data.proxy, shuffled, data.moods, data.mood_ids[perm], data.wna_graph)


def _accuracy_on_shuffled_targets(world, leak: bool) -> tuple[float, float]:
    """Rebuild the matrix from records whose targets were shuffled, then score against those targets."""
    data = _shuffle_targets(world["data"], seed=1)
    records = D.load_senticnet(world["root"] / "sn.py")
    # the real builder only ever sees the records; a leaky one would turn a target into a feature
    proxy = D.build_affectnet_proxy(records, data.wna_graph)
    matrix = proxy.matrix
    if leak:
        leaked = sp.csr_matrix(np.column_stack([data.records.polarity, 1 - data.records.polarity]).astype(np.float32))
        matrix = sp.hstack([matrix, 30.0 * leaked], format="csr")
    data = D.AffectiveData(D.AffectNetProxy(matrix, proxy.concepts, proxy.feature_names), data.records,
                           data.moods, data.mood_ids, data.wna_graph)
    train, test = _split(len(proxy.concepts), seed=4)
    space = build_space(matrix, "rp", 32, 0)
    out = evaluate_space(space.vectors, data, train, test, SMALL, 0, 32)
    return out["val/polarity_acc"], out["val/polarity_majority"]


def test_shuffled_targets_give_chance_accuracy(world):
    acc, majority = _accuracy_on_shuffled_targets(world, leak=False)
    # 375 held-out concepts: the binomial standard error at 50% is 2.6 points; 4 sigma
    assert abs(acc - 50.0) < 10.5 and abs(acc - majority) < 12


def test_leakage_test_catches_a_leaky_matrix(world):
    acc, _ = _accuracy_on_shuffled_targets(world, leak=True)
    assert acc > 80.0  # a label column in the features survives the shuffle: the test above would fail
