"""The inner problem of DrMAD's MNIST experiment, written over one flat parameter vector.

Fu et al. (IJCAI 2016), following Maclaurin et al. (ICML 2015), tune one L2 penalty per input unit
of every layer of a tanh MLP. The weights are parametrised as w = z * exp(t): SGD trains z under a
fixed penalty exp(log_l2) * |z|^2, so in terms of w the penalty on a weight leaving input unit u is
exp(log_l2 - 2 t_u) * w^2. The hyperparameters are the t_u (784 + 50 + 50 + 50 = 934 for the paper's
784-50-50-50-10 net); biases keep a fixed t (the authors' code zeroes their hypergradient).

Every hypergradient method only sees three things, so tests can swap in a quadratic with a known
answer: `train_loss(z, h, step)` (the minibatch loss SGD differentiates at inner step `step`),
`val_loss(z, h)` (the hyper-objective at the final weights) and the sizes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


class MLPProblem:
    """Tanh MLP, softmax cross-entropy, w = z * exp(t) with t shared by the weights of one input unit.

    `batch_idx` is the [steps, batch] table of training-set rows the inner SGD uses at each step; it
    is drawn once per meta-iteration so the forward pass and every reverse pass see the same batches.
    """

    def __init__(self, layer_sizes, train_x, train_y, val_x, val_y, batch_idx, log_l2: float = -4.0,
                 t_bias: float = 0.2):
        self.layer_sizes = [int(s) for s in layer_sizes]
        self.train_x, self.train_y, self.val_x, self.val_y = train_x, train_y, val_x, val_y
        self.batch_idx = batch_idx
        self.l2 = math.exp(log_l2)
        self.bias_scale = math.exp(t_bias)
        # (weight slice, bias slice, hyper slice, (out, in)) per layer; z = [W_0 | b_0 | W_1 | b_1 | ...]
        self.layers = []
        p = h = 0
        for fan_in, fan_out in zip(self.layer_sizes[:-1], self.layer_sizes[1:]):
            w = slice(p, p + fan_out * fan_in)
            b = slice(w.stop, w.stop + fan_out)
            self.layers.append((w, b, slice(h, h + fan_in), (fan_out, fan_in)))
            p, h = b.stop, h + fan_in
        self.num_params, self.num_hypers = p, h
        self.z_sizes = [n for w, b, _, _ in self.layers for n in (w.stop - w.start, b.stop - b.start)]
        self.h_sizes = [t.stop - t.start for _, _, t, _ in self.layers]

    def logits(self, z: torch.Tensor, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        # A loop over the 4 layers, not over weights: each layer is one broadcast multiply + one GEMM.
        # One split per vector (its backward is one concatenation; eight slices would each scatter into
        # a zero-filled copy of z, which dominated the step time).
        zs = z.split(self.z_sizes)
        scales = torch.exp(h).split(self.h_sizes)
        last = len(self.layers) - 1
        for i, (_, _, _, shape) in enumerate(self.layers):
            weight = zs[2 * i].view(shape) * scales[i]  # t_u scales column u (input unit u)
            x = F.linear(x, weight, zs[2 * i + 1] * self.bias_scale)
            if i < last:
                x = torch.tanh(x)
        return x

    def train_loss(self, z: torch.Tensor, h: torch.Tensor, step: int) -> torch.Tensor:
        rows = self.batch_idx[step]
        x, y = self.train_x.index_select(0, rows), self.train_y.index_select(0, rows)
        return F.cross_entropy(self.logits(z, h, x), y) + self.l2 * torch.dot(z, z)

    def val_loss(self, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.logits(z, h, self.val_x), self.val_y)

    @torch.no_grad()
    def error(self, z: torch.Tensor, h: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> float:
        """Classification error in percent."""
        return 100.0 * (self.logits(z, h, x).argmax(1) != y).double().mean().item()


def draw_batches(n_rows: int, steps: int, batch_size: int, generator: torch.Generator,
                 device=None) -> torch.Tensor:
    """[steps, batch_size] row indices drawn with replacement, as the authors' `RS.randint` does."""
    return torch.randint(n_rows, (steps, batch_size), generator=generator).to(device)


def initial_weights(num_params: int, log_scale: float, generator: torch.Generator, dtype=torch.float32,
                    device=None) -> torch.Tensor:
    """z_0 ~ N(0, exp(log_scale)^2) for every weight and bias (authors: log_init_scale = -3)."""
    return (torch.randn(num_params, generator=generator, dtype=torch.float64) * math.exp(log_scale)).to(
        device=device, dtype=dtype)
