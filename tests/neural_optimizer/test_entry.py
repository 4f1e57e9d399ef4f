"""Both phases through the real entry point (compose API, in-process) on generated data, and the
configs: every experiment composes, every claim names real experiments, every optimizer builds."""

from pathlib import Path

import pytest

from tests.helpers import compose_cfg, run_entry

TINY = ["dataset=synthetic", "paper.budget.horizon=20", "paper.budget.window=5", "paper.budget.log_every=10",
        "paper.budget.horizon_multiples=[1,2]"]
META = ["optimizer.meta.dataset=synthetic"]   # learned optimizers meta-train on generated data too


def test_meta_train_then_frozen_evaluation(tmp_path, tracking_uri):
    meta = run_entry(["experiment=neural_optimizer/meta_train_neural", "optimizer.meta.iterations=1", *TINY, *META],
                     tmp_path, tracking_uri)
    assert meta["meta/final_train_loss"] > 0 and meta["time/meta_iteration_s"] > 0
    saved = sorted(Path(tmp_path).rglob("neural.pt"))
    assert saved, "meta-training left no checkpoint"
    run_ckpt = next(p for p in saved if ".cache" not in p.parts and "artifacts" not in p.parts)

    # phase 2 from the explicit checkpoint ...
    ev = run_entry(["experiment=neural_optimizer/mnist_neural", "optimizer.meta.iterations=1",
                    f"optimizer.checkpoint={run_ckpt}", *TINY, *META], tmp_path, tracking_uri)
    assert ev["meta/from_checkpoint"] == 1.0
    assert 0.0 <= ev["test/acc_final"] <= 100.0 and ev["train/diverged"] == 0.0
    assert {"test/acc_h1x", "test/acc_h2x", "train/loss_auc", "train/loss_full_final"} <= set(ev)
    # ... and from the cache the meta-training run filled: identical frozen optimizer, identical run
    ev2 = run_entry(["experiment=neural_optimizer/mnist_neural", "optimizer.meta.iterations=1", *TINY, *META],
                    tmp_path, tracking_uri)
    assert ev2["meta/from_cache"] == 1.0
    assert ev2["test/acc_final"] == ev["test/acc_final"]
    assert ev2["train/loss_full_final"] == ev["train/loss_full_final"]

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name("neural_optimizer")
    run = client.search_runs([exp.experiment_id], "tags.experiment = 'neural_optimizer/mnist_neural'",
                             order_by=["attributes.start_time DESC"])[0]
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "test/acc")]
    assert sorted(steps) == [10, 20, 30, 40]   # one point per logging window, x = optimizee step
    assert [a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")] == ["checkpoints/neural.pt"]


def test_baseline_and_l2l_evaluation(tmp_path, tracking_uri):
    adam = run_entry(["experiment=neural_optimizer/fashion_mnist_adam", *TINY], tmp_path, tracking_uri)
    assert adam["train/steps"] == 40 and "meta/final_train_loss" not in adam
    l2l = run_entry(["experiment=neural_optimizer/mnist_l2l", "paper.budget.l2l_optimizees=1",
                     "optimizer.meta.horizon=10", "optimizer.meta.unroll=5", *TINY, *META], tmp_path, tracking_uri)
    assert l2l["time/meta_train_s"] > 0 and 0.0 <= l2l["test/acc_final"] <= 100.0


def test_missing_checkpoint_is_one_clear_user_error(tmp_path):
    from reproduce.errors import UserError

    with pytest.raises(UserError, match="optimizer.checkpoint"):
        run_entry(["experiment=neural_optimizer/mnist_neural", "optimizer.checkpoint=/nonexistent/neural.pt", *TINY, *META],
                  tmp_path, None)


def _experiments():
    root = Path(__file__).resolve().parents[2] / "conf" / "experiment" / "neural_optimizer"
    return sorted(f"neural_optimizer/{p.stem}" for p in root.glob("*.yaml"))


def test_every_experiment_composes_and_builds_its_optimizer():
    from hydra.utils import instantiate

    from lightning_modules.neural_optimizer.optimizers import FlatOptimizer

    names = _experiments()
    assert len(names) == 3 * 8 + 3
    for name in names:
        cfg = compose_cfg([f"experiment={name}"])
        assert cfg.paper.name == "neural_optimizer"
        opt = instantiate(cfg.optimizer, _convert_="all")
        assert isinstance(opt, FlatOptimizer), name
        assert cfg.trainer.limit_train_batches == 1
    for profile, window in (("cpu", 20), ("paper", 100)):
        cfg = compose_cfg(["experiment=neural_optimizer/mnist_neural", f"profile={profile}"])
        assert cfg.optimizer.window == window and cfg.optimizer.meta.horizon == 5 * window * 2


def test_claims_cover_every_baseline_on_every_dataset():
    cfg = compose_cfg(["experiment=neural_optimizer/mnist_neural"])
    names = set(_experiments())
    claims = list(cfg.paper.claims)
    for claim in claims:
        assert claim.lhs in names and claim.rhs in names, claim.name
        assert claim.verified is True and "abstract" in claim.source
    pairs = {(c.rhs, c.metric) for c in claims}
    for dataset in ("mnist", "fashion_mnist", "cifar10"):
        for base in ("sgd", "sgd_momentum", "rmsprop", "adam", "adam_hd", "adam_hd_pw", "l2l"):
            for metric in ("test/acc_final", "train/loss_auc"):
                assert (f"neural_optimizer/{dataset}_{base}", metric) in pairs
    stages = list(cfg.paper.stages)
    assert stages[0] == "neural_optimizer/meta_train_*"  # meta-training fills the cache first
