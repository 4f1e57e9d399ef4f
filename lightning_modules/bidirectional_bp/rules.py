"""The five learning rules as batched tensor algebra on a `FeedbackNet` (no autograd, no per-sample loops).

Notation (per mini-batch of N samples): e = dL/d(logits), delta_i = dL/da_i as each rule estimates it,
h_i = hidden output of layer i (after nonlinearity and pooling) = input of layer i+1.

    bp   : delta_i = P_i( delta_{i+1} W_{i+1} ) * f'(a_i)          exact gradient
    fa   : delta_i = P_i( delta_{i+1} B_{i+1} ) * f'(a_i)          B fixed, random (Lillicrap et al. 2016)
    dfa  : delta_i = P_i( e D_i ) * f'(a_i)                        D fixed, random (Nøkland 2016)
    bfa  : fa, and every B_i is trained (see `update_feedback`)
    bdfa : dfa, and every D_i is trained
P_i routes a gradient through layer i's max-pool (identity for unpooled layers); for a conv layer
"delta W" means the transposed convolution, so FA's conv analogue is a fixed random kernel B_i in the
backward convolution, and DFA's conv analogue projects e onto the pooled feature map h_i.

Feedback training (the paper's idea; rule from the authors' BDFA code, see PAPERS.md P2):
a code c is sent down through the feedback matrix and the top-down signal t = c B is pushed toward the
forward activation h it lands on, by ascent on  sum_n log sigmoid(<t_n, h_n>):
    B <- B + lr_fb * sum_n (1 - sigmoid(<t_n, h_n>)) c_n^T h_n
For a conv layer the same objective gives the kernel gradient with (c * (1 - sigmoid)) in the place of
the delta. Codes: the output layer's code is the target code (scale * prediction, true class = 1);
BFA's hidden codes are the layer's own forward activation f(a_{i}) (see README: BFA design).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.grad import conv2d_input, conv2d_weight

from .network import Cache, FeedbackNet

METHODS = ("bp", "fa", "dfa", "bfa", "bdfa")
FEEDBACK_KIND = {"bp": None, "fa": "layer", "bfa": "layer", "dfa": "direct", "bdfa": "direct"}
TRAINED_FEEDBACK = frozenset({"bfa", "bdfa"})
LOSSES = ("bce", "ce")


def output_error(logits: Tensor, y: Tensor, loss: str = "bce", reduction: str = "mean"):
    """Loss value (mean over the batch), e = dLoss/dlogits, and the predicted probabilities.

    reduction="sum" reproduces the authors' criterion, whose gradInput is p - onehot per sample
    (not divided by N), so the paper's learning rates (1e-4, 5e-5) act on batch-summed gradients.
    """
    onehot = F.one_hot(y, logits.shape[1]).to(logits.dtype)
    if loss == "bce":
        p = torch.sigmoid(logits)
        value = F.binary_cross_entropy_with_logits(logits, onehot, reduction="sum") / len(y)
    elif loss == "ce":
        p = torch.softmax(logits, dim=1)
        value = F.cross_entropy(logits, y)
    else:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    e = p - onehot
    if reduction == "mean":
        e = e / len(y)
    elif reduction != "sum":
        raise ValueError(f"loss_reduction must be 'mean' or 'sum', got {reduction!r}")
    return value, e, p


def target_code(out: Tensor, y: Tensor, scale: float = 0.25) -> Tensor:
    """The code sent down the feedback path in BDFA: the damped network output (probabilities, or
    logits with `code_from: logits`) with the true class set to 1."""
    c = out * scale
    c[torch.arange(len(y), device=y.device), y] = 1.0
    return c


def propagate_down(net: FeedbackNet, i: int, delta: Tensor, matrix: Tensor) -> Tensor:
    """Send delta_i (shape of a_i) to layer i's input space through `matrix` (W_i for BP, B_i for FA)."""
    s = net.specs[i]
    n = delta.shape[0]
    if s.kind == "conv":
        return conv2d_input((n, *s.in_shape), matrix, delta, padding=s.padding)
    return (delta @ matrix).view(n, *s.in_shape)


def layer_weight_grad(net: FeedbackNet, i: int, inp: Tensor, delta: Tensor) -> tuple[Tensor, Tensor]:
    """(dW_i, db_i) summed over the batch, from layer i's input and a delta in a_i's shape."""
    s = net.specs[i]
    if s.kind == "conv":
        return conv2d_weight(inp, s.weight_shape, delta, padding=s.padding), delta.sum((0, 2, 3))
    return delta.t() @ inp.flatten(1), delta.sum(0)


def to_preactivation(net: FeedbackNet, cache: Cache, i: int, g: Tensor) -> Tensor:
    """delta_i from a gradient g w.r.t. h_i: through the max-pool (gradients of overlapping windows add
    up, hence scatter_add rather than max_unpool2d) and then times f'(a_i)."""
    y = cache.acts[i]
    idx = cache.pool_idx[i]
    if idx is not None:
        g = torch.zeros_like(y).flatten(2).scatter_add_(2, idx.flatten(2), g.flatten(2)).view_as(y)
    return g * net.act_grad(y)


