"""Fu, Lei, Zhou. "A Parallel Ant Colony Optimization Algorithm with GPU-Acceleration Based on
All-In-Roulette Selection." Third International Workshop on Advanced Computational Intelligence
(IWACI), 2010, pp. 260-264.

One training step = one MAX-MIN Ant System iteration: build the shared probability matrix, let all
m ants construct their tours, update the pheromone. Map from the paper (and the authors' MMASG
code) to this package:
  shared P = tau^alpha eta^beta (column-normalised)     mmas.Colony.probabilities
  AIR: next = argmax(U .* P(cur, :) .* taboo), all ants  kernels/air_select.cu aco_construct_air,
       with a fresh shared random matrix U per step       twin kernels/aco_cpu.construct_air
  roulette with the same parallel shape (comparison)     aco_construct_roulette / construct_roulette
  the sequential MMAS (one ant at a time)                sequential.construct_sequential
  pheromone update, tau limits, branching reset          mmas.Colony.update (mmas_air / mmas)
"""

from __future__ import annotations

import time
import warnings

import lightning as L
import numpy as np
import torch

from lightning_modules.parallel_aco.mmas import Colony, MMASParams
from lightning_modules.parallel_aco.sequential import construct_sequential
from lightning_modules.parallel_aco.tsplib import TSPInstance
from reproduce.errors import UserError

SELECTIONS = ("air", "roulette", "sequential")
BACKENDS = ("auto", "twin", "cuda")

# An ACO step has nothing for a torch optimizer to do; Lightning's notice about that is expected.
warnings.filterwarnings("ignore", message=r".*configure_optimizers` returned `None`")


class Constructor:
    """Tours and lengths for one iteration, by selection rule and backend (twin, CUDA, sequential).

    The twin and the sequential baseline compute on CPU arrays; on a GPU run they copy P to the
    host and the tours back (only meaningful for comparisons: the kernels are the GPU path).
    """

    def __init__(self, selection: str, backend: str, m: int, n: int, seed: int, device: torch.device):
        self.selection, self.m, self.n, self.seed, self.device = selection, m, n, int(seed), device
        if selection == "sequential":
            backend = "sequential"
        elif backend == "auto":
            backend = "cuda" if device.type == "cuda" else "twin"
        if backend == "cuda" and device.type != "cuda":
            raise UserError("construction backend 'cuda' needs the module on a GPU: add hardware=gpu "
                            "(or use paper.module.backend=twin)")
        self.backend = backend
        self.rng = np.random.default_rng(self.seed)  # sequential baseline only
        self.ws = None
        if backend == "twin":
            from kernels.aco_cpu import Workspace

            self.ws = Workspace(m, n, self.seed)

    def __call__(self, P: torch.Tensor, D: torch.Tensor, D_np: np.ndarray, iteration: int):
        round_base = iteration * self.n
        if self.backend == "cuda":
            from kernels import aco

            weights = P if self.selection == "air" else aco.quantize_rows(P)
            return aco.construct(self.selection, weights, D, self.m, self.seed, round_base)
        from kernels import aco_cpu

        P_np = P.cpu().numpy()
        if self.backend == "sequential":
            tours = construct_sequential(P_np, self.m, self.rng)
        elif self.selection == "air":
            tours = aco_cpu.construct_air(P_np, self.m, self.seed, round_base, ws=self.ws)
        else:
            tours = aco_cpu.construct_roulette(aco_cpu.quantize_rows(P_np), self.m, self.seed, round_base, ws=self.ws)
        lengths = aco_cpu.tour_lengths(D_np, tours)
        return torch.from_numpy(tours).to(self.device), torch.from_numpy(lengths).to(self.device)


