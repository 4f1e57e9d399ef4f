"""Every method through the real entry point (`python -m reproduce`'s code path) on generated data,
and the paper's configs composing as intended."""

import pytest
from omegaconf import OmegaConf

from tests.helpers import compose_cfg, fast_dev_overrides, run_entry

SMALL = ["dataset=synthetic", "paper.module.mlp_hidden=[32,32]", "num_threads=1", *fast_dev_overrides()]


@pytest.mark.parametrize("method", ["bp", "fa", "dfa", "bfa", "bdfa"])
def test_fast_dev_run_per_method(tmp_path, tracking_uri, method):
    m = run_entry([f"experiment=bidirectional_bp/mnist_{method}", *SMALL], tmp_path, tracking_uri)
    for key in ("train/loss", "train/error", "val/error", "test/error", "train/samples_per_s", "train/angle_bp_w0"):
        assert key in m, key
    assert 0.0 <= m["test/error"] <= 100.0
    assert m["train/samples_per_s"] > 0
    if method == "bp":
        assert m["train/angle_bp_w0"] == pytest.approx(0.0, abs=1e-3)
    if method == "dfa":  # the one experiment with a published (context) number
        assert m["published/test/error"] == 1.45
        assert m["gap/test/error"] == pytest.approx(m["test/error"] - 1.45)


def test_conv_net_runs_on_cifar_shaped_data(tmp_path, tracking_uri):
    m = run_entry(["experiment=bidirectional_bp/cifar10_bdfa", "dataset=synthetic", "dataset.input_shape=[3,32,32]",
                   "paper.module.conv_channels=[4,4,4]", "paper.module.conv_fc_hidden=[16,16]", "num_threads=1",
                   *fast_dev_overrides()], tmp_path, tracking_uri)
    assert "test/error" in m and "train/angle_bp_w2" in m


def test_profiles_pick_each_datasets_budget():
    cpu = compose_cfg(["experiment=bidirectional_bp/mnist_dfa"])
    paper = compose_cfg(["experiment=bidirectional_bp/mnist_dfa", "profile=paper"])
    cifar = compose_cfg(["experiment=bidirectional_bp/cifar10_dfa", "profile=paper"])
    assert paper.trainer.max_epochs == 200 and paper.paper.module.lr == 1e-4
    assert paper.paper.module.loss_reduction == "sum" and paper.paper.module.adversarial_eps == 0.08
    assert cifar.paper.module.lr == 5e-5 and cifar.trainer.max_epochs == 200
    assert cpu.trainer.max_epochs < 200 and cpu.paper.module.loss_reduction == "mean"
    # the entry point passes the trainer block to Lightning unresolved: epochs must be literal ints
    for cfg in (cpu, paper, cifar):
        assert isinstance(OmegaConf.to_container(cfg.trainer)["max_epochs"], int)
    assert cpu.paper.module.method == "dfa" and cpu.paper.module.input_shape == [1, 28, 28]
    assert list(cpu.paper.stages) == ["bidirectional_bp/mnist_*"]  # the CPU sweep leaves CIFAR-10 out
    assert paper.optimizer._target_ == "torch.optim.SGD" and paper.optimizer.lr == 1e-4
    assert cpu.optimizer._target_ == "torch.optim.RMSprop" and cpu.optimizer.lr == cpu.paper.module.lr
