"""The flat optimizers against torch.optim on identical gradients, the hand-written MLP gradient
against autograd, Adam-HD against its formula, and the L2L baseline's meta-training."""

import pytest
import torch

from lightning_modules.neural_optimizer.l2l import L2LOptimizer
from lightning_modules.neural_optimizer.optimizee import MLPSpec, loss, loss_and_grad
from lightning_modules.neural_optimizer.optimizers import SGD, Adam, AdamHD, RMSprop, log_and_sign
from lightning_modules.neural_optimizer.runner import train_optimizee

from tests.neural_optimizer._problems import synthetic_problem


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "tanh"])
def test_hand_written_gradient_matches_autograd(activation):
    spec = MLPSpec(30, (7, 5), 4, activation)
    gen = torch.Generator().manual_seed(0)
    theta = spec.init(gen).double()
    x = torch.randn(16, 30, generator=gen, dtype=torch.float64)
    y = torch.randint(4, (16,), generator=gen)
    grad = torch.empty_like(theta)
    value = loss_and_grad(spec, theta, x, y, grad)
    t = theta.clone().requires_grad_(True)
    ref = loss(spec, t, x, y)
    ref.backward()
    assert value == pytest.approx(ref.item(), rel=1e-12)
    torch.testing.assert_close(grad, t.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("ours, theirs", [
    (lambda: SGD(lr=0.1), lambda p: torch.optim.SGD([p], lr=0.1)),
    (lambda: SGD(lr=0.05, momentum=0.9), lambda p: torch.optim.SGD([p], lr=0.05, momentum=0.9)),
    (lambda: RMSprop(lr=1e-3), lambda p: torch.optim.RMSprop([p], lr=1e-3, alpha=0.99, eps=1e-8)),
    (lambda: Adam(lr=1e-3), lambda p: torch.optim.Adam([p], lr=1e-3, foreach=False)),
])
def test_flat_optimizers_match_torch_optim(ours, theirs):
    gen = torch.Generator().manual_seed(1)
    theta = torch.randn(40, generator=gen, dtype=torch.float64)
    p = torch.nn.Parameter(theta.clone())
    opt, ref = ours(), theirs(p)
    opt.reset(theta)
    for _ in range(7):
        g = torch.randn(40, generator=gen, dtype=torch.float64)
        opt.step(theta, g)
        p.grad = g.clone()
        ref.step()
    torch.testing.assert_close(theta, p.detach(), rtol=1e-12, atol=1e-14)


def test_adam_with_a_rate_tensor_equals_scalar_adam_when_constant():
    gen = torch.Generator().manual_seed(2)
    a, b = torch.randn(20, generator=gen), None
    b = a.clone()
    o1, o2 = Adam(lr=3e-3), Adam(lr=3e-3)
    o1.reset(a)
    o2.reset(b)
    o2.lr = torch.full_like(b, 3e-3)
    for _ in range(5):
        g = torch.randn(20, generator=gen)
        o1.step(a, g)
        o2.step(b, g)
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("parameter_wise", [False, True])
def test_adam_hd_follows_baydin_update(parameter_wise):
    gen = torch.Generator().manual_seed(3)
    theta = torch.randn(10, generator=gen, dtype=torch.float64)
    beta = 1e-2 if parameter_wise else 1e-4  # global: small enough that the rate stays positive here
    opt = AdamHD(lr=1e-3, beta=beta, parameter_wise=parameter_wise)
    opt.reset(theta)
    g1, g2 = (torch.randn(10, generator=gen, dtype=torch.float64) for _ in range(2))
    opt.step(theta, g1)
    u1 = opt.u.clone()
    opt.step(theta, g2)
    if parameter_wise:
        expected = (1e-3 + beta * g2 * u1).clamp(min=0)
        assert (expected == 0).any() and (expected > 1e-3).any()  # both the clamp and growth are exercised
        torch.testing.assert_close(opt.lr, expected)
    else:
        expected = 1e-3 + beta * torch.dot(g2, u1).item()
        assert expected > 0 and expected != pytest.approx(1e-3)
        assert opt.lr == pytest.approx(expected)


def test_log_and_sign_preprocessing():
    k = 5.0
    x = torch.tensor([1.0, -1e-1, 1e-4, -1e-4, 0.0])
    out = log_and_sign(x, k)
    assert out.shape == (5, 2)
    assert out[0, 0].item() == pytest.approx(0.0) and out[0, 1].item() == 1.0
    assert out[1, 1].item() == -1.0 and out[1, 0].item() == pytest.approx(torch.log(torch.tensor(0.1)).item() / k)
    # below e^-k: magnitude clipped to -1, sign becomes linear
    assert out[2, 0].item() == pytest.approx(-1.0) and out[2, 1].item() == pytest.approx(1e-4 * torch.e ** k)
    assert out[4, 1].item() == 0.0


def test_l2l_meta_training_updates_the_lstm_and_is_deterministic():
    problem = synthetic_problem()
    nets = []
    for _ in range(2):
        opt = L2LOptimizer(meta={"optimizees": 1, "horizon": 8, "unroll": 4, "seed": 0})
        before = {k: v.clone() for k, v in opt.controller.state_dict().items()}
        row = opt.meta_train_iteration(problem, torch.Generator().manual_seed(0))
        assert row["meta/diverged"] == 0.0
        after = opt.controller.state_dict()
        assert any(not torch.equal(before[k], after[k]) for k in before)
        nets.append(after)
    assert all(torch.equal(nets[0][k], nets[1][k]) for k in nets[0])
    # frozen: updates parameters through the LSTM and never touches autograd
    res = train_optimizee(problem, opt, 6, torch.Generator().manual_seed(1), log_every=3)
    assert not res.diverged and res.theta.grad is None
