"""The proxy AffectNet: SenticNet parsing, WordNet-Affect parsing, the features of the matrix, the
mirror and the cache -- all on generated files in the real formats."""

import numpy as np
import pytest

from lightning_modules.affective_space import data as D
from lightning_modules.affective_space.datamodule import SenticNetDataModule
from reproduce.errors import UserError
from tests.affective_space import synthetic as S


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("affective")
    table = S.make_table(n=300, seed=1)
    return {"table": table, "senticnet": S.write_senticnet(root / "senticnet6.py", table),
            "mirror": S.write_mirror(root / "mirror"), "root": root}


def _row_features(proxy, concept):
    i = int(np.searchsorted(proxy.concepts, concept))
    assert proxy.concepts[i] == concept
    row = proxy.matrix[i]
    return set(proxy.feature_names[row.indices].tolist()), row.data


def test_senticnet_file_is_parsed_field_by_field(files):
    rec = D.load_senticnet(files["senticnet"])
    table = files["table"]
    assert list(rec.concepts) == sorted(table)
    c = "joy_hub1"
    i = int(np.searchsorted(rec.concepts, c))
    entry = table[c]
    np.testing.assert_allclose(rec.sentics[i], [float(v) for v in entry[:4]])
    assert list(rec.moods[i]) == [entry[4][1:], entry[5][1:]]
    assert rec.polarity[i] == (entry[6] == "positive")
    assert rec.polarity_value[i] == pytest.approx(float(entry[7]))
    assert list(rec.semantics[i]) == entry[8:]


def test_installed_senticnet_package_has_the_documented_layout():
    # the package stores one dict literal in senticnet/senticnet6.py; read a few entries only
    from senticnet.senticnet6 import senticnet

    assert len(senticnet) == 200_000
    entry = senticnet["abandon"]
    assert len(entry) == 13 and entry[4].startswith("#") and entry[6] in ("positive", "negative")


def test_bad_senticnet_inputs_are_user_errors(tmp_path):
    with pytest.raises(UserError):
        D.load_senticnet(tmp_path / "missing.py")
    bad = tmp_path / "bad.py"
    bad.write_text("senticnet = {}\nsenticnet['a'] = ['0', '0']\n")
    with pytest.raises(UserError):
        D.load_senticnet(bad)


def test_wordnet_affect_graph_keeps_every_parent_and_survives_cycles(files):
    graph = D.parse_wordnet_affect(files["mirror"] / D.WNA_DIR)
    assert graph["root"] == []
    assert sorted(graph["surprise"]) == ["ambiguous-emotion", "astonishment"]
    anc = D.ancestor_sets(graph)
    assert anc["amusement"] == sorted(["amusement", "joy", "positive-emotion", "emotion", "affective-state",
                                       "mental-state"])
    assert "astonishment" in anc["surprise"] and "surprise" in anc["astonishment"]
    assert anc["root"] == []


def test_wordnet_affect_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError):
        D.parse_wordnet_affect(tmp_path)


def test_matrix_has_the_documented_features(files):
    rec = D.load_senticnet(files["senticnet"])
    graph = D.parse_wordnet_affect(files["mirror"] / D.WNA_DIR)
    proxy = D.build_affectnet_proxy(rec, graph)
    table = files["table"]
    assert proxy.matrix.dtype == np.float32 and set(np.unique(proxy.matrix.data)) == {1.0}
    assert len(set(proxy.feature_names.tolist())) == proxy.matrix.shape[1]

    concept = next(c for c in sorted(table) if c.startswith("w"))  # a two-word concept
    feats, _ = _row_features(proxy, concept)
    w1, w2 = concept.split("_")
    expected = {f"rel:{x}" for x in table[concept][8:]} | {f"rel:{concept}", f"word:{w1}", f"word:{w2}"}
    expected |= {f"rel:{c}" for c, v in table.items() if concept in v[8:]}  # reverse links
    assert feats == expected

    feats, _ = _row_features(proxy, "amusement")  # names a WordNet-Affect category
    wna = {f for f in feats if f.startswith("wna:")}
    assert wna == {"wna:amusement", "wna:joy", "wna:positive-emotion", "wna:emotion", "wna:affective-state",
                   "wna:mental-state"}
    feats, _ = _row_features(proxy, "joy_hub0")  # matches through its word "joy"
    assert "wna:joy" in feats and "word:joy" in feats

    info = proxy.describe()
    assert info["concepts"] == len(table) and info["nnz"] == proxy.matrix.nnz and info["empty_rows"] == 0


