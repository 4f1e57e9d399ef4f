"""The neural optimizer of Fu et al. 2017: a coordinatewise LSTM that sets Adam's per-parameter rates.

Map from the abstract (and the field's standard forms it builds on) to the code:

- base optimizer, Adam with a learning rate per parameter:        `Adam` with `self.lr` a [P] tensor
  theta_t = theta_{t-1} - lr_k * u_t,  u_t = mhat_t / (sqrt(vhat_t) + eps)
- rates proposed every S iterations and fixed in between:          `NeuralAdam.step`, window = S
  lr_k is used for steps kS+1 .. (k+1)S
- hypergradient of the training loss w.r.t. each rate (Baydin et al. 2018, elementwise):
  dL(theta_t)/dlr = -g_{t+1} * u_t,  summed over the steps of window k:
  H_k = sum_{t in window k} -g_{t+1} * u_t                         `NeuralAdam.hyper` (one addcmul per step)
- the controller reads (H_k / S, log lr_k) per coordinate (the per-step mean, so S can change freely) and proposes a bounded multiplicative change:
  lr_{k+1} = clip(lr_k * exp(log(c) * tanh(LSTM_phi(pre(H_k), log lr_k))), lr_min, lr_max)
                                                                   `LRController.forward`
- meta-training by hypergradients (no unrolling of the optimizee): by the chain rule
  dL/dphi = sum_k H_{k+1} . dlr_{k+1}/dphi, i.e. the surrogate loss sum_k <stopgrad(H_{k+1}), lr_{k+1}(phi)>
  back-propagated through the controller only (truncated after `unroll_windows` windows)
                                                                   `NeuralAdam._boundary`
The optimizee's own trajectory is never differentiated, so the cost of a meta-iteration is one
ordinary training run plus one small LSTM forward/backward every S steps, whatever the horizon.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lightning_modules.neural_optimizer.optimizers import Adam, log_and_sign


def init_from_seed(module: nn.Module, build, seed: int | None) -> None:
    """Load into `module` the weights of a freshly built copy drawn from torch's RNG seeded with `seed`,
    so that a meta-trained optimizer depends on its meta seed only, not on what ran before it."""
    if seed is None:
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        fresh = build()
    module.load_state_dict(fresh.state_dict())


def _tanh(x: torch.Tensor) -> torch.Tensor:
    # tanh(x) = 2 sigmoid(2x) - 1: on the CPU builds measured here torch's tanh kernel is ~4x slower
    # per element than its sigmoid, and the LSTMs below spend most of their time in these two
    return 2.0 * torch.sigmoid(2.0 * x) - 1.0


class CoordinatewiseLSTM(nn.Module):
    """A stack of LSTM cells applied to every coordinate independently (weights shared), then a linear
    read-out to one number per coordinate.

    Computed feature-major: inputs [F, P], states [hidden, P], so that each gate is one contiguous
    [hidden, P] block and every elementwise op runs over long contiguous rows (with P ~ 16,000
    coordinates and 20 units, the batch-major layout of nn.LSTMCell spends its time on strided
    20-element chunks). The parameters are nn.LSTMCell's own (same names, init and gate order i, f,
    g, o), and the result equals nn.LSTMCell's up to rounding (tests/neural_optimizer).
    """

    def __init__(self, in_features: int, hidden: int = 20, layers: int = 2, out_init_std: float = 0.01):
        super().__init__()
        sizes = [in_features] + [hidden] * layers
        self.cells = nn.ModuleList(nn.LSTMCell(i, o) for i, o in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(hidden, 1)
        # a near-zero read-out makes the untrained network a near-identity (no rate change / no
        # update), so meta-training starts from the base optimizer rather than from noise
        nn.init.normal_(self.out.weight, std=out_init_std)
        nn.init.zeros_(self.out.bias)
        self.hidden = hidden

    def initial_state(self, n: int, like: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        z = like.new_zeros(self.hidden, n)
        return [(z, z) for _ in self.cells]

    def forward(self, x: torch.Tensor, state):
        """x: [F, P] features; state: [(h, c)] with h, c [hidden, P]. Returns ([P], new state)."""
        hid = self.hidden
        new_state = []
        h = x
        for cell, (hs, cs) in zip(self.cells, state):
            weight = torch.cat([cell.weight_ih, cell.weight_hh], dim=1)
            bias = (cell.bias_ih + cell.bias_hh).unsqueeze(1)
            gates = torch.addmm(bias, weight, torch.cat([h, hs], dim=0))
            in_forget = torch.sigmoid(gates[: 2 * hid])
            cand = _tanh(gates[2 * hid: 3 * hid])
            outg = torch.sigmoid(gates[3 * hid:])
            cs = in_forget[hid:] * cs + in_forget[:hid] * cand
            hs = outg * _tanh(cs)
            new_state.append((hs, cs))
            h = hs
        return torch.addmm(self.out.bias.unsqueeze(1), self.out.weight, h).squeeze(0), new_state


class LRController(nn.Module):
    """Proposes next-window log learning-rate changes from preprocessed hypergradients.

    Per coordinate it reads LogAndSign(H_i / S), optionally LogAndSign of the mean of H / S over the
    coordinate's tensor (one weight matrix or bias vector), and (log lr_i - log lr_ref) / scale.
    The tensor mean is the coordinatewise-with-context trick of Wichrowska et al. 2017 and Lv et al.
    2017: a single coordinate's hypergradient is mostly minibatch noise (about half the coordinates
    flip sign from step to step), its tensor's mean is not.
    """

    def __init__(self, hidden: int = 20, layers: int = 2, preprocess_k: float = 10.0, max_factor: float = 2.0,
                 lr_ref: float = 1e-3, lr_feature_scale: float = 5.0, out_init_std: float = 0.01,
                 tensor_features: bool = True):
        super().__init__()
        self.tensor_features = bool(tensor_features)
        self.net = CoordinatewiseLSTM(5 if self.tensor_features else 3, hidden, layers, out_init_std)
        self.preprocess_k = float(preprocess_k)
        self.log_max_factor = math.log(max_factor)
        self.log_lr_ref = math.log(lr_ref)
        self.lr_feature_scale = float(lr_feature_scale)

    def features(self, hyper: torch.Tensor, log_lr: torch.Tensor, segment_id: torch.Tensor | None,
                 segment_count: torch.Tensor | None) -> torch.Tensor:
        parts = [log_and_sign(hyper, self.preprocess_k, dim=0)]
        if self.tensor_features:
            if segment_id is None:
                seg_mean = hyper.mean().expand_as(hyper)
            else:
                sums = hyper.new_zeros(segment_count.shape[0]).index_add_(0, segment_id, hyper)
                seg_mean = (sums / segment_count)[segment_id]
            parts.append(log_and_sign(seg_mean, self.preprocess_k, dim=0))
        parts.append(((log_lr - self.log_lr_ref) / self.lr_feature_scale).unsqueeze(0))
        return torch.cat(parts, dim=0)  # [F, P], feature-major like the LSTM

    def forward(self, hyper, log_lr, state, segment_id=None, segment_count=None):
        out, state = self.net(self.features(hyper, log_lr, segment_id, segment_count), state)
        return self.log_max_factor * torch.tanh(out), state


class NeuralAdam(Adam):
    """Adam whose per-parameter learning rates are set every `window` steps by an `LRController`.

    `meta_training=True` (set by `meta_train_iteration`) makes each window boundary also contribute to
    the controller's surrogate loss and step its meta-optimizer; otherwise the controller runs frozen
    under no_grad, which is deterministic (no sampling anywhere).
    """

    name = "neural"
    learned = True

    def __init__(self, lr: float = 1e-3, window: int = 10, hidden: int = 20, layers: int = 2,
                 preprocess_k: float = 10.0, max_factor: float = 2.0, lr_min: float = 1e-6, lr_max: float = 0.1,
                 lr_feature_scale: float = 5.0, out_init_std: float = 0.01, tensor_features: bool = True,
                 betas=(0.9, 0.999), eps: float = 1e-8, meta: dict | None = None, checkpoint: str | None = None):
        super().__init__(lr=lr, betas=betas, eps=eps)
        if window < 1:
            raise ValueError("window (S) must be >= 1")
        self.window = int(window)
        self.lr_min, self.lr_max = float(lr_min), float(lr_max)
        self.arch = dict(hidden=hidden, layers=layers, preprocess_k=preprocess_k, max_factor=max_factor,
                         lr_ref=lr, lr_feature_scale=lr_feature_scale, out_init_std=out_init_std,
                         tensor_features=tensor_features)
        self.meta = {"iterations": 5, "horizon": 1000, "lr": 1e-2, "unroll_windows": 1, "seed": 0,
                     "dataset": "mnist", "init_lr_range": None, "normalize_hyper": False, **(meta or {})}
        self.checkpoint = checkpoint
        self.controller = LRController(**self.arch)
        self.init_controller(self.meta.get("seed"))
        self.meta_training = False
        self._meta_opt: torch.optim.Optimizer | None = None
        self.segment_sizes: list[int] | None = None

    def set_layout(self, segment_sizes: list[int]) -> None:
        """Sizes of the optimizee's tensors in flat order (for the per-tensor features)."""
        self.segment_sizes = [int(n) for n in segment_sizes]

    # -- one optimizee run -------------------------------------------------------------------------
    def reset(self, theta, lr0: float | None = None):
        super().reset(theta)
        lr0 = lr0 if lr0 is not None else getattr(self, "_next_lr0", None)
        self.lr = torch.full_like(theta, self.lr0 if lr0 is None else lr0)
        self.hyper = torch.zeros_like(theta)
        self._log_lr = self.lr.log()  # carries the controller's graph while meta-training
        self._state = self.controller.net.initial_state(theta.numel(), theta)
        sizes = self.segment_sizes or [theta.numel()]
        if sum(sizes) != theta.numel():
            raise ValueError(f"layout {sizes} does not cover the {theta.numel()} parameters")
        self._seg_count = torch.tensor(sizes, dtype=theta.dtype, device=theta.device)
        self._seg_id = torch.repeat_interleave(torch.arange(len(sizes), device=theta.device),
                                               torch.tensor(sizes, device=theta.device))
        self._surrogate = None
        self._windows_since_update = 0
        self.windows_done = 0

    def step(self, theta, grad):
        if self.t > 0:
            # g_t at theta_{t-1} times the direction that produced theta_{t-1}: d f(theta_{t-1}) / d lr,
            # charged to the window whose rate took that previous step
            self.hyper.addcmul_(grad, self.u, value=-1.0)
            if self.t % self.window == 0:
                self._boundary()
        self.direction(grad)
        self.apply(theta)

    def _boundary(self) -> None:
        """End of a window: the hypergradient of the rates just used is complete; propose the next."""
        self.windows_done += 1
        if self.meta_training:
            self._meta_accumulate()
        with torch.set_grad_enabled(self.meta_training):
            delta, self._state = self.controller(self.hyper / self.window, self._log_lr, self._state,
                                                 self._seg_id, self._seg_count)
            self._log_lr = self._clip_log_lr(self._log_lr + delta)
        self.lr = self._log_lr.detach().exp()
        self.hyper.zero_()

    def _clip_log_lr(self, log_lr: torch.Tensor) -> torch.Tensor:
        # straight-through clip: the value stays inside [lr_min, lr_max] but the gradient passes, so a
        # controller that pinned every rate at a bound still learns whether to come back (a plain
        # clamp would return zero gradient there and freeze it)
        clipped = log_lr.clamp(math.log(self.lr_min), math.log(self.lr_max))
        return log_lr + (clipped - log_lr).detach() if log_lr.requires_grad else clipped

    def _meta_accumulate(self) -> None:
        # d/dphi of the windows' losses = <H_k, dlr_k/dphi>: a surrogate whose gradient is exactly that
        if self._log_lr.requires_grad:
            # H is cleared in place after the boundary; the product keeps its own copy for backward
            hyper = self.hyper.clone()
            if self.meta.get("normalize_hyper"):
                # each window one vote of unit mean magnitude: early windows' large "raise" signals
                # no longer outweigh the small "lower" ones of windows whose rates are already high
                hyper = hyper / hyper.abs().mean().clamp_min(torch.finfo(hyper.dtype).tiny)
            term = (hyper * self._log_lr.exp()).sum()
            self._surrogate = term if self._surrogate is None else self._surrogate + term
        self._windows_since_update += 1
        if self._windows_since_update >= int(self.meta["unroll_windows"]):
            self._meta_update()

    def _meta_update(self) -> None:
        if self._surrogate is not None and self._surrogate.requires_grad:
            self._meta_opt.zero_grad(set_to_none=True)
            self._surrogate.backward()
            self._meta_opt.step()
        self._surrogate = None
        self._windows_since_update = 0
        # truncation: later windows no longer send gradient into earlier proposals
        self._log_lr = self._log_lr.detach()
        self._state = [(h.detach(), c.detach()) for h, c in self._state]

    # -- meta-training -----------------------------------------------------------------------------
    def init_controller(self, seed: int | None) -> None:
        """(Re)initialise the controller from `seed` without touching the global RNG (None: from it)."""
        init_from_seed(self.controller, lambda: LRController(**self.arch), seed)

    def begin_meta_training(self) -> None:
        self._meta_opt = torch.optim.Adam(self.controller.parameters(), lr=float(self.meta["lr"]))

    def meta_train_iteration(self, problem, generator: torch.Generator) -> dict:
        """One meta-iteration: a fresh optimizee trained for `meta.horizon` steps while the controller
        learns online from each window's hypergradient. Only training losses are seen."""
        from lightning_modules.neural_optimizer.runner import train_optimizee

        if self._meta_opt is None:
            self.begin_meta_training()
        lr0 = None
        if self.meta.get("init_lr_range"):
            # each meta-iteration starts from its own rate, so the controller meets rates both too low
            # (hypergradient says raise) and too high (says lower) and cannot get away with a constant push
            lo, hi = (math.log(float(v)) for v in self.meta["init_lr_range"])
            lr0 = math.exp(lo + (hi - lo) * torch.rand((), generator=generator).item())
        self.meta_training = True
        self._next_lr0 = lr0
        try:
            res = train_optimizee(problem, self, int(self.meta["horizon"]), generator,
                                  log_every=self.window, eval_test=False)
            if self._windows_since_update:
                self._meta_update()
        finally:
            self.meta_training = False
            self._next_lr0 = None
        losses = [row["train/loss"] for row in res.curve]
        return {"meta/train_loss": sum(losses) / len(losses), "meta/final_train_loss": losses[-1],
                "meta/diverged": float(res.diverged), **{f"meta/{k}": v for k, v in self.diagnostics().items()}}

    def diagnostics(self):
        lr = self.lr
        return {"lr_mean": lr.mean().item(), "lr_log10_std": lr.log10().std().item(),
                "lr_log10_median": lr.log10().median().item()}

    def fingerprint_dict(self) -> dict:
        return {"kind": "neural", "lr": self.lr0, "window": self.window, "lr_min": self.lr_min,
                "lr_max": self.lr_max, "betas": [self.b1, self.b2], "eps": self.eps, **self.arch,
                "meta": self.meta}
