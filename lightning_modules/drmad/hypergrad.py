"""Hypergradients through T steps of SGD with momentum: exact reverse mode and DrMAD.

Inner loop (the authors' `sgd_numpy_safe` / Maclaurin et al.'s `sgd_meta_only`), for i = 0..T-1:

    v_{i+1} = gamma * v_i - (1 - gamma) * grad_z L_train(z_i, h; batch i)          (1)
    z_{i+1} = z_i + alpha * v_{i+1}                                                  (2)

hyper-objective f(h) = L_val(z_T, h). Reverse mode walks (1)-(2) backwards with adjoints dz, dv, dh:

    dv += alpha * dz                                     (adjoint of (2))
    dz -= (1 - gamma) * H_zz(z_i) dv                     (adjoint of (1) w.r.t. z_i: Hessian-vector product)
    dh -= (1 - gamma) * H_hz(z_i) dv                     (... w.r.t. h: mixed second derivative times dv)
    dv *= gamma

starting from dz = d L_val / d z_T, dv = 0, dh = d L_val / d h (h also enters L_val through w = z exp(t)).
Both products come from ONE double backward: g = grad_z L (create_graph) then grad_{z,h} <g, dv>.

The three methods differ only in where the reverse pass gets z_i:
- `exact`:            z_0..z_{T-1} stored during the forward pass (T x P numbers kept);
- `exact_reversible`: Maclaurin et al.'s exact-arithmetic reversal: z, v held as fixed-point int64,
                      (2) undone by integer subtraction and (1) by re-adding (1-gamma) g and undoing the
                      multiply by gamma = n/d from the remainders it discarded (T x P bytes kept);
- `drmad`:            only z_0 and z_T kept; z_i replaced by the line z(b) = (1-b) z_0 + b z_T, walked
                      from b = b_hi down to b_lo in K = T * reverse_fraction steps (the authors' code:
                      K = T/10, b = linspace(0.001, 0.999, K), batch k reused for backward step k).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction

import torch

from lightning_modules.drmad.memory import PeakMemory

METHODS = ("exact", "exact_reversible", "drmad")


@dataclass
class InnerSGD:
    """The inner optimiser: SGD with momentum in the authors' (1 - gamma)-damped form."""

    lr: float = 0.05
    momentum: float = 0.1
    steps: int = 2000


@dataclass
class DrMADSchedule:
    """DrMAD's approximate reverse pass (defaults: the authors' `sgd_numpy_safe`)."""

    reverse_fraction: float = 0.1  # K = round(T * fraction) backward steps
    reverse_steps: int | None = None  # overrides the fraction when set
    b_hi: float = 0.999  # first point of the backward walk (near z_T)
    b_lo: float = 0.001  # last point (near z_0)
    batches: str = "early"  # "early": backward step k uses minibatch k (authors); "aligned": batch of step b*T

    def num_steps(self, T: int) -> int:
        return max(1, int(self.reverse_steps) if self.reverse_steps else round(T * self.reverse_fraction))


@dataclass
class HypergradResult:
    grad: torch.Tensor  # d L_val / d h
    val_loss: float
    z_final: torch.Tensor
    method: str
    kept_bytes: int  # bytes the method holds from its forward pass for its reverse pass (weights, state)
    forward_s: float = 0.0
    reverse_s: float = 0.0
    peak_bytes: int | None = None  # process/device peak over the whole call, above the level at its start
    peak_source: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def total_s(self) -> float:
        return self.forward_s + self.reverse_s


def _leaf(x: torch.Tensor) -> torch.Tensor:
    return x.detach().requires_grad_(True)


def train_grad(problem, z: torch.Tensor, h: torch.Tensor, step: int) -> torch.Tensor:
    z = _leaf(z)
    (g,) = torch.autograd.grad(problem.train_loss(z, h.detach(), step), z)
    return g


def grad_and_hvp(problem, z: torch.Tensor, h: torch.Tensor, step: int, dv: torch.Tensor):
    """(g, H_zz dv, H_hz dv) at (z, h) on minibatch `step`, by double backward over flat vectors."""
    z, h = _leaf(z), _leaf(h)
    (g,) = torch.autograd.grad(problem.train_loss(z, h, step), z, create_graph=True)
    hz, hh = torch.autograd.grad(g, (z, h), grad_outputs=dv)
    return g.detach(), hz, hh


def val_loss_and_grads(problem, z: torch.Tensor, h: torch.Tensor):
    z, h = _leaf(z), _leaf(h)
    loss = problem.val_loss(z, h)
    dz, dh = torch.autograd.grad(loss, (z, h))
    return loss.item(), dz, dh


