"""The optimizee: a multilayer perceptron written as functions of one flat parameter vector.

Keeping every optimizee parameter in one contiguous vector lets the optimizers (hand-designed and
learned) act on all coordinates with single vectorised calls, lets the coordinatewise LSTMs see the
parameters as a batch of P rows, and makes "one learning rate per parameter" a plain [P] tensor.
The gradient is written by hand (a two-line backward per layer) because on CPU autograd's
bookkeeping costs more than the arithmetic of a 784-20-10 network; `loss` (autograd-friendly) is kept
for the learning-to-learn baseline, which must differentiate through parameter trajectories, and for
the test that checks the hand-written gradient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

_ACT = {
    "sigmoid": (torch.sigmoid, lambda a: a * (1.0 - a)),
    "relu": (torch.relu, lambda a: (a > 0).to(a.dtype)),
    "tanh": (torch.tanh, lambda a: 1.0 - a * a),
}


@dataclass(frozen=True)
class MLPSpec:
    """Layer sizes and nonlinearity; parameters laid out layer by layer as W [out, in] then b [out]."""

    in_features: int
    hidden: tuple[int, ...]
    n_classes: int
    activation: str = "sigmoid"

    def __post_init__(self) -> None:
        if self.activation not in _ACT:
            raise ValueError(f"activation must be one of {sorted(_ACT)}, got {self.activation!r}")

    @property
    def sizes(self) -> list[int]:
        return [self.in_features, *self.hidden, self.n_classes]

    @property
    def layers(self) -> list[tuple[int, int, int, int]]:
        """(fan_in, fan_out, offset of W, offset of b) per layer."""
        out, off = [], 0
        for fan_in, fan_out in zip(self.sizes[:-1], self.sizes[1:]):
            out.append((fan_in, fan_out, off, off + fan_in * fan_out))
            off += fan_in * fan_out + fan_out
        return out

    @property
    def segment_sizes(self) -> list[int]:
        """Sizes of W1, b1, W2, b2, ... in flat order."""
        return [n for i, o, _, _ in self.layers for n in (i * o, o)]

    @property
    def num_params(self) -> int:
        return sum(i * o + o for i, o, _, _ in self.layers)

    def unflatten(self, theta: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Views (no copies) of W and b in the flat vector, so writes through them update theta."""
        return [
            (theta[w : w + i * o].view(o, i), theta[b : b + o]) for i, o, w, b in self.layers
        ]

    def init(self, generator: torch.Generator, dtype=torch.float32) -> torch.Tensor:
        """torch.nn.Linear's default init, U(+-1/sqrt(fan_in)) for W and b, from an explicit generator."""
        theta = torch.empty(self.num_params, dtype=dtype)
        for (i, _, _, _), (w, b) in zip(self.layers, self.unflatten(theta)):
            bound = 1.0 / math.sqrt(i)
            w.uniform_(-bound, bound, generator=generator)
            b.uniform_(-bound, bound, generator=generator)
        return theta


def logits(spec: MLPSpec, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    act, _ = _ACT[spec.activation]
    params = spec.unflatten(theta)
    h = x
    for k, (w, b) in enumerate(params):
        h = torch.addmm(b, h, w.t())
        if k < len(params) - 1:
            h = act(h)
    return h


def loss(spec: MLPSpec, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy; differentiable w.r.t. theta by autograd."""
    return F.cross_entropy(logits(spec, theta, x), y)


def loss_and_grad(
    spec: MLPSpec, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor, grad_out: torch.Tensor
) -> float:
    """Mean cross-entropy and its gradient written into `grad_out` (same layout as theta)."""
    act, dact = _ACT[spec.activation]
    params = spec.unflatten(theta)
    grads = spec.unflatten(grad_out)
    acts = [x]
    h = x
    for k, (w, b) in enumerate(params):
        h = torch.addmm(b, h, w.t())
        if k < len(params) - 1:
            h = act(h)
            acts.append(h)
    logp = torch.log_softmax(h, dim=1)
    n = x.shape[0]
    value = -logp.gather(1, y[:, None]).sum().item() / n
    # d(mean CE)/d(logits) = (softmax - onehot) / n
    dz = logp.exp_()
    dz[torch.arange(n, device=dz.device), y] -= 1.0
    dz /= n
    for k in range(len(params) - 1, -1, -1):
        w, _ = params[k]
        gw, gb = grads[k]
        torch.mm(dz.t(), acts[k], out=gw)
        torch.sum(dz, 0, out=gb)
        if k > 0:
            dz = torch.mm(dz, w).mul_(dact(acts[k]))
    return value


@torch.no_grad()
def accuracy(spec: MLPSpec, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor, chunk: int = 10000) -> float:
    """Classification accuracy in percent over the whole (resident) set."""
    correct = 0
    for s in range(0, x.shape[0], chunk):
        correct += (logits(spec, theta, x[s : s + chunk]).argmax(1) == y[s : s + chunk]).sum().item()
    return 100.0 * correct / x.shape[0]


@torch.no_grad()
def full_loss(spec: MLPSpec, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor, chunk: int = 20000) -> float:
    total = 0.0
    for s in range(0, x.shape[0], chunk):
        total += F.cross_entropy(logits(spec, theta, x[s : s + chunk]), y[s : s + chunk], reduction="sum").item()
    return total / x.shape[0]


class ResidentData:
    """Flattened, standardised train/test tensors held in memory, with an epoch-permutation sampler.

    Minibatches are index gathers from the resident tensors (no DataLoader, no per-sample Python),
    drawn from a generator of their own so that the batch sequence depends only on the seed.
    """

    def __init__(self, tensors: dict[str, torch.Tensor], standardize: bool = True):
        tx = tensors["train_x"].reshape(tensors["train_x"].shape[0], -1).float()
        ex = tensors["test_x"].reshape(tensors["test_x"].shape[0], -1).float()
        if standardize:
            # one global mean/std from the training set: keeps inputs O(1) for every dataset
            # without per-pixel statistics that would be undefined on constant border pixels
            mean, std = tx.mean(), tx.std().clamp_min(1e-6)
            tx, ex = (tx - mean) / std, (ex - mean) / std
        self.train_x, self.train_y = tx.contiguous(), tensors["train_y"].long()
        self.test_x, self.test_y = ex.contiguous(), tensors["test_y"].long()
        self.in_features = tx.shape[1]
        self.n_classes = int(max(self.train_y.max().item(), self.test_y.max().item())) + 1

    def sampler(self, batch_size: int, generator: torch.Generator) -> "BatchSampler":
        return BatchSampler(self.train_x, self.train_y, batch_size, generator)


class BatchSampler:
    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, generator: torch.Generator):
        if batch_size > x.shape[0]:
            raise ValueError(f"batch_size {batch_size} exceeds the {x.shape[0]} training examples")
        self.x, self.y, self.b, self.g = x, y, batch_size, generator
        self._perm = torch.randperm(x.shape[0], generator=generator).to(x.device)
        self._pos = 0

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._pos + self.b > self._perm.shape[0]:
            # drop the ragged tail so every step sees a full batch (the loss scale stays fixed)
            self._perm = torch.randperm(self.x.shape[0], generator=self.g).to(self.x.device)
            self._pos = 0
        idx = self._perm[self._pos : self._pos + self.b]
        self._pos += self.b
        return self.x.index_select(0, idx), self.y.index_select(0, idx)