def test_feature_groups_can_be_dropped(files):
    rec = D.load_senticnet(files["senticnet"])
    only = D.build_affectnet_proxy(rec, None, groups=("relations",))
    assert all(f.startswith("rel:") for f in only.feature_names)
    assert only.matrix.nnz <= 5 * len(rec.concepts)
    with pytest.raises(UserError):
        D.build_affectnet_proxy(rec, None, groups=("wordnet_affect",))
    with pytest.raises(UserError):
        D.build_affectnet_proxy(rec, None, groups=("labels",))


def test_targets_never_reach_the_matrix(files, tmp_path):
    """Shuffle every target (sentic values, moods, polarity label and value) across concepts: the
    matrix must not change by a single entry."""
    table = files["table"]
    concepts = list(table)
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(concepts))
    shuffled = {c: table[concepts[p]][:8] + table[c][8:] for c, p in zip(concepts, perm)}
    assert any(shuffled[c][:8] != table[c][:8] for c in concepts)
    graph = D.parse_wordnet_affect(files["mirror"] / D.WNA_DIR)
    a = D.build_affectnet_proxy(D.load_senticnet(files["senticnet"]), graph)
    b = D.build_affectnet_proxy(D.load_senticnet(S.write_senticnet(tmp_path / "shuffled.py", shuffled)), graph)
    assert np.array_equal(a.feature_names, b.feature_names)
    assert (a.matrix != b.matrix).nnz == 0


def test_cache_is_reused_and_keyed_by_the_inputs(files, tmp_path, monkeypatch):
    wna = files["mirror"] / D.WNA_DIR
    first = D.load_affective_data(tmp_path, wna, str(files["senticnet"]))
    cached = list((tmp_path / "affective_space").glob("*.npz"))
    assert len(cached) == 1

    def no_build(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(D, "build_affectnet_proxy", no_build)
    second = D.load_affective_data(tmp_path, wna, str(files["senticnet"]))
    assert (first.proxy.matrix != second.proxy.matrix).nnz == 0
    assert np.array_equal(first.proxy.feature_names, second.proxy.feature_names)
    for name in ("polarity", "polarity_value", "sentics"):
        assert np.array_equal(getattr(first.records, name), getattr(second.records, name))
    assert np.array_equal(first.mood_ids, second.mood_ids) and np.array_equal(first.records.moods, second.records.moods)
    with pytest.raises(AssertionError):  # other feature groups: another cache entry, so a build
        D.load_affective_data(tmp_path, wna, str(files["senticnet"]), groups=("relations", "words"))


def test_datamodule_copies_wordnet_affect_from_the_mirror(files, tmp_path):
    dm = SenticNetDataModule(data_dir=str(tmp_path / "data"), data_mirror=str(files["mirror"]),
                             cache_dir=str(tmp_path / "cache"), senticnet_file=str(files["senticnet"]),
                             holdout_fraction=0.25, split_seed=3)
    dm.setup()
    assert (tmp_path / "data" / D.WNA_DIR / "a-hierarchy.xml").is_file()
    n = len(files["table"])
    assert len(dm.test_idx) == round(0.25 * n) and len(dm.train_idx) + len(dm.test_idx) == n
    assert not np.intersect1d(dm.train_idx, dm.test_idx).size
    # the copy in data_dir is enough next time; the same split_seed gives the same split
    again = SenticNetDataModule(data_dir=str(tmp_path / "data"), data_mirror=None, cache_dir=None,
                                senticnet_file=str(files["senticnet"]), holdout_fraction=0.25, split_seed=3)
    again.setup()
    assert np.array_equal(again.test_idx, dm.test_idx)
    assert next(iter(dm.train_dataloader()))[0].shape == (1,)


def test_missing_wordnet_affect_is_a_one_line_user_error(files, tmp_path):
    dm = SenticNetDataModule(data_dir=str(tmp_path), data_mirror=None, senticnet_file=str(files["senticnet"]))
    with pytest.raises(UserError, match="data_mirror"):
        dm.setup()
    without = SenticNetDataModule(data_dir=str(tmp_path), data_mirror=None, senticnet_file=str(files["senticnet"]),
                                  feature_groups=["relations", "reverse_relations", "self", "words"])
    without.setup()
    assert not any(f.startswith("wna:") for f in without.data.proxy.feature_names)
    with pytest.raises(UserError):
        SenticNetDataModule(holdout_fraction=1.5)