class ParallelACO(L.LightningModule):
    """MMAS on one TSPLIB instance with AIR, roulette or sequential tour construction."""

    def __init__(self, optimizer: dict, selection: str = "air", backend: str = "auto", seed: int = 0,
                 iterations: int | None = None, ants: int | None = None, instance: TSPInstance | None = None):
        super().__init__()
        if selection not in SELECTIONS:
            raise UserError(f"selection '{selection}' is unknown: use one of {', '.join(SELECTIONS)}")
        if backend not in BACKENDS:
            raise UserError(f"backend '{backend}' is unknown: use one of {', '.join(BACKENDS)}")
        params = {k: v for k, v in dict(optimizer).items() if k != "name"}
        # The budget (a profile's choice) overrides the optimizer's published iteration / ant counts.
        if iterations is not None:
            params["iterations"] = int(iterations)
        if ants is not None:
            params["ants"] = int(ants)
        try:
            self.params = MMASParams(**params)
        except TypeError as err:
            raise UserError(f"bad MMAS setting in optimizer=...: {err}") from None
        self.selection, self.backend, self.seed = selection, backend, int(seed)
        self.automatic_optimization = False
        self._instance = instance
        self.colony: Colony | None = None
        self.constructor: Constructor | None = None
        self.iteration_s: list[float] = []
        self.save_hyperparameters(ignore=["instance"])

    # -- lifecycle ---------------------------------------------------------------------------
    def _problem(self) -> TSPInstance:
        if self._instance is not None:
            return self._instance
        dm = getattr(self.trainer, "datamodule", None)
        if dm is None or getattr(dm, "instance", None) is None:
            raise UserError("ParallelACO needs a TSP instance: run with dataset=tsplib (dataset.instance=<name>)")
        return dm.instance

    def prepare(self, problem: TSPInstance, device: torch.device) -> None:
        """Pheromone state and constructor for `problem` on `device` (a fresh run)."""
        self.problem = problem
        self.D_np = problem.distance_matrix()
        self.colony = Colony(self.params, self.D_np, device=device)
        self.constructor = Constructor(self.selection, self.backend, self.colony.m, problem.n, self.seed, device)
        self.iteration_s = []

    def on_fit_start(self) -> None:
        # Here, not in setup(): Lightning moves the module to its device between the two.
        self.prepare(self._problem(), self.device)

    def configure_optimizers(self):
        return None

    @property
    def done(self) -> bool:
        return self.colony.iteration >= self.params.iterations or self.colony.stop

    def iterate(self) -> dict[str, float]:
        """One timed MMAS iteration; returns its per-iteration metrics."""
        colony = self.colony
        cuda = colony.device.type == "cuda"
        if cuda:
            torch.cuda.synchronize(colony.device)
        start = time.perf_counter()
        P = colony.probabilities()
        tours, lengths = self.constructor(P, colony.D, self.D_np, colony.iteration)
        stats = colony.update(tours, lengths)
        if cuda:
            torch.cuda.synchronize(colony.device)
        elapsed = time.perf_counter() - start
        self.iteration_s.append(elapsed)
        metrics = {
            "train/best_length": float(colony.best_length),
            "train/iter_best_length": stats["iter_best_length"],
            "train/branching": stats["branching"],
            "time/iteration_ms": elapsed * 1e3,
            "train/tours_per_s": colony.m / elapsed,
        }
        if self.problem.optimum:
            metrics["train/gap"] = self.gap(colony.best_length)
        return metrics

    def training_step(self, batch, batch_idx):
        if self.done:
            self.trainer.should_stop = True
            return None
        metrics = self.iterate()
        if self.done:
            self.trainer.should_stop = True
        # Lightning's self.log costs milliseconds per call (more than an eil51 iteration), and its
        # logger only writes every log_every_n_steps batches: log just those steps and the last one.
        if (batch_idx + 1) % max(1, self.trainer.log_every_n_steps) == 0 or self.done:
            self.log_dict(metrics, on_step=True, on_epoch=False, batch_size=1)
        return None

    def gap(self, length: float) -> float:
        """Percent above the optimal (or best known) tour length."""
        return 100.0 * (length - self.problem.optimum) / self.problem.optimum

    def summary_metrics(self) -> dict[str, float]:
        if self.colony is None or not self.iteration_s:
            return {}
        # The first iteration pays one-off costs (kernel compilation, buffer warm-up): left out.
        steady = self.iteration_s[1:] or self.iteration_s
        mean_s = float(np.mean(steady))
        out = {
            "final/best_length": float(self.colony.best_length),
            "final/iterations": float(self.colony.iteration),
            "final/best_iteration": float(self.colony.best_iteration + 1),
            "final/resets": float(self.colony.resets),
            "time/iteration_ms_mean": mean_s * 1e3,
            "final/tours_per_s": self.colony.m / mean_s,
        }
        if self.problem.optimum:
            out["final/gap"] = self.gap(self.colony.best_length)
        return out

    @property
    def best_tour(self) -> np.ndarray | None:
        return None if self.colony is None else self.colony.best_tour


def run_colony(instance: TSPInstance, optimizer: dict, selection: str = "air", seed: int = 0,
               iterations: int | None = None, device: str = "cpu", backend: str = "auto",
               max_seconds: float | None = None) -> dict[str, float]:
    """The module's loop without Lightning (benchmarks, quick studies): returns its summary metrics.

    max_seconds stops early (for timing studies); the summary then covers the iterations done.
    """
    module = ParallelACO(optimizer, selection=selection, backend=backend, seed=seed, iterations=iterations,
                         instance=instance)
    module.prepare(instance, torch.device(device))
    start = time.perf_counter()
    while not module.done:
        module.iterate()
        if max_seconds is not None and time.perf_counter() - start > max_seconds:
            break
    return module.summary_metrics()
