"""The Adam hypergradient dL_t/dlr = -g_t * u_{t-1} against finite differences, and its window sum."""

import torch

from lightning_modules.neural_optimizer.controller import NeuralAdam
from lightning_modules.neural_optimizer.optimizee import loss_and_grad
from lightning_modules.neural_optimizer.optimizers import Adam

from tests.neural_optimizer._problems import synthetic_problem


def _adam_after(problem, steps: int, batches, dtype=torch.float64):
    spec = problem.spec
    theta = spec.init(torch.Generator().manual_seed(0)).to(dtype)
    grad = torch.empty_like(theta)
    opt = Adam(lr=1e-2)
    opt.reset(theta)
    for x, y in batches[:steps]:
        loss_and_grad(spec, theta, x, y, grad)
        opt.step(theta, grad)
    return theta, opt


def test_one_step_hypergradient_matches_finite_differences_per_coordinate():
    """f(theta_{t-1} - lr * u_t) on the next batch: d/dlr_i = -g_{t+1,i} u_{t,i}, exactly (float64)."""
    problem = synthetic_problem(dtype=torch.float64)
    spec = problem.spec
    sampler = problem.data.sampler(problem.batch_size, torch.Generator().manual_seed(1))
    batches = [sampler.next() for _ in range(6)]
    theta, opt = _adam_after(problem, 4, batches)
    grad = torch.empty_like(theta)
    x, y = batches[4]
    loss_and_grad(spec, theta, x, y, grad)
    opt.direction(grad)                       # u_t, fixed: it does not depend on this step's rate
    lr = torch.full_like(theta, 1e-2)
    nxt = batches[5]

    def f(lr_vec):
        g = torch.empty_like(theta)
        return loss_and_grad(spec, theta - lr_vec * opt.u, *nxt, g), g

    _, g_next = f(lr)
    analytic = -g_next * opt.u
    # coordinates with the largest and a middling analytic value, plus a bias coordinate
    order = analytic.abs().argsort(descending=True)
    for i in (order[0].item(), order[len(order) // 3].item(), spec.num_params - 1):
        eps = 1e-6
        up, down = lr.clone(), lr.clone()
        up[i] += eps
        down[i] -= eps
        fd = (f(up)[0] - f(down)[0]) / (2 * eps)
        assert abs(fd - analytic[i].item()) <= 1e-6 * max(1.0, abs(fd)) + 1e-9, (i, fd, analytic[i].item())
    # and it is not trivially zero
    assert analytic.abs().max() > 1e-6


def test_window_hypergradient_is_the_sum_of_one_step_terms():
    """NeuralAdam's H over a window = sum over the window of -g_{t+1} * u_t (the u of each step taken
    with the window's rate), charged to the window whose rate took the step."""
    problem = synthetic_problem()
    spec = problem.spec
    sampler = problem.data.sampler(problem.batch_size, torch.Generator().manual_seed(2))
    batches = [sampler.next() for _ in range(7)]
    theta = spec.init(torch.Generator().manual_seed(0))
    ref_theta = theta.clone()
    opt = NeuralAdam(lr=1e-3, window=3)
    opt.set_layout(spec.segment_sizes)
    opt.reset(theta)
    ref = Adam(lr=1e-3)
    ref.reset(ref_theta)
    grad, rgrad = torch.empty_like(theta), torch.empty_like(theta)
    expected = torch.zeros_like(theta)
    seen = None
    for t, (x, y) in enumerate(batches, start=1):
        loss_and_grad(spec, theta, x, y, grad)
        loss_and_grad(spec, ref_theta, x, y, rgrad)
        if 2 <= t <= 4:  # terms -g_t u_{t-1} for the steps t-1 = 1..3 of window 0
            expected += -rgrad * ref.u
        if t == 4:  # the boundary: H of window 0 is complete just before the controller reads it
            seen = opt.hyper.clone() + (-grad * opt.u)
        opt.step(theta, grad)
        ref.step(ref_theta, rgrad)
        if t == 4:
            assert torch.count_nonzero(opt.hyper) == 0  # cleared for the next window
    torch.testing.assert_close(seen, expected, rtol=1e-5, atol=1e-9)