def train_forward(problem, h: torch.Tensor, z0: torch.Tensor, sgd: InnerSGD, trajectory=None) -> torch.Tensor:
    """Run (1)-(2) for sgd.steps steps; write z_i into trajectory[i] when a buffer is given."""
    z, v = z0.clone(), torch.zeros_like(z0)
    for i in range(sgd.steps):
        if trajectory is not None:
            trajectory[i].copy_(z)
        g = train_grad(problem, z, h, i)
        v.mul_(sgd.momentum).sub_(g, alpha=1.0 - sgd.momentum)
        z.add_(v, alpha=sgd.lr)
    return z


def _reverse_step(problem, z_i, h, step, sgd: InnerSGD, dz, dv, dh):
    """One step of the adjoint recursion (see module docstring); updates dz, dv, dh in place."""
    dv.add_(dz, alpha=sgd.lr)
    g, hz, hh = grad_and_hvp(problem, z_i, h, step, dv)
    dz.sub_(hz, alpha=1.0 - sgd.momentum)
    dh.sub_(hh, alpha=1.0 - sgd.momentum)
    dv.mul_(sgd.momentum)
    return g


def exact_hypergrad(problem, h, z0, sgd: InnerSGD) -> HypergradResult:
    """Exact reverse mode over the stored trajectory z_0..z_{T-1}."""
    t0 = time.perf_counter()
    trajectory = torch.empty((sgd.steps, z0.numel()), dtype=z0.dtype, device=z0.device)
    z_final = train_forward(problem, h, z0, sgd, trajectory)
    _sync(z0)
    t1 = time.perf_counter()
    val, dz, dh = val_loss_and_grads(problem, z_final, h)
    dv = torch.zeros_like(dz)
    for i in reversed(range(sgd.steps)):
        _reverse_step(problem, trajectory[i], h, i, sgd, dz, dv, dh)
    _sync(z0)
    kept = trajectory.nbytes + z_final.nbytes  # z_0..z_{T-1} and z_T
    return HypergradResult(dh, val, z_final, "exact", kept, t1 - t0, time.perf_counter() - t1)


# ---- exact-arithmetic reversal (Maclaurin, Duvenaud & Adams 2015, Sec. 3) -------------------------

class FixedPoint:
    """Fixed-point int64 numbers with `bits` fractional bits: add/sub are exact, so they can be undone.

    Maclaurin et al. use 2^52; with float32 compute the float view is rounded, but the integer state
    is what gets reversed, so the reversal stays bit-exact whatever the compute precision.
    """

    def __init__(self, bits: int = 52):
        self.scale = float(2**bits)

    def to_int(self, x: torch.Tensor) -> torch.Tensor:
        return torch.round(x.double() * self.scale).long()

    def to_float(self, n: torch.Tensor, dtype) -> torch.Tensor:
        return (n.double() / self.scale).to(dtype)


def rational(x: float, max_den: int = 255) -> tuple[int, int]:
    """gamma as n/d with d <= 255 so each discarded remainder fits one byte (0.1 -> 1/10 exactly)."""
    f = Fraction(x).limit_denominator(max_den)
    return f.numerator, f.denominator


def reversible_hypergrad(problem, h, z0, sgd: InnerSGD, bits: int = 52) -> HypergradResult:
    """Exact reverse mode that recomputes z_i by running the training dynamics backwards exactly.

    The multiply v <- gamma v loses information; with gamma = n/d we keep the remainder of the
    division by d (one byte per weight per step; log2(d) bits of information) and restore it on the
    way back. Maclaurin et al. pack these remainders into one arbitrary-precision integer per weight;
    a byte per remainder is simpler and at most 8 / log2(d) times larger (2.4x for gamma = 0.1).
    """
    fx = FixedPoint(bits)
    n, d = rational(sgd.momentum)
    if n == 0:
        raise ValueError("exact_reversible needs momentum > 0 (v <- 0 * v forgets v entirely): use method 'exact'")
    gamma = n / d  # the momentum actually applied, exactly n/d
    dtype = z0.dtype
    t0 = time.perf_counter()
    Z, V = fx.to_int(z0), torch.zeros(z0.numel(), dtype=torch.long, device=z0.device)
    remainders = torch.empty((sgd.steps, z0.numel()), dtype=torch.uint8, device=z0.device)
    for i in range(sgd.steps):
        g = train_grad(problem, fx.to_float(Z, dtype), h, i)
        remainders[i].copy_(torch.remainder(V, d))
        V = torch.div(V, d, rounding_mode="floor") * n
        V -= fx.to_int((1.0 - gamma) * g)
        Z += fx.to_int(sgd.lr * fx.to_float(V, dtype))
    z_final = fx.to_float(Z, dtype)
    _sync(z0)
    t1 = time.perf_counter()
    val, dz, dh = val_loss_and_grads(problem, z_final, h)
    dv = torch.zeros_like(dz)
    sgd_exact = InnerSGD(sgd.lr, gamma, sgd.steps)
    for i in reversed(range(sgd.steps)):
        Z -= fx.to_int(sgd.lr * fx.to_float(V, dtype))
        # The gradient that comes with the Hessian-vector product undoes (1). It must be bit-identical
        # to the forward pass's; `reversal_exact` below checks that z_0 and v_0 = 0 were recovered.
        g = _reverse_step(problem, fx.to_float(Z, dtype), h, i, sgd_exact, dz, dv, dh)
        V += fx.to_int((1.0 - gamma) * g)
        V = torch.div(V, n, rounding_mode="floor") * d + remainders[i].long()
    _sync(z0)
    kept = remainders.nbytes + Z.nbytes + V.nbytes  # remainders + the final integer state
    result = HypergradResult(dh, val, z_final, "exact_reversible", kept, t1 - t0, time.perf_counter() - t1)
    result.extra["reversal_exact"] = bool(torch.equal(Z, fx.to_int(z0)) and not V.any())
    return result


