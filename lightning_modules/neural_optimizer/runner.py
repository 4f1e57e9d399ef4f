"""Training one optimizee with any flat optimizer, on resident tensors, with windowed logging.

Both phases use this loop: a meta-iteration of the neural optimizer is one call with the controller
in meta-training mode; a frozen evaluation is one call with it frozen. Baselines go through the
same code, so every method pays the same per-step overhead except its own update rule.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import torch

from lightning_modules.neural_optimizer.optimizee import (
    MLPSpec, ResidentData, accuracy, full_loss, loss_and_grad)
from lightning_modules.neural_optimizer.optimizers import FlatOptimizer


@dataclass
class Problem:
    """An optimizee family: a net shape, the data it is trained on and the minibatch size."""

    spec: MLPSpec
    data: ResidentData
    batch_size: int = 128


@dataclass
class RunResult:
    steps_done: int
    diverged: bool
    curve: list[dict]           # one dict per logging window: step, train/loss (window mean), test/acc, ...
    checkpoints: dict[int, dict]  # step -> full-train-set loss and test accuracy at that step
    seconds: float
    theta: torch.Tensor


def train_optimizee(problem: Problem, optimizer: FlatOptimizer, steps: int, generator: torch.Generator,
                    log_every: int = 100, checkpoints: tuple[int, ...] = (), eval_test: bool = True,
                    on_log: Callable[[dict], None] | None = None) -> RunResult:
    """Run `steps` optimizer steps on a fresh optimizee drawn from `generator` (init, then batch order).

    A non-finite loss stops the run: the remaining windows would only propagate NaNs, and the run is
    reported as diverged (its losses become +inf so that orderings treat it as the worst).
    """
    spec, data = problem.spec, problem.data
    # drawn on the CPU generator, then moved: the same seed gives the same optimizee on every device
    theta = spec.init(generator).to(data.train_x.device)
    grad = torch.empty_like(theta)
    sampler = data.sampler(problem.batch_size, generator)
    if hasattr(optimizer, "set_layout"):
        optimizer.set_layout(spec.segment_sizes)
    optimizer.reset(theta)
    curve, marks = [], {}
    window_sum, window_n = 0.0, 0
    diverged = False
    start = time.perf_counter()
    t = 0
    for t in range(1, steps + 1):
        x, y = sampler.next()
        value = loss_and_grad(spec, theta, x, y, grad)
        if not math.isfinite(value):
            diverged = True
            break
        optimizer.step(theta, grad)
        window_sum += value
        window_n += 1
        if t % log_every == 0 or t == steps:
            row = {"step": t, "train/loss": window_sum / window_n}
            if eval_test:
                row["test/acc"] = accuracy(spec, theta, data.test_x, data.test_y)
            row.update({f"opt/{k}": v for k, v in optimizer.diagnostics().items()})
            curve.append(row)
            if on_log is not None:
                on_log(row)
            window_sum, window_n = 0.0, 0
        if t in checkpoints:
            marks[t] = evaluate(problem, theta)
    seconds = time.perf_counter() - start
    if diverged:
        bad = {"train/loss_full": math.inf, "test/acc": accuracy(spec, theta, data.test_x, data.test_y)}
        for c in checkpoints:
            marks.setdefault(c, dict(bad))
        row = {"step": t, "train/loss": math.inf, "test/acc": bad["test/acc"]}
        curve.append(row)
        if on_log is not None:
            on_log(row)
    return RunResult(t if not diverged else t - 1, diverged, curve, marks, seconds, theta)


def evaluate(problem: Problem, theta: torch.Tensor) -> dict:
    spec, data = problem.spec, problem.data
    loss = full_loss(spec, theta, data.train_x, data.train_y)
    return {"train/loss_full": loss if math.isfinite(loss) else math.inf,
            "test/acc": accuracy(spec, theta, data.test_x, data.test_y)}
