"""Hypergradient checks on tiny problems: finite differences, exact reversal, DrMAD on straight lines."""

import pytest
import torch

from lightning_modules.drmad.hypergrad import (
    DrMADSchedule, InnerSGD, cosine, drmad_hypergrad, drmad_points, exact_hypergrad, hypergradient,
    reversible_hypergrad, train_forward)
from lightning_modules.drmad.problem import MLPProblem, draw_batches, initial_weights

F64 = torch.float64


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # These ops are tiny; intra-op threads only add contention on a shared 2-core machine.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_mlp(steps=12, seed=0, sizes=(12, 6, 4, 3)):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(120, sizes[0], generator=gen, dtype=F64)
    y = torch.randint(sizes[-1], (120,), generator=gen)
    problem = MLPProblem(sizes, x[:80], y[:80], x[80:], y[80:], draw_batches(80, steps, 10, gen), log_l2=-3.0)
    h = 0.2 + 0.3 * torch.randn(problem.num_hypers, generator=gen, dtype=F64)
    z0 = initial_weights(problem.num_params, -1.0, gen, dtype=F64)
    return problem, h, z0


class IsotropicQuadratic:
    """train: a/2 |z|^2 - z.(B h); val: |z - y|^2 / 2 + c |h|^2. From z_0 = 0 every SGD-with-momentum
    iterate is a multiple of B h, so the trajectory is a straight line and the Hessians are constant."""

    def __init__(self, num_params=30, num_hypers=5, a=0.8, dtype=F64, seed=0):
        gen = torch.Generator().manual_seed(seed)
        self.B = torch.randn(num_params, num_hypers, generator=gen, dtype=dtype)
        self.y = torch.randn(num_params, generator=gen, dtype=dtype)
        self.a, self.num_params, self.num_hypers = a, num_params, num_hypers

    def train_loss(self, z, h, step):
        return 0.5 * self.a * torch.dot(z, z) - torch.dot(z, self.B @ h)

    def val_loss(self, z, h):
        return 0.5 * torch.sum((z - self.y) ** 2) + 0.01 * torch.dot(h, h)


def central_differences(problem, h, z0, sgd, idx, eps=1e-5):
    def f(hh):
        return problem.val_loss(train_forward(problem, hh, z0, sgd), hh).item()

    out = []
    for i in idx:
        e = torch.zeros_like(h)
        e[i] = eps
        out.append((f(h + e) - f(h - e)) / (2 * eps))
    return torch.tensor(out, dtype=F64)


def test_exact_hypergradient_matches_central_differences():
    problem, h, z0 = tiny_mlp(steps=12)
    sgd = InnerSGD(lr=0.3, momentum=0.5, steps=12)
    exact = exact_hypergrad(problem, h, z0, sgd)
    idx = [0, 3, 11, 12, 17, 20]  # units of every layer
    fd = central_differences(problem, h, z0, sgd, idx)
    assert exact.grad[idx].abs().max() > 1e-4  # the check is not vacuous
    torch.testing.assert_close(exact.grad[idx], fd, rtol=1e-5, atol=1e-8)


def test_exact_arithmetic_reversal_recovers_z0_and_matches_stored_trajectory():
    problem, h, z0 = tiny_mlp(steps=15, seed=1)
    sgd = InnerSGD(lr=0.3, momentum=0.1, steps=15)
    stored = exact_hypergrad(problem, h, z0, sgd)
    rev = reversible_hypergrad(problem, h, z0, sgd)
    assert rev.extra["reversal_exact"]
    torch.testing.assert_close(rev.grad, stored.grad, rtol=1e-9, atol=1e-12)
    assert rev.kept_bytes == (15 + 8 + 8) * problem.num_params  # a byte per weight per step + int64 z_T, v_T


def test_drmad_equals_exact_for_one_step_at_b_zero():
    # With one step the trajectory is the segment z_0 -> z_1 and the only stored point is z_0 = w(0).
    problem, h, z0 = tiny_mlp(steps=1)
    sgd = InnerSGD(lr=0.3, momentum=0.1, steps=1)
    exact = exact_hypergrad(problem, h, z0, sgd)
    drmad = drmad_hypergrad(problem, h, z0, sgd, DrMADSchedule(reverse_steps=1, b_lo=0.0, b_hi=0.0))
    torch.testing.assert_close(drmad.grad, exact.grad, rtol=1e-12, atol=1e-14)
    off_line = drmad_hypergrad(problem, h, z0, sgd, DrMADSchedule(reverse_steps=1, b_lo=1.0, b_hi=1.0))
    assert not torch.allclose(off_line.grad, exact.grad, rtol=1e-6)  # the point on the line matters


