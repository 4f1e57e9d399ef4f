"""MAX-MIN Ant System pheromone rules: the authors' `mmas_air` and Stützle & Hoos' `mmas`.

Both work on torch tensors on any device (CPU or the kernels' GPU), so the CPU twin, the CUDA
kernels and the sequential baseline share one update. All trails are float32, as in the authors'
Jacket code (`gsingle`).

mmas_air (Fu, Lei, Zhou 2010, released MATLAB/Jacket function MMASG; see PAPERS.md P5):
  P        = tau^alpha * eta^beta, eta = 1/d, each COLUMN divided by its sum
             (MATLAB's `sum(P)` sums columns; kept because it changes which city AIR prefers)
  tau_0    = 1 / (rho * L(1, 2, ..., n)), zero diagonal
  update   tau <- (1 - rho) tau; tau[i -> j] += 1/L_ib on the iteration-best tour, in its direction
  limits   tau_max = 1 / (rho L_ib); tau_min = tau_max (1 - 0.05^(1/n)) / ((n - 3) 0.05^(1/n));
           values below tau_min (diagonal excepted) are raised, values above tau_max lowered
  ANB      #{entries != tau_min} / n - 2 (the zero diagonal counts, as `sum(tau ~= mintau)` does);
           ANB < 0.01 resets tau to tau_max; ANB <= 0 ends the run (`Terminate`)
mmas (Stützle & Hoos, "MAX-MIN Ant System", FGCS 16(8) 2000; schedule as in Stützle's ACOTSP 1.03):
  P        = tau^alpha * eta^beta (no normalisation: selection is scale-free per row)
  tau_0    = tau_max from a nearest-neighbour tour; symmetric trails
  update   evaporate, deposit 1/L on both directions of the iteration-best tour, or of the
           restart-best tour every `gb_every`-th iteration
  limits   tau_max = 1 / (rho L_best_so_far); tau_min = tau_max (1 - p^(1/n)) / ((avg - 1) p^(1/n)),
           p = p_best, avg = n/2 (the mean number of choices left to an ant)
  restart  every `restart_check_every` iterations: lambda-branching (lambda = 0.05) below
           `restart_branching` and no improvement for `restart_stagnation` iterations -> tau = tau_max
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from reproduce.errors import UserError

VARIANTS = ("mmas_air", "mmas")


@dataclass
class MMASParams:
    """One MMAS configuration; every field is a config value (conf/optimizer/<variant>.yaml)."""

    variant: str = "mmas_air"
    iterations: int = 1000
    ants: int | None = None  # None: m = n, as the authors' code (AntNum = Dimension)
    alpha: float = 1.0
    beta: float = 2.0
    rho: float = 0.02
    p_best: float = 0.05
    # d = 0 only between duplicate cities; their eta is capped as if d were this small.
    min_distance: float = 0.1
    # mmas_air
    prob_norm: str = "column"  # column (authors' code) | none
    reset_branching: float = 0.01
    stop_branching: float | None = 0.0  # the authors stop when ANB <= 0; null: never stop early
    # mmas
    gb_every: int = 25
    branching_lambda: float = 0.05
    restart_branching: float = 1.00001
    restart_stagnation: int = 250
    restart_check_every: int = 100
    local_search: str = "none"  # none | 2opt (best-improvement 2-opt on the iteration-best tour)

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise UserError(f"optimizer variant '{self.variant}' is unknown: use optimizer=mmas_air or optimizer=mmas")
        if self.prob_norm not in ("column", "none"):
            raise UserError(f"prob_norm '{self.prob_norm}' is unknown: use column or none")
        if self.local_search not in ("none", "2opt"):
            raise UserError(f"local_search '{self.local_search}' is unknown: use none or 2opt")
        if not 0.0 < self.rho < 1.0:
            raise UserError(f"rho must lie in (0, 1), got {self.rho}")
        if self.iterations < 1:
            raise UserError(f"iterations must be positive, got {self.iterations}")


def nearest_neighbour_length(D: np.ndarray, start: int = 0) -> int:
    """Length of the greedy nearest-neighbour tour from `start` (MMAS's tau_max estimate)."""
    n = D.shape[0]
    visited = np.zeros(n, bool)
    cur, total = start, 0
    visited[cur] = True
    for _ in range(n - 1):  # one-off at start-up: n vectorised row scans
        row = np.where(visited, np.iinfo(np.int64).max, D[cur].astype(np.int64))
        nxt = int(row.argmin())
        total += int(D[cur, nxt])
        visited[nxt] = True
        cur = nxt
    return total + int(D[cur, start])


def two_opt(tour: np.ndarray, D: np.ndarray, max_moves: int = 100_000) -> np.ndarray:
    """Best-improvement 2-opt on one tour: each move's gain for all (i, j) pairs at once."""
    tour = tour.astype(np.int64).copy()
    n = tour.size
    D64 = D.astype(np.int64)
    idx = np.arange(n)
    valid = (idx[:, None] + 1 < idx[None, :]) & ~((idx[:, None] == 0) & (idx[None, :] == n - 1))
    for _ in range(max_moves):
        a, b = tour, np.roll(tour, -1)
        # replacing edges (a_i, b_i), (a_j, b_j) by (a_i, a_j), (b_i, b_j) reverses tour[i+1 .. j]
        gain = D64[a[:, None], a[None, :]] + D64[b[:, None], b[None, :]] - D64[a, b][:, None] - D64[a, b][None, :]
        gain = np.where(valid, gain, 0)
        flat = int(gain.argmin())
        if gain.flat[flat] >= 0:
            break
        i, j = divmod(flat, n)
        tour[i + 1: j + 1] = tour[i + 1: j + 1][::-1].copy()
    return tour


class Colony:
    """Pheromone state and rules of one MMAS variant for one instance, on one device."""

    def __init__(self, params: MMASParams, D: np.ndarray, device: torch.device | str = "cpu"):
        self.p = params
        self.n = n = D.shape[0]
        if n < 5:
            raise UserError(f"MMAS needs at least 5 cities (tau_min uses n - 3), got {n}")
        self.m = int(params.ants or n)
        self.device = torch.device(device)
        self.D_np = D
        self.D = torch.as_tensor(D, dtype=torch.int32, device=self.device)
        d = self.D.to(torch.float32).clamp_min(params.min_distance)
        eta = 1.0 / d
        eta.fill_diagonal_(0.0)
        self.heuristic = _power(eta, params.beta)  # eta^beta, fixed for the run
        root = params.p_best ** (1.0 / n)
        if params.variant == "mmas_air":
            self.tau_ratio = (1.0 - root) / ((n - 3) * root)
            length0 = int(D[np.arange(n), np.roll(np.arange(n), -1)].sum())  # the tour 1, 2, ..., n
        else:
            self.tau_ratio = (1.0 - root) / ((n / 2.0 - 1.0) * root)
            length0 = nearest_neighbour_length(D)
        self.tau_max = 1.0 / (params.rho * length0)
        self.tau_min = self.tau_max * self.tau_ratio
        self.tau = torch.full((n, n), self.tau_max, dtype=torch.float32, device=self.device)
        self.tau.fill_diagonal_(0.0)
        self.iteration = 0
        self.best_length = math.inf
        self.best_tour: np.ndarray | None = None
        self.best_iteration = -1
        self.restart_best_length = math.inf
        self.restart_best_tour: torch.Tensor | None = None
        self.restart_found_at = 0
        self.resets = 0
        self.branching = float("nan")
        self.stop = False

    # -- probability matrix ------------------------------------------------------------------
    def probabilities(self) -> torch.Tensor:
        """P [n, n] float32, C-contiguous, zero diagonal: shared by every ant of the iteration."""
        P = _power(self.tau, self.p.alpha) * self.heuristic
        if self.p.prob_norm == "column":
            P = P / P.sum(dim=0, keepdim=True)
        return P.contiguous()

    # -- update ------------------------------------------------------------------------------
    def update(self, tours: torch.Tensor, lengths: torch.Tensor) -> dict[str, float]:
        """One iteration's pheromone update from the colony's tours [m, n] and lengths [m]."""
        ib = int(torch.argmin(lengths))  # first minimum, as MATLAB's min
        ib_length = int(lengths[ib])
        ib_tour = tours[ib].to(torch.long)
        if self.p.variant == "mmas" and self.p.local_search == "2opt":
            improved = two_opt(ib_tour.cpu().numpy(), self.D_np)
            ib_tour = torch.as_tensor(improved, device=self.device)
            ib_length = int(self.D_np[improved, np.roll(improved, -1)].sum())
        if ib_length < self.best_length:
            self.best_length, self.best_iteration = ib_length, self.iteration
            self.best_tour = ib_tour.cpu().numpy().copy()
        if self.p.variant == "mmas_air":
            self._update_authors(ib_tour, ib_length)
        else:
            self._update_stuetzle(ib_tour, ib_length)
        self.iteration += 1
        return {"iter_best_length": float(ib_length), "branching": self.branching}

    def _deposit(self, tour: torch.Tensor, amount: float, symmetric: bool) -> None:
        frm, to = tour, torch.roll(tour, -1)
        self.tau[frm, to] += amount
        if symmetric:
            self.tau[to, frm] += amount

    def _update_authors(self, tour: torch.Tensor, length: int) -> None:
        p = self.p
        self.tau.mul_(1.0 - p.rho)
        self._deposit(tour, 1.0 / length, symmetric=False)
        tau_max = torch.tensor(1.0 / (p.rho * length), dtype=torch.float32, device=self.device)
        tau_min = torch.tensor(float(tau_max) * self.tau_ratio, dtype=torch.float32, device=self.device)
        self.tau_max, self.tau_min = float(tau_max), float(tau_min)
        self.tau.copy_(torch.where((self.tau < tau_min) & (self.tau != 0), tau_min, self.tau))
        self.tau.clamp_(max=tau_max)
        # `sum(tau ~= mintau) - 2` per column, averaged: the same as the total count / n - 2.
        anb = float((self.tau != tau_min).sum()) / self.n - 2.0
        self.branching = anb
        if p.stop_branching is not None and anb <= p.stop_branching:
            self.stop = True
        elif anb < p.reset_branching:
            self.tau.fill_(float(tau_max))
            self.tau.fill_diagonal_(0.0)
            self.resets += 1

    def _update_stuetzle(self, tour: torch.Tensor, length: int) -> None:
        p = self.p
        if length < self.restart_best_length:
            self.restart_best_length, self.restart_best_tour = length, tour.clone()
            self.restart_found_at = self.iteration
        self.tau_max = 1.0 / (p.rho * self.best_length)
        self.tau_min = self.tau_max * self.tau_ratio
        self.tau.mul_(1.0 - p.rho)
        if (self.iteration + 1) % p.gb_every == 0:
            self._deposit(self.restart_best_tour, 1.0 / self.restart_best_length, symmetric=True)
        else:
            self._deposit(tour, 1.0 / length, symmetric=True)
        self.tau.clamp_(self.tau_min, self.tau_max)
        self.tau.fill_diagonal_(0.0)
        self.branching = self.lambda_branching()
        if ((self.iteration + 1) % p.restart_check_every == 0 and self.branching < p.restart_branching
                and self.iteration - self.restart_found_at > p.restart_stagnation):
            self.tau.fill_(self.tau_max)
            self.tau.fill_diagonal_(0.0)
            self.restart_best_length, self.restart_best_tour = math.inf, None
            self.restart_found_at = self.iteration
            self.resets += 1

    def lambda_branching(self) -> float:
        """ACOTSP's node branching: per city, trails >= min + lambda (max - min); mean count / 2."""
        off = ~torch.eye(self.n, dtype=torch.bool, device=self.device)
        tau = self.tau
        big = torch.finfo(tau.dtype).max
        lo = torch.where(off, tau, big).amin(dim=1, keepdim=True)
        hi = tau.amax(dim=1, keepdim=True)
        cutoff = lo + self.p.branching_lambda * (hi - lo)
        return float(((tau >= cutoff) & off).sum()) / (2.0 * self.n)


def _power(x: torch.Tensor, exponent: float) -> torch.Tensor:
    """x^exponent with exact products for the usual integer exponents (1, 2, 3)."""
    if exponent == 1.0:
        return x.clone()
    if exponent == 2.0:
        return x * x
    if exponent == 3.0:
        return x * x * x
    return x.pow(exponent)
