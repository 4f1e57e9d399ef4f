"""The two networks of Luo, Fu & Glass (2017), held as plain tensors so every learning rule can see them.

Forward weights are `nn.Parameter`s (the optimizer steps them); feedback matrices are buffers (each
rule updates them itself, and they travel with the module across devices and checkpoints).

Layer i maps its input `inputs[i]` to the pre-activation `a_i`; hidden layers then apply the
nonlinearity (`acts[i] = f(a_i)`) and, for conv layers, a 3x3 stride-2 max-pool, giving the hidden
output `h_i = inputs[i + 1]`. The last layer's `a_L` are the logits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ACTIVATIONS = ("tanh", "sigmoid", "relu")
POOL_KERNEL, POOL_STRIDE = 3, 2  # authors' conv.lua: SpatialMaxPooling(3,3,2,2), floor mode


@dataclass
class LayerSpec:
    kind: str  # "linear" | "conv"
    in_shape: tuple[int, ...]  # per-sample shape of the layer's input (before any flatten)
    out_shape: tuple[int, ...]  # per-sample shape of a_i (pre-activation)
    pooled: bool = False
    padding: int = 0

    @property
    def weight_shape(self) -> tuple[int, ...]:
        if self.kind == "linear":
            return (self.out_shape[0], math.prod(self.in_shape))
        k = self.in_shape[1] - self.out_shape[1] + 2 * self.padding + 1
        return (self.out_shape[0], self.in_shape[0], k, k)

    @property
    def fan_in(self) -> int:
        return math.prod(self.weight_shape[1:])


def mlp_specs(input_shape, num_classes, hidden) -> list[LayerSpec]:
    sizes = [math.prod(input_shape), *hidden, num_classes]
    specs = [LayerSpec("linear", tuple(input_shape), (sizes[1],))]
    specs += [LayerSpec("linear", (a,), (b,)) for a, b in zip(sizes[1:-1], sizes[2:])]
    return specs


def conv_specs(input_shape, num_classes, channels, fc_hidden, kernel=5, padding=2) -> list[LayerSpec]:
    specs, shape = [], tuple(input_shape)
    for c in channels:
        side = shape[1] + 2 * padding - kernel + 1
        specs.append(LayerSpec("conv", shape, (c, side, side), pooled=True, padding=padding))
        pooled_side = (side - POOL_KERNEL) // POOL_STRIDE + 1
        shape = (c, pooled_side, pooled_side)
    return specs + mlp_specs(shape, num_classes, fc_hidden)


@dataclass
class Cache:
    """What one forward pass leaves for the backward rules (all detached)."""

    inputs: list[Tensor] = field(default_factory=list)  # inputs[i]: layer i's input, unflattened
    acts: list[Tensor] = field(default_factory=list)  # acts[i] = f(a_i) for hidden layers
    pool_idx: list[Tensor | None] = field(default_factory=list)
    logits: Tensor | None = None


class FeedbackNet(nn.Module):
    """Forward weights W_i, b_i plus the feedback matrices one learning rule needs.

    feedback="layer"  (fa, bfa): B_i with W_i's shape for every layer, used in place of W_i going down.
    feedback="direct" (dfa, bdfa): D_i of shape (num_classes, numel(h_i)) for every hidden output h_i.
    feedback=None     (bp): no feedback.
    """

    def __init__(
        self,
        specs: list[LayerSpec],
        activation: str = "tanh",
        feedback: str | None = None,
        zero_init: bool = False,
        feedback_scale: float | None = None,
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.specs = specs
        self.activation = activation
        self.feedback = feedback
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for s in specs:
            # Torch7's default Linear/SpatialConvolution init, which the authors' code relies on.
            bound = 1.0 / math.sqrt(s.fan_in)
            w = torch.empty(s.weight_shape).uniform_(-bound, bound)
            b = torch.empty(s.out_shape[0]).uniform_(-bound, bound)
            if zero_init:  # authors' code zeroes W and b for fa/dfa with tanh/sigmoid units
                w.zero_(), b.zero_()
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(b))
        # FA's B_i is a fresh draw from W_i's init law (the authors copy the initial W_i into B_i and
        # then zero W_i); DFA's D_i is uniform(+-1/sqrt(numel h_i)), as in ErrorFeedback.lua.
        if feedback == "layer":
            for i, s in enumerate(specs):
                bound = feedback_scale or 1.0 / math.sqrt(s.fan_in)
                self.register_buffer(f"B{i}", torch.empty(s.weight_shape).uniform_(-bound, bound))
        elif feedback == "direct":
            k = specs[-1].out_shape[0]
            for i in range(len(specs) - 1):
                n = math.prod(specs[i + 1].in_shape)
                bound = feedback_scale or 1.0 / math.sqrt(n)
                self.register_buffer(f"D{i}", torch.empty(k, n).uniform_(-bound, bound))
        elif feedback is not None:
            raise ValueError(f"feedback must be 'layer', 'direct' or None, got {feedback!r}")

    def feedback_matrix(self, i: int) -> Tensor:
        return getattr(self, f"B{i}" if self.feedback == "layer" else f"D{i}")

    @property
    def num_layers(self) -> int:
        return len(self.specs)

    # -- forward -------------------------------------------------------------------------------
    def act(self, a: Tensor) -> Tensor:
        if self.activation == "tanh":
            return torch.tanh(a)
        if self.activation == "sigmoid":
            return torch.sigmoid(a)
        return torch.relu(a)

    def act_grad(self, y: Tensor) -> Tensor:
        """f'(a) from y = f(a): all three nonlinearities allow it, so a_i need not be stored."""
        if self.activation == "tanh":
            return 1.0 - y * y
        if self.activation == "sigmoid":
            return y * (1.0 - y)
        return (y > 0).to(y.dtype)

    def affine(self, i: int, h: Tensor, weight: Tensor | None = None) -> Tensor:
        s, w = self.specs[i], self.weights[i] if weight is None else weight
        if s.kind == "conv":
            return F.conv2d(h, w, self.biases[i], padding=s.padding)
        return torch.addmm(self.biases[i], h.flatten(1), w.t())

    def forward(self, x: Tensor) -> Tensor:
        h = x
        for i, s in enumerate(self.specs):
            a = self.affine(i, h)
            if i == self.num_layers - 1:
                return a
            h = self.act(a)
            if s.pooled:
                h = F.max_pool2d(h, POOL_KERNEL, POOL_STRIDE)
        raise AssertionError("unreachable")

    def forward_cached(self, x: Tensor) -> Cache:
        c, h = Cache(), x
        for i, s in enumerate(self.specs):
            c.inputs.append(h)
            a = self.affine(i, h)
            if i == self.num_layers - 1:
                c.logits = a
                return c
            y = self.act(a)
            c.acts.append(y)
            if s.pooled:
                h, idx = F.max_pool2d(y, POOL_KERNEL, POOL_STRIDE, return_indices=True)
                c.pool_idx.append(idx)
            else:
                h = y
                c.pool_idx.append(None)
        raise AssertionError("unreachable")