def test_drmad_equals_exact_on_a_straight_line_trajectory():
    problem = IsotropicQuadratic()
    h = torch.linspace(-0.5, 0.5, problem.num_hypers, dtype=F64)
    z0 = torch.zeros(problem.num_params, dtype=F64)
    sgd = InnerSGD(lr=0.4, momentum=0.3, steps=25)
    z_T = train_forward(problem, h, z0, sgd)
    assert abs(cosine(z_T, problem.B @ h)) > 1 - 1e-12  # the trajectory really is a line
    exact = exact_hypergrad(problem, h, z0, sgd)
    drmad = drmad_hypergrad(problem, h, z0, sgd, DrMADSchedule(reverse_fraction=1.0, batches="aligned"))
    torch.testing.assert_close(drmad.grad, exact.grad, rtol=1e-10, atol=1e-12)
    # With the paper's T/10 backward steps it is an approximation, even here.
    short = drmad_hypergrad(problem, h, z0, sgd, DrMADSchedule())
    assert not torch.allclose(short.grad, exact.grad, rtol=1e-3)


def test_drmad_approximates_exact_on_a_curved_trajectory():
    problem, h, z0 = tiny_mlp(steps=40, seed=2)
    sgd = InnerSGD(lr=0.2, momentum=0.1, steps=40)
    exact = exact_hypergrad(problem, h, z0, sgd)
    drmad = drmad_hypergrad(problem, h, z0, sgd, DrMADSchedule(reverse_fraction=1.0, batches="aligned"))
    c = cosine(drmad.grad, exact.grad)
    assert 0.5 < c < 1 - 1e-9  # same direction, not the same vector


def test_drmad_schedule_follows_the_authors_code():
    b, steps = drmad_points(2000, DrMADSchedule())
    assert len(b) == 200 and steps == list(range(200))  # N/10 steps, minibatch k at backward step k
    assert b[0].item() == pytest.approx(0.001) and b[-1].item() == pytest.approx(0.999)
    _, aligned = drmad_points(2000, DrMADSchedule(batches="aligned"))
    assert aligned[0] == 2 and aligned[-1] == 1997
    with pytest.raises(ValueError):
        drmad_points(10, DrMADSchedule(batches="sideways"))


@pytest.mark.parametrize("method", ["exact", "exact_reversible"])
def test_kept_memory_grows_with_steps_for_exact_only(method):
    problem, h, z0 = tiny_mlp(steps=40)
    kept = {}
    for T in (10, 40):
        sgd = InnerSGD(lr=0.1, momentum=0.1, steps=T)
        kept[method, T] = hypergradient(method, problem, h, z0, sgd, measure_memory=False).kept_bytes
        kept["drmad", T] = hypergradient("drmad", problem, h, z0, sgd, measure_memory=False).kept_bytes
    per_step = z0.nbytes if method == "exact" else z0.numel()  # float64 weights / one-byte remainders
    assert kept[method, 40] - kept[method, 10] == 30 * per_step
    assert kept["drmad", 40] == kept["drmad", 10] == 2 * z0.nbytes


def test_peak_memory_of_the_drmad_pass_does_not_grow_with_steps():
    # 1/2 MiB per weight vector, so the exact method's trajectory (T/2 MiB) dwarfs allocator noise.
    problem = IsotropicQuadratic(num_params=131_072, num_hypers=4, dtype=torch.float32)
    h = torch.full((4,), 0.1)
    z0 = torch.zeros(problem.num_params)
    peak = {}
    for T in (40, 160):
        sgd = InnerSGD(lr=0.1, momentum=0.1, steps=T)
        for method in ("exact", "drmad"):
            # The process high-water mark only ever overcounts (heap slack of earlier calls, a few
            # MiB at random), so the least of three calls is the figure that reflects the method.
            peak[method, T] = min(hypergradient(method, problem, h, z0, sgd).peak_bytes for _ in range(3)) / 2**20
    assert peak["exact", 160] - peak["exact", 40] > 0.75 * 60  # ~1/2 MiB more per extra step
    assert peak["drmad", 160] < peak["drmad", 40] + 4  # flat, within allocator noise
    assert peak["drmad", 160] < 0.2 * peak["exact", 160]
