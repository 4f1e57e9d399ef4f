"""Hand-designed optimizers acting in place on one flat parameter vector.

Written as small classes rather than torch.optim wrappers for two reasons: Adam's learning rate must
be allowed to be a tensor with one entry per parameter (torch.optim accepts only a scalar), and the
controller-overhead benchmark must compare the neural optimizer against *the same* Adam arithmetic.
Each class is checked against torch.optim on identical gradients (tests/neural_optimizer).

Adam-HD follows Baydin et al. 2018 ("Online learning rate adaptation with hypergradient descent",
arXiv 1703.04782), Algorithm "Adam-HD": with u_{t-1} the direction Adam applied at the previous step
(theta_{t-1} = theta_{t-2} - lr * u_{t-1}), the derivative of f(theta_{t-1}) w.r.t. the learning rate
is h_t = -g_t . u_{t-1}, and the rate is moved by lr <- lr - beta * h_t before the step. The global
variant sums h over coordinates (one rate); the parameter-wise one keeps the elementwise product.
"""

from __future__ import annotations

import math

import torch


class FlatOptimizer:
    """Interface: `reset(theta)` starts a new optimizee, `step(theta, grad)` updates theta in place."""

    name = "base"
    learned = False

    def reset(self, theta: torch.Tensor) -> None:
        self.t = 0

    def step(self, theta: torch.Tensor, grad: torch.Tensor) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def diagnostics(self) -> dict[str, float]:
        """Scalars worth a curve (e.g. the mean learning rate); empty for fixed-rate optimizers."""
        return {}


class SGD(FlatOptimizer):
    """SGD with (heavy-ball) momentum in torch.optim.SGD's form: v <- mu v + g; theta <- theta - lr v."""

    name = "sgd"

    def __init__(self, lr: float = 0.1, momentum: float = 0.0):
        self.lr, self.momentum = float(lr), float(momentum)

    def reset(self, theta):
        super().reset(theta)
        self.v = torch.zeros_like(theta) if self.momentum else None

    def step(self, theta, grad):
        self.t += 1
        if self.v is None:
            theta.add_(grad, alpha=-self.lr)
            return
        self.v.mul_(self.momentum).add_(grad)
        theta.add_(self.v, alpha=-self.lr)


class RMSprop(FlatOptimizer):
    """torch.optim.RMSprop's form: s <- a s + (1-a) g^2; theta <- theta - lr g / (sqrt(s) + eps)."""

    name = "rmsprop"

    def __init__(self, lr: float = 1e-3, alpha: float = 0.99, eps: float = 1e-8):
        self.lr, self.alpha, self.eps = float(lr), float(alpha), float(eps)

    def reset(self, theta):
        super().reset(theta)
        self.s = torch.zeros_like(theta)
        self._buf = torch.empty_like(theta)

    def step(self, theta, grad):
        self.t += 1
        self.s.mul_(self.alpha).addcmul_(grad, grad, value=1.0 - self.alpha)
        torch.sqrt(self.s, out=self._buf).add_(self.eps)
        theta.addcdiv_(grad, self._buf, value=-self.lr)


class Adam(FlatOptimizer):
    """Adam (Kingma & Ba 2015) whose learning rate may be a float or a [P] tensor.

    After each step `self.u` holds the direction just applied, mhat / (sqrt(vhat) + eps), so that
    theta_t = theta_{t-1} - lr * u_t: the quantity every hypergradient below is built from.
    """

    name = "adam"

    def __init__(self, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        self.lr0 = float(lr)
        self.b1, self.b2 = (float(b) for b in betas)
        self.eps = float(eps)

    def reset(self, theta):
        super().reset(theta)
        self.lr: float | torch.Tensor = self.lr0
        self.m = torch.zeros_like(theta)
        self.v = torch.zeros_like(theta)
        self.u = torch.zeros_like(theta)
        self._buf = torch.empty_like(theta)

    def direction(self, grad: torch.Tensor) -> torch.Tensor:
        """Advance the moments with `grad` and return u_t (bias-corrected Adam direction) in self.u."""
        self.t += 1
        self.m.mul_(self.b1).add_(grad, alpha=1.0 - self.b1)
        self.v.mul_(self.b2).addcmul_(grad, grad, value=1.0 - self.b2)
        c1 = 1.0 - self.b1**self.t
        c2 = 1.0 - self.b2**self.t
        torch.div(self.v, c2, out=self._buf).sqrt_().add_(self.eps)
        torch.div(self.m, self._buf, out=self.u).div_(c1)
        return self.u

    def apply(self, theta: torch.Tensor) -> None:
        if isinstance(self.lr, torch.Tensor):
            theta.addcmul_(self.lr, self.u, value=-1.0)
        else:
            theta.add_(self.u, alpha=-self.lr)

    def step(self, theta, grad):
        self.direction(grad)
        self.apply(theta)

    def diagnostics(self):
        lr = self.lr
        if isinstance(lr, torch.Tensor):
            return {"lr_mean": lr.mean().item(), "lr_logstd": lr.log().std().item()}
        return {"lr_mean": float(lr)}


class AdamHD(Adam):
    """Adam with hypergradient descent on its learning rate, global or parameter-wise.

    `beta` is the hypergradient step size. The parameter-wise rate is kept >= 0 by clamping, as a
    negative rate would turn the step into ascent.
    """

    name = "adam_hd"

    def __init__(self, lr: float = 1e-3, beta: float = 1e-7, parameter_wise: bool = False,
                 betas=(0.9, 0.999), eps: float = 1e-8):
        super().__init__(lr=lr, betas=betas, eps=eps)
        self.beta = float(beta)
        self.parameter_wise = bool(parameter_wise)

    def reset(self, theta):
        super().reset(theta)
        if self.parameter_wise:
            self.lr = torch.full_like(theta, self.lr0)
            self._h = torch.empty_like(theta)

    def step(self, theta, grad):
        if self.t > 0:
            # h_t = -g_t * u_{t-1}; lr <- lr - beta h_t = lr + beta g_t u_{t-1}
            if self.parameter_wise:
                self.lr.addcmul_(grad, self.u, value=self.beta).clamp_(min=0.0)
            else:
                self.lr = max(0.0, self.lr + self.beta * torch.dot(grad, self.u).item())
        self.direction(grad)
        self.apply(theta)


def log_and_sign(x: torch.Tensor, k: float, dim: int = -1) -> torch.Tensor:
    """Andrychowicz et al.'s gradient preprocessing as in DeepMind's released `LogAndSign(k)`.

    Returns the two features stacked along `dim`: log(max(|x|, e^-k)) / k (magnitude on a log scale, about [-1, 1]) and
    clamp(x e^k, -1, 1) (the sign, linear for tiny values). Makes a coordinatewise LSTM see
    gradients of very different scales on a common footing.
    """
    mag = torch.log(x.abs().clamp_min(math.exp(-k))) / k
    sgn = (x * math.exp(k)).clamp(-1.0, 1.0)
    return torch.stack([mag, sgn], dim=dim)
