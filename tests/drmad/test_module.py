"""The meta loop through the real entry point, the data protocol, and the configs."""

import pytest
import torch

from lightning_modules.drmad import DrMADDataModule, SignSGD
from tests.helpers import compose_cfg, run_entry

# tracking=none: these check the module and configs; the frame's own tests cover the MLflow record.
TINY = ["tracking=none", "dataset=synthetic", "paper.budget.inner_steps=10", "paper.budget.claim_steps=10",
        "paper.budget.drmad_meta_iterations=3", "paper.budget.exact_meta_iterations=3",
        "paper.budget.claim_meta_iterations=2", "paper.module.layer_sizes=[784,8,8,10]", "num_threads=1"]


def test_speed_memory_experiment_runs_and_reports_ratios(tmp_path):
    m = run_entry(["experiment=drmad/speed_memory", *TINY], tmp_path)
    assert m["meta/iterations"] == 2
    for key in ("time/exact_over_drmad", "time/exact_over_drmad_reverse", "mem/exact_over_drmad_kept",
                "mem/exact_over_drmad_peak", "hypergrad/cosine_to_exact", "time/hypergrad_s", "mem/hypergrad_peak_mb"):
        assert key in m, key
    assert m["mem/exact_over_drmad_kept"] == pytest.approx(11 / 2)  # z_0..z_10 vs the 2 endpoints
    assert -1.0 <= m["hypergrad/cosine_to_exact"] <= 1.0
    assert "test/error" not in m  # test_eval: none


@pytest.mark.parametrize("experiment", ["drmad/mnist_curve", "drmad/mnist_exact"])
def test_curve_experiments_log_the_published_metrics(tmp_path, experiment):
    m = run_entry([f"experiment={experiment}", *TINY], tmp_path)
    assert m["meta/iterations"] == 3
    for key in ("test/error_initial", "test/error_at_k", "test/error_best", "val/loss", "hyper/mean"):
        assert key in m, key
    assert "gap/test/error_at_k" in m
    # three sign steps of 0.07 (the last update happens after the last log): |mean t - 0.2| <= 2 * 0.07
    assert abs(m["hyper/mean"] - 0.2) <= 2 * 0.07 + 1e-6


def test_sign_sgd_moves_every_hyperparameter_by_the_step():
    p = torch.nn.Parameter(torch.tensor([0.2, 0.2, 0.2]))
    p.grad = torch.tensor([3.0, -1e-9, 0.0])
    SignSGD([p], lr=0.07).step()
    torch.testing.assert_close(p.detach(), torch.tensor([0.13, 0.27, 0.2]))


def test_datamodule_pool_and_test_are_disjoint_and_centred():
    dm = DrMADDataModule(name="synthetic", pool_size=300, val_size=100, test_size=150, synthetic_sizes=(512, 64),
                         meta_iterations=4, batch_size=128)
    dm.setup()
    t = dm.tensors
    assert t["pool_x"].shape == (300, 784) and t["test_x"].shape == (150, 784)
    rows = {tuple(r.tolist()) for r in t["pool_x"][:, :20]}
    assert not rows & {tuple(r.tolist()) for r in t["test_x"][:, :20]}
    assert len(list(dm.train_dataloader())) == 4
    from reproduce.errors import UserError

    with pytest.raises(UserError):
        DrMADDataModule(name="synthetic", pool_size=100, val_size=100)


def test_paper_profile_keeps_the_claim_at_2000_steps():
    for profile in ("cpu", "paper"):
        cfg = compose_cfg(["experiment=drmad/speed_memory", f"profile={profile}"])
        assert cfg.paper.module.steps == 2000 and cfg.paper.module.compare_to_exact
        curve = compose_cfg(["experiment=drmad/mnist_curve", f"profile={profile}"])
        assert curve.dataset._target_ == "lightning_modules.drmad.DrMADDataModule"
        assert curve.dataset.pool_size == 20000 and curve.optimizer.batch_size == 50
    assert compose_cfg(["experiment=drmad/mnist_exact", "profile=paper"]).paper.module.meta_iterations == 30


@pytest.mark.data
def test_real_mnist_protocol(tmp_path, data_mirror):
    dm = DrMADDataModule(name="mnist", root=str(tmp_path / "data"), mirror=data_mirror, meta_iterations=1)
    dm.setup()
    t = dm.tensors
    assert t["pool_x"].shape == (20000, 784) and t["test_x"].shape == (5000, 784)
    assert set(t["pool_y"].unique().tolist()) == set(range(10))
    assert abs(float(torch.cat([t["pool_x"], t["test_x"]]).mean())) < 0.01  # centred by the training mean
