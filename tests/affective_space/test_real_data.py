"""The real proxy AffectNet (SenticNet 6 package + WordNet-Affect 1.1 from the mirror): its shape and
nnz as documented, and the k = 100 space reasoning well above chance. Tier `data` (minutes)."""

import numpy as np
import pytest

from lightning_modules.affective_space.datamodule import SenticNetDataModule
from lightning_modules.affective_space.module import DEFAULT_REASONING, evaluate_space
from lightning_modules.affective_space.projections import build_space

pytestmark = [pytest.mark.data, pytest.mark.slow]


@pytest.fixture(scope="module")
def real(data_mirror, tmp_path_factory):
    root = tmp_path_factory.mktemp("real")
    dm = SenticNetDataModule(data_dir=str(root / "data"), data_mirror=data_mirror, cache_dir=str(root / "cache"))
    dm.setup()
    return dm


def test_real_matrix_shape_and_nnz(real):
    info = real.data.proxy.describe()
    # documented in lightning_modules/affective_space/README.md and conf/dataset/senticnet.yaml
    assert (info["concepts"], info["features"], info["nnz"]) == (200_000, 260_819, 2_538_933)
    assert info["features_per_group"] == {"rel": 200_115, "word": 60_434, "wna": 270}
    assert info["empty_rows"] == 0
    assert np.isclose(real.data.records.polarity.mean(), 104_412 / 200_000)


def test_real_space_reasons_well_above_chance(real):
    data = real.data
    space = build_space(data.proxy.matrix, "rp", 100, 0)
    cfg = {**DEFAULT_REASONING, "n_eval": 1000, "n_probe_train": 5000, "n_cluster": 5000, "jl_pairs": 5000}
    out = evaluate_space(space.vectors, data, real.train_idx, real.test_idx, cfg, 0, 100)
    assert out["val/polarity_acc"] > 90.0 > out["val/polarity_majority"] + 30
    assert out["val/mood_acc"] > 85.0
    assert out["val/jl_distortion"] < 0.15
