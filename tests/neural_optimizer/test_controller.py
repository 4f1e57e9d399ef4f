"""Rates fixed within an S-window, changing at its boundary; frozen runs deterministic; meta-gradient
= chain rule through the proposed rates; bounded multiplicative proposals."""

import math

import pytest
import torch

from lightning_modules.neural_optimizer.controller import NeuralAdam
from lightning_modules.neural_optimizer.runner import train_optimizee

from tests.neural_optimizer._problems import synthetic_problem


def _trained_neural(window=4, iterations=2, horizon=16, seed=0):
    problem = synthetic_problem()
    opt = NeuralAdam(lr=1e-3, window=window, meta={"horizon": horizon, "lr": 1e-2, "init_lr_range": [1e-4, 1e-1]})
    gen = torch.Generator().manual_seed(seed)
    for _ in range(iterations):
        opt.meta_train_iteration(problem, gen)
    return problem, opt


class _Recorder:
    """Wraps an optimizer and records the rate tensor used at every step."""

    def __init__(self, opt):
        self.opt, self.rates = opt, []

    def __getattr__(self, name):
        return getattr(self.opt, name)

    def reset(self, theta):
        self.opt.reset(theta)

    def set_layout(self, sizes):
        self.opt.set_layout(sizes)

    def step(self, theta, grad):
        self.opt.step(theta, grad)
        self.rates.append(self.opt.lr.clone())


def test_rates_constant_within_window_and_change_at_boundary():
    problem, opt = _trained_neural(window=4)
    rec = _Recorder(opt)
    train_optimizee(problem, rec, 16, torch.Generator().manual_seed(5), log_every=4, eval_test=False)
    rates = rec.rates  # rates[t-1] = rate applied at step t
    for w in range(4):
        block = rates[4 * w: 4 * w + 4]
        for r in block[1:]:
            assert torch.equal(r, block[0]), f"rate changed inside window {w}"
    for w in range(1, 4):
        assert not torch.equal(rates[4 * w], rates[4 * w - 1]), f"rate did not change at boundary {w}"
    # first window: the starting rate, everywhere
    assert torch.all(rates[0] == 1e-3)


def test_proposals_are_bounded_multiplicative_changes():
    problem, opt = _trained_neural(window=4)
    rec = _Recorder(opt)
    train_optimizee(problem, rec, 12, torch.Generator().manual_seed(6), log_every=4, eval_test=False)
    ratio = rec.rates[4] / rec.rates[3]
    assert ratio.max() <= 2.0 * (1 + 1e-5) and ratio.min() >= 0.5 * (1 - 1e-5)
    assert all(((r >= opt.lr_min * (1 - 1e-6)) & (r <= opt.lr_max * (1 + 1e-6))).all() for r in rec.rates)


def test_frozen_optimizer_is_deterministic_given_seed():
    problem, opt = _trained_neural()
    runs = [train_optimizee(problem, opt, 24, torch.Generator().manual_seed(11), log_every=4) for _ in range(2)]
    assert torch.equal(runs[0].theta, runs[1].theta)
    assert [r["train/loss"] for r in runs[0].curve] == [r["train/loss"] for r in runs[1].curve]
    other = train_optimizee(problem, opt, 24, torch.Generator().manual_seed(12), log_every=4)
    assert not torch.equal(runs[0].theta, other.theta)


def test_meta_training_is_deterministic_and_changes_the_controller():
    _, a = _trained_neural(seed=3)
    _, b = _trained_neural(seed=3)
    fresh = NeuralAdam(lr=1e-3, window=4)
    sa, sb = a.controller.state_dict(), b.controller.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    torch.manual_seed(0)  # the fresh controller's init differs anyway; compare the read-out's drift
    assert not torch.equal(sa["net.out.bias"], fresh.controller.state_dict()["net.out.bias"])


