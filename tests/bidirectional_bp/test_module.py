"""One SGD step of every method through the LightningModule (a real Trainer) against a hand computation
written per sample in NumPy, straight from the update equations in rules.py's docstring."""

import functools

import lightning as L
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from lightning_modules.bidirectional_bp import BidirectionalBPModule

LR, FB_LR, SCALE = 0.5, 0.1, 0.25
SHAPE, HIDDEN, K, N = (1, 2, 3), (5, 4), 3, 4


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def hand_step(method, W, b, B, x, y):
    """New (W, b, B) after one step, sample by sample: the rules as written in the paper/README."""
    W, b, B = [w.copy() for w in W], [v.copy() for v in b], {k: v.copy() for k, v in B.items()}
    dW = [np.zeros_like(w) for w in W]
    db = [np.zeros_like(v) for v in b]
    dB = {k: np.zeros_like(v) for k, v in B.items()}
    for xn, yn in zip(x, y):
        h0 = xn.reshape(-1)
        h1 = np.tanh(W[0] @ h0 + b[0])
        h2 = np.tanh(W[1] @ h1 + b[1])
        p = sigmoid(W[2] @ h2 + b[2])
        t = np.eye(K)[yn]
        e = (p - t) / N  # mean-reduced BCE summed over classes
        if method == "bp":
            d2 = (W[2].T @ e) * (1 - h2**2)
            d1 = (W[1].T @ d2) * (1 - h1**2)
        elif method in ("fa", "bfa"):
            d2 = (B[2].T @ e) * (1 - h2**2)
            d1 = (B[1].T @ d2) * (1 - h1**2)
        else:
            d2 = (B[1].T @ e) * (1 - h2**2)
            d1 = (B[0].T @ e) * (1 - h1**2)
        for i, (d, h) in enumerate([(d1, h0), (d2, h1), (e, h2)]):
            dW[i] += np.outer(d, h)
            db[i] += d
        c = SCALE * p
        c[yn] = 1.0
        if method == "bdfa":
            for i, h in ((0, h1), (1, h2)):
                dB[i] += (1 - sigmoid((B[i].T @ c) @ h)) * np.outer(c, h)
        if method == "bfa":
            dB[2] += (1 - sigmoid((B[2].T @ c) @ h2)) * np.outer(c, h2)
            dB[1] += (1 - sigmoid((B[1].T @ h2) @ h1)) * np.outer(h2, h1)
    W = [w - LR * g for w, g in zip(W, dW)]
    b = [v - LR * g for v, g in zip(b, db)]
    B = {k: v + FB_LR * dB[k] for k, v in B.items()}
    return W, b, B


@pytest.mark.parametrize("method", ["bp", "fa", "dfa", "bfa", "bdfa"])
def test_one_step_matches_hand_computation(method):
    torch.manual_seed(0)
    module = BidirectionalBPModule(
        functools.partial(torch.optim.SGD, lr=LR), SHAPE, K, method=method, mlp_hidden=HIDDEN,
        zero_init_forward=False, feedback_lr=FB_LR, target_code_scale=SCALE, test_every_epoch=False,
    ).double()
    net = module.net
    x = torch.rand(N, *SHAPE, dtype=torch.float64)
    y = torch.tensor([0, 2, 1, 2])
    W = [w.detach().numpy().copy() for w in net.weights]
    b = [v.detach().numpy().copy() for v in net.biases]
    B = {}
    if net.feedback is not None:
        B = {int(name[1:]): buf.numpy().copy() for name, buf in net.named_buffers()}
    W_new, b_new, B_new = hand_step(method, W, b, B, x.numpy(), y.numpy())

    trainer = L.Trainer(
        max_steps=1, limit_val_batches=0, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", devices=1,
    )
    trainer.fit(module, DataLoader(TensorDataset(x, y), batch_size=N))

    for got, want in zip(net.weights, W_new):
        np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-10, atol=1e-12)
    for got, want in zip(net.biases, b_new):
        np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-10, atol=1e-12)
    for k, want in B_new.items():
        np.testing.assert_allclose(net.feedback_matrix(k).numpy(), want, rtol=1e-10, atol=1e-12)
    if method in ("bfa", "bdfa"):
        assert any(not np.allclose(B_new[k], B[k]) for k in B)  # the feedback did move
    assert "train/error" in trainer.callback_metrics


def test_defaults_follow_the_authors_code():
    sgd = functools.partial(torch.optim.SGD, lr=0.1)
    dfa = BidirectionalBPModule(sgd, (1, 28, 28), 10, method="dfa")
    assert all(float(w.abs().sum()) == 0 for w in dfa.net.weights)  # DFA starts at zero
    bp = BidirectionalBPModule(sgd, (1, 28, 28), 10, method="bp")
    assert [tuple(w.shape) for w in bp.net.weights] == [(800, 784), (800, 800), (10, 800)]
    conv = BidirectionalBPModule(sgd, (3, 32, 32), 10, method="fa")
    assert [s.kind for s in conv.net.specs] == ["conv"] * 3 + ["linear"] * 3


def test_unknown_method_is_a_one_line_error():
    with pytest.raises(Exception, match="method='dfb' is unknown"):
        BidirectionalBPModule(functools.partial(torch.optim.SGD, lr=0.1), (1, 4, 4), 3, method="dfb")


def test_warm_up_ramps_the_step_linearly():
    torch.manual_seed(0)
    module = BidirectionalBPModule(functools.partial(torch.optim.SGD, lr=0.01), SHAPE, K, method="dfa", lr=0.4,
                                   mlp_hidden=HIDDEN, lr_warmup_epochs=2, test_every_epoch=False)
    x, y = torch.rand(16, *SHAPE), torch.randint(0, K, (16,))
    trainer = L.Trainer(max_steps=3, limit_val_batches=0, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", devices=1)
    trainer.fit(module, DataLoader(TensorDataset(x, y), batch_size=4))  # 4 batches/epoch: ramp of 8 steps
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.4 * 3 / 8)


@pytest.mark.parametrize("decay,factor", [("linear", 1 / 8), ("cosine", 0.5 * (1 + np.cos(np.pi * 7 / 8)))])
def test_decay_spans_the_whole_run(decay, factor):
    torch.manual_seed(0)
    module = BidirectionalBPModule(None, SHAPE, K, method="bp", lr=0.4, mlp_hidden=HIDDEN, lr_decay=decay,
                                   test_every_epoch=False)  # no optimizer partial: plain torch SGD
    x, y = torch.rand(16, *SHAPE), torch.randint(0, K, (16,))
    trainer = L.Trainer(max_epochs=2, limit_val_batches=0, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", devices=1)
    trainer.fit(module, DataLoader(TensorDataset(x, y), batch_size=4))  # 8 steps; the last at 7/8 of the run
    assert isinstance(trainer.optimizers[0], torch.optim.SGD)
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.4 * factor)