# ---- DrMAD ---------------------------------------------------------------------------------------

def drmad_points(T: int, schedule: DrMADSchedule) -> tuple[torch.Tensor, list[int]]:
    """The b values walked backwards (b_hi first) and the minibatch used at each of them."""
    K = schedule.num_steps(T)
    b = torch.linspace(schedule.b_lo, schedule.b_hi, K, dtype=torch.float64)
    if schedule.batches == "early":
        steps = list(range(K))
    elif schedule.batches == "aligned":
        steps = [min(T - 1, int(round(x * (T - 1)))) for x in b.tolist()]
    else:
        raise ValueError(f"unknown DrMAD batch rule {schedule.batches!r}: use 'early' or 'aligned'")
    return b, steps


def drmad_hypergrad(problem, h, z0, sgd: InnerSGD, schedule: DrMADSchedule | None = None) -> HypergradResult:
    """DrMAD: the reverse pass of `exact_hypergrad` with z_i replaced by points on the z_0 -> z_T line."""
    schedule = schedule or DrMADSchedule()
    t0 = time.perf_counter()
    w0 = z0.clone()  # the two endpoints are all DrMAD keeps
    z_final = train_forward(problem, h, z0, sgd)
    _sync(z0)
    t1 = time.perf_counter()
    val, dz, dh = val_loss_and_grads(problem, z_final, h)
    dv = torch.zeros_like(dz)
    b, steps = drmad_points(sgd.steps, schedule)
    z = torch.empty_like(w0)
    for k in reversed(range(len(steps))):
        bk = float(b[k])
        z.copy_(w0).mul_(1.0 - bk).add_(z_final, alpha=bk)
        _reverse_step(problem, z, h, steps[k], sgd, dz, dv, dh)
    _sync(z0)
    kept = w0.nbytes + z_final.nbytes
    return HypergradResult(dh, val, z_final, "drmad", kept, t1 - t0, time.perf_counter() - t1)


def hypergradient(method: str, problem, h, z0, sgd: InnerSGD, schedule: DrMADSchedule | None = None,
                  measure_memory: bool = True, reversible_bits: int = 52) -> HypergradResult:
    """Dispatch by name; with measure_memory, also record the peak memory of the whole call."""
    if method not in METHODS:
        raise ValueError(f"unknown hypergradient method {method!r}: choose one of {', '.join(METHODS)}")
    meter = PeakMemory(z0.device) if measure_memory else None
    if meter:
        meter.start()
    if method == "exact":
        result = exact_hypergrad(problem, h, z0, sgd)
    elif method == "exact_reversible":
        result = reversible_hypergrad(problem, h, z0, sgd, reversible_bits)
    else:
        result = drmad_hypergrad(problem, h, z0, sgd, schedule)
    if meter:
        result.peak_bytes, result.peak_source = meter.stop(), meter.source
    return result


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a.double().flatten(), b.double().flatten(), dim=0))


def _sync(x: torch.Tensor) -> None:
    if x.is_cuda:
        torch.cuda.synchronize(x.device)


def sign_agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fraction of hyperparameters whose sign-of-hypergradient update is the same under a and b."""
    return float((torch.sign(a) == torch.sign(b)).double().mean())


__all__ = [
    "METHODS", "InnerSGD", "DrMADSchedule", "HypergradResult", "train_forward", "grad_and_hvp",
    "exact_hypergrad", "reversible_hypergrad", "drmad_hypergrad", "hypergradient", "cosine",
    "sign_agreement", "drmad_points",
]