def test_meta_gradient_is_the_chain_rule_through_the_rates():
    """The surrogate <H, lr(phi)> gives dL/dphi = sum_i H_i dlr_i/dphi: compare with a finite difference
    of that sum in one controller weight."""
    torch.set_default_dtype(torch.float64)
    try:
        opt = NeuralAdam(lr=1e-3, window=4)
        p = 50
        hyper_prev = torch.randn(p, generator=torch.Generator().manual_seed(0)) * 1e-2
        hyper_next = torch.randn(p, generator=torch.Generator().manual_seed(1)) * 1e-2
        log_lr = torch.full((p,), math.log(1e-3))
        state = opt.controller.net.initial_state(p, log_lr)

        def lr_of_controller():
            delta, _ = opt.controller(hyper_prev, log_lr, state)
            return (log_lr + delta).exp()

        surrogate = (hyper_next * lr_of_controller()).sum()
        weight = opt.controller.net.cells[0].weight_ih
        (g,) = torch.autograd.grad(surrogate, weight)
        i, j = 5, 1
        eps = 1e-6
        with torch.no_grad():
            weight[i, j] += eps
            up = (hyper_next * lr_of_controller()).sum().item()
            weight[i, j] -= 2 * eps
            down = (hyper_next * lr_of_controller()).sum().item()
            weight[i, j] += eps
        assert g[i, j].item() == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-14)
    finally:
        torch.set_default_dtype(torch.float32)


def test_untrained_controller_is_close_to_plain_adam():
    """out_init_std ~ 0 -> proposals ~ x1: the untrained neural optimizer starts as Adam."""
    problem = synthetic_problem()
    opt = NeuralAdam(lr=1e-3, window=4, out_init_std=0.0)
    rec = _Recorder(opt)
    train_optimizee(problem, rec, 12, torch.Generator().manual_seed(1), log_every=4, eval_test=False)
    assert all(torch.allclose(r, torch.full_like(r, 1e-3)) for r in rec.rates)


def test_feature_major_lstm_equals_torch_lstm_cells():
    """The coordinatewise LSTM's fast layout computes exactly nn.LSTMCell's recurrence."""
    from lightning_modules.neural_optimizer.controller import CoordinatewiseLSTM

    torch.manual_seed(0)
    net = CoordinatewiseLSTM(3, hidden=6, layers=2, out_init_std=0.5)
    p = 40
    x1, x2 = torch.randn(p, 3), torch.randn(p, 3)
    state = net.initial_state(p, x1)
    out1, state = net(x1.t().contiguous(), state)
    out2, state = net(x2.t().contiguous(), state)
    ref_state = [(torch.zeros(p, 6), torch.zeros(p, 6)) for _ in net.cells]
    for x, out in ((x1, out1), (x2, out2)):
        h = x
        for k, cell in enumerate(net.cells):
            ref_state[k] = cell(h, ref_state[k])
            h = ref_state[k][0]
        torch.testing.assert_close(out, net.out(h).squeeze(-1), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(state[-1][1], ref_state[-1][1].t(), rtol=1e-5, atol=1e-6)


def test_normalized_meta_gradient_ignores_the_hypergradients_scale():
    """meta.normalize_hyper: a window's contribution to the controller's gradient depends on the
    direction of H only; without it, it scales with |H|."""
    def meta_grad(normalize, scale):
        opt = NeuralAdam(lr=1e-3, window=4, meta={"normalize_hyper": normalize})
        opt.begin_meta_training()
        opt.reset(torch.zeros(30))
        opt._log_lr = opt._log_lr + opt.controller(torch.ones(30) * 1e-3, opt._log_lr, opt._state)[0]
        opt.hyper = torch.linspace(-1, 2, 30) * scale
        opt._windows_since_update = 0
        opt.meta["unroll_windows"] = 2  # accumulate only: keep the surrogate to read its gradient
        opt._meta_accumulate()
        (g,) = torch.autograd.grad(opt._surrogate, opt.controller.net.out.bias)
        return g

    torch.testing.assert_close(meta_grad(True, 1e-6), meta_grad(True, 1.0))
    torch.testing.assert_close(meta_grad(False, 1e-6) * 1e6, meta_grad(False, 1.0))
    assert not torch.allclose(meta_grad(False, 1e-6), meta_grad(False, 1.0))
