"""The learned-optimizer baseline: Andrychowicz et al. 2016, "Learning to learn by gradient descent by
gradient descent" (NIPS 2016), coordinatewise LSTM that outputs the parameter update itself.

    theta_{t+1} = theta_t + scale * m_phi(pre(g_t), state_t)
    meta-loss   = sum_{t in unroll} f(theta_t(phi))        (BPTT over `unroll` steps, truncated)

Settings from DeepMind's released code (`get_default_net_config`): 2 layers of 20 units,
`LogAndSign` preprocessing with k=5, output scale 0.01; MNIST task: 100-step optimizee runs split
into unrolls of 20, meta-optimizer Adam with lr 1e-3. As in the paper, the gradients fed to the
LSTM are treated as constants (second derivatives dropped), so BPTT only runs through the updates.
The number of optimizees it is trained on is a budget (`meta.optimizees`): the released code trains on
10,000, which a 2-core CPU cannot afford; the README states what was used.
"""

from __future__ import annotations

import torch

from lightning_modules.neural_optimizer.controller import CoordinatewiseLSTM, init_from_seed
from lightning_modules.neural_optimizer.optimizee import loss
from lightning_modules.neural_optimizer.optimizers import FlatOptimizer, log_and_sign


class L2LOptimizer(FlatOptimizer):
    name = "l2l"
    learned = True

    def __init__(self, hidden: int = 20, layers: int = 2, preprocess_k: float = 5.0, scale: float = 0.01,
                 out_init_std: float = 0.01, meta: dict | None = None, checkpoint: str | None = None):
        self.arch = dict(hidden=hidden, layers=layers, preprocess_k=preprocess_k, scale=scale,
                         out_init_std=out_init_std)
        self.meta = {"optimizees": 100, "horizon": 100, "unroll": 20, "lr": 1e-3, "seed": 0,
                     "dataset": "mnist", **(meta or {})}
        if self.meta["horizon"] % self.meta["unroll"]:
            raise ValueError("meta.horizon must be a multiple of meta.unroll")
        self.checkpoint = checkpoint
        self.controller = CoordinatewiseLSTM(2, hidden, layers, out_init_std)
        self.init_controller(self.meta.get("seed"))
        self.k, self.scale = float(preprocess_k), float(scale)
        self._meta_opt: torch.optim.Optimizer | None = None

    def init_controller(self, seed: int | None) -> None:
        a = self.arch
        init_from_seed(self.controller, lambda: CoordinatewiseLSTM(2, a["hidden"], a["layers"], a["out_init_std"]), seed)

    def reset(self, theta):
        super().reset(theta)
        self._state = self.controller.initial_state(theta.numel(), theta)

    @torch.no_grad()
    def step(self, theta, grad):
        self.t += 1
        upd, self._state = self.controller(log_and_sign(grad, self.k, dim=0), self._state)
        theta.add_(upd, alpha=self.scale)

    def begin_meta_training(self) -> None:
        self._meta_opt = torch.optim.Adam(self.controller.parameters(), lr=float(self.meta["lr"]))

    def meta_train_iteration(self, problem, generator: torch.Generator) -> dict:
        """One optimizee of `meta.horizon` steps, the LSTM updated after every `meta.unroll` steps."""
        if self._meta_opt is None:
            self.begin_meta_training()
        spec = problem.spec
        theta = spec.init(generator).to(problem.data.train_x.device)
        sampler = problem.data.sampler(problem.batch_size, generator)
        state = self.controller.initial_state(theta.numel(), theta)
        total, n = 0.0, 0
        for _ in range(int(self.meta["horizon"]) // int(self.meta["unroll"])):
            theta = theta.detach().requires_grad_(True)
            state = [(h.detach(), c.detach()) for h, c in state]
            meta_loss = theta.new_zeros(())
            for _ in range(int(self.meta["unroll"])):
                x, y = sampler.next()
                f = loss(spec, theta, x, y)
                (g,) = torch.autograd.grad(f, theta, retain_graph=True)
                meta_loss = meta_loss + f
                upd, state = self.controller(log_and_sign(g, self.k, dim=0), state)
                theta = theta + self.scale * upd
            if not torch.isfinite(meta_loss):
                return {"meta/train_loss": float("inf"), "meta/diverged": 1.0}
            self._meta_opt.zero_grad(set_to_none=True)
            meta_loss.backward()
            self._meta_opt.step()
            total += meta_loss.item()
            n += int(self.meta["unroll"])
        return {"meta/train_loss": total / n, "meta/diverged": 0.0}

    def fingerprint_dict(self) -> dict:
        return {"kind": "l2l", **self.arch, "meta": self.meta}