def deltas_for(method: str, net: FeedbackNet, cache: Cache, e: Tensor) -> list[Tensor]:
    """delta_i for every layer (the last is e itself) as `method` estimates them."""
    n_layers = net.num_layers
    deltas: list[Tensor] = [e] * n_layers
    kind = FEEDBACK_KIND[method]
    if kind == "direct":
        for i in range(n_layers - 1):
            g = (e @ net.feedback_matrix(i)).view_as(cache.inputs[i + 1])
            deltas[i] = to_preactivation(net, cache, i, g)
        return deltas
    for i in reversed(range(n_layers - 1)):
        m = net.weights[i + 1] if kind is None else net.feedback_matrix(i + 1)
        g = propagate_down(net, i + 1, deltas[i + 1], m)
        deltas[i] = to_preactivation(net, cache, i, g)
    return deltas


def weight_grads(net: FeedbackNet, cache: Cache, deltas: list[Tensor]) -> list[tuple[Tensor, Tensor]]:
    return [layer_weight_grad(net, i, cache.inputs[i], d) for i, d in enumerate(deltas)]


def input_grad(method: str, net: FeedbackNet, delta0: Tensor) -> Tensor:
    """The method's error signal at the input (for fast-gradient-sign training): FA-type rules send it
    through their (untrained) B_0, the others through W_0, as the authors' layers do."""
    m = net.feedback_matrix(0) if FEEDBACK_KIND[method] == "layer" else net.weights[0]
    return propagate_down(net, 0, delta0, m)


def _ascent_weights(code: Tensor, top_down: Tensor, target: Tensor) -> Tensor:
    """code * (1 - sigmoid(<top_down, target>)) per sample: d/d(c B) of log sigmoid(<c B, h>) / h."""
    s = (top_down * target).flatten(1).sum(1)
    gate = torch.sigmoid(-s)  # = 1 - sigmoid(s)
    return code * gate.view(-1, *([1] * (code.dim() - 1)))


def feedback_objective(method: str, net: FeedbackNet, cache: Cache, code: Tensor) -> Tensor:
    """sum over samples and layers of log sigmoid(<top-down signal, forward activation>): what
    `update_feedback` ascends (used by the tests and as a diagnostic)."""
    total = code.new_zeros(())
    for i, c, h, t in _feedback_terms(method, net, cache, code):
        total = total + F.logsigmoid((t * h).flatten(1).sum(1)).sum()
    return total


def _feedback_terms(method: str, net: FeedbackNet, cache: Cache, code: Tensor):
    """(layer, code, forward activation it should match, top-down signal) for every trained matrix."""
    n_layers = net.num_layers
    if method == "bdfa":
        for i in range(n_layers - 1):
            h = cache.inputs[i + 1].flatten(1)
            yield i, code, h, code @ net.feedback_matrix(i)
    elif method == "bfa":
        # B_0 only shapes the (optional) adversarial input signal: it is not trained.
        for i in range(1, n_layers):
            c = code if i == n_layers - 1 else cache.acts[i]
            h = cache.inputs[i]
            yield i, c, h, propagate_down(net, i, c, net.feedback_matrix(i))


def update_feedback(method: str, net: FeedbackNet, cache: Cache, code: Tensor, lr: float) -> None:
    """One ascent step on `feedback_objective` for every trained feedback matrix (in place)."""
    for i, c, h, t in list(_feedback_terms(method, net, cache, code)):
        w = _ascent_weights(c, t, h)
        if method == "bdfa":
            step = w.t() @ h
        else:
            step, _ = layer_weight_grad(net, i, h, w)
        net.feedback_matrix(i).add_(step, alpha=lr)


def angle_deg(a: Tensor, b: Tensor) -> float:
    """Angle between two tensors seen as vectors, in degrees (90 when either is zero)."""
    a, b = a.flatten().double(), b.flatten().double()
    denom = a.norm() * b.norm()
    if denom == 0:
        return 90.0
    return float(torch.rad2deg(torch.arccos(torch.clamp(a @ b / denom, -1.0, 1.0))))


def train_step(
    method: str,
    net: FeedbackNet,
    x: Tensor,
    y: Tensor,
    loss: str = "bce",
    reduction: str = "mean",
    feedback_lr: float = 5e-5,
    code_scale: float = 0.25,
    adversarial_eps: float = 0.0,
    code_from: str = "prob",
):
    """Everything one training step computes before the optimizer's step, shared by the
    LightningModule and the plain-PyTorch benchmark loop. Trains the feedback (BFA/BDFA) in place,
    after the deltas were taken with the old feedback, as the authors' modules do.

    Returns (loss value, cache, e, [(dW_i, db_i)]) with the cache of the batch actually trained on.
    """
    if adversarial_eps > 0:  # fast-gradient-sign examples, the authors' `-eps` (accGradient = 0)
        cache = net.forward_cached(x)
        _, e, _ = output_error(cache.logits, y, loss, reduction)
        x = x + adversarial_eps * torch.sign(input_grad(method, net, deltas_for(method, net, cache, e)[0]))
    cache = net.forward_cached(x)
    value, e, p = output_error(cache.logits, y, loss, reduction)
    grads = weight_grads(net, cache, deltas_for(method, net, cache, e))
    if method in TRAINED_FEEDBACK:
        out = p if code_from == "prob" else cache.logits
        update_feedback(method, net, cache, target_code(out, y, code_scale), feedback_lr)
    return value, cache, e, grads
