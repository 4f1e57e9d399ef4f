"""The meta loop of DrMAD as a LightningModule: one meta-iteration per training step.

Each step (authors' `train_reg` loop, experiments/exp1/mad/mad.py):
  1. test error of the current hyperparameters: train from z_0 on the whole 20,000-example pool and
     classify the test set (`test_eval: retrain_pool`, as the authors do), or classify it with the
     network trained on this meta-iteration's 15,000-example split (`split_model`, half the cost);
  2. re-split the pool 15,000 / 5,000 (train / validation) with this meta-iteration's generator;
  3. hypergradient of the validation loss w.r.t. the 934 hyperparameters (`method`: drmad, exact or
     exact_reversible), timed and memory-measured; optionally the exact one at the same point
     (`compare_to_exact`) for the cosine similarity and the speed / memory ratios;
  4. meta-update h <- h - meta_lr * sign(hypergradient) (`SignSGD`).
"""

from __future__ import annotations

import math
import statistics

import lightning as L
import torch

from lightning_modules.drmad.hypergrad import (
    METHODS, DrMADSchedule, InnerSGD, cosine, hypergradient, sign_agreement, train_forward)
from lightning_modules.drmad.problem import MLPProblem, draw_batches, initial_weights
from reproduce.errors import UserError

MB = 1024.0**2


class SignSGD(torch.optim.Optimizer):
    """h <- h - lr * sign(grad): the authors' meta-update (meta_alpha = 0.07)."""

    def __init__(self, params, lr: float = 0.07):
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(torch.sign(p.grad), alpha=-group["lr"])


class DrMADHyperOpt(L.LightningModule):
    """Tune one L2 penalty per input unit of a tanh MLP by sign-of-hypergradient descent."""

    def __init__(self, method: str = "drmad", layer_sizes=(784, 50, 50, 50, 10), optimizer: dict | None = None,
                 steps: int | None = None, init_log_scale: float = -3.0, log_l2: float = -4.0, t_init: float = 0.2,
                 meta_lr: float = 0.07, meta_iterations: int = 20, drmad: dict | None = None,
                 compare_to_exact: bool = False, test_eval: str = "retrain_pool", compare_iteration: int = 19,
                 dtype: str = "float32", measure_memory: bool = True, warmup: bool = True, seed: int = 0,
                 reversible_bits: int = 52):
        super().__init__()
        if method not in METHODS:
            raise UserError(f"paper.module.method={method!r}: choose one of {', '.join(METHODS)}")
        if test_eval not in ("retrain_pool", "split_model", "none"):
            raise UserError(f"paper.module.test_eval={test_eval!r}: use retrain_pool, split_model or none")
        if dtype not in ("float32", "float64"):
            raise UserError(f"paper.module.dtype={dtype!r}: use float32 or float64")
        self.save_hyperparameters()
        self.automatic_optimization = False
        opt = dict(optimizer or {})
        self.sgd = InnerSGD(lr=float(opt.get("lr", 0.05)), momentum=float(opt.get("momentum", 0.1)),
                            steps=int(steps if steps is not None else opt.get("steps", 2000)))
        self.batch_size = int(opt.get("batch_size", 50))
        try:
            self.schedule = DrMADSchedule(**(drmad or {}))
        except TypeError as err:
            raise UserError(f"paper.module.drmad: {err}; keys are reverse_fraction, reverse_steps, b_hi, b_lo, "
                            "batches") from err
        if self.schedule.batches not in ("early", "aligned"):
            raise UserError(f"paper.module.drmad.batches={self.schedule.batches!r}: use early or aligned")
        self.layer_sizes = [int(s) for s in layer_sizes]
        self.dtype_ = getattr(torch, dtype)
        num_hypers = sum(self.layer_sizes[:-1])
        self.hyper = torch.nn.Parameter(torch.full((num_hypers,), float(t_init), dtype=self.dtype_))
        self._data: dict[str, torch.Tensor] = {}
        self.history: dict[str, list[float]] = {}

    # ---- data -------------------------------------------------------------------------------------
    def on_fit_start(self) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        tensors = getattr(dm, "tensors", None)
        if tensors is None:
            raise UserError("paper=drmad needs its own datamodule (lightning_modules.drmad.DrMADDataModule): run "
                            "with dataset=mnist so conf/paper_dataset/drmad_mnist.yaml applies, or an experiment "
                            "drmad/*")
        if not tensors:
            dm.setup("fit")
        if tensors["pool_x"].shape[1] != self.layer_sizes[0]:
            raise UserError(f"inputs have {tensors['pool_x'].shape[1]} features but paper.module.layer_sizes "
                            f"starts with {self.layer_sizes[0]}")
        self._data = {k: v.to(self.device, self.dtype_ if v.is_floating_point() else v.dtype)
                      for k, v in tensors.items()}
        if self.hparams.warmup and self.hparams.measure_memory:
            self._warmup()

    def _warmup(self) -> None:
        """One tiny call per method first, so lazy library initialisation is not billed to meta-iteration 0."""
        gen = torch.Generator().manual_seed(0)
        problem, z0 = self._problem(gen, steps=4)
        for method in {self.hparams.method, "exact"}:
            hypergradient(method, problem, self.hyper.detach(), z0, InnerSGD(self.sgd.lr, self.sgd.momentum, 4),
                          self.schedule, measure_memory=True)

    def _problem(self, gen: torch.Generator, steps: int | None = None):
        """This meta-iteration's 15,000 / 5,000 re-split of the pool, minibatch table and z_0."""
        d, steps = self._data, steps or self.sgd.steps
        n_pool = d["pool_x"].shape[0]
        n_val = self.trainer.datamodule.val_size
        perm = torch.randperm(n_pool, generator=gen).to(self.device)
        tr, va = perm[: n_pool - n_val], perm[n_pool - n_val:]
        problem = MLPProblem(self.layer_sizes, d["pool_x"][tr], d["pool_y"][tr], d["pool_x"][va], d["pool_y"][va],
                             draw_batches(n_pool - n_val, steps, self.batch_size, gen, self.device),
                             self.hparams.log_l2, self.hparams.t_init)
        z0 = initial_weights(problem.num_params, self.hparams.init_log_scale, gen, self.dtype_, self.device)
        return problem, z0

    # ---- meta loop --------------------------------------------------------------------------------
    def configure_optimizers(self):
        return SignSGD([self.hyper], lr=self.hparams.meta_lr)

    def _log(self, name: str, value: float) -> None:
        self.history.setdefault(name, []).append(float(value))
        self.log(name, float(value), on_step=True, on_epoch=False, prog_bar=False)

    def training_step(self, batch, batch_idx):
        it = int(batch_idx)
        h = self.hyper.detach()
        gen = torch.Generator().manual_seed(int(self.hparams.seed) * 1_000_003 + it)
        problem, z0 = self._problem(gen)
        self._log("hyper/mean", h.mean().item())  # mean t, like the authors' `all_avg_regs`
        self._log("hyper/mean_log_l2", self.hparams.log_l2 - 2.0 * h.mean().item())  # penalty on w: log_l2 - 2t

        if self.hparams.test_eval == "retrain_pool":
            d = self._data
            pool = MLPProblem(self.layer_sizes, d["pool_x"], d["pool_y"], d["pool_x"][:1], d["pool_y"][:1],
                              draw_batches(d["pool_x"].shape[0], self.sgd.steps, self.batch_size, gen, self.device),
                              self.hparams.log_l2, self.hparams.t_init)
            self._log_test_error(it, pool.error(train_forward(pool, h, z0, self.sgd), h, d["test_x"], d["test_y"]))

        res = hypergradient(self.hparams.method, problem, h, z0, self.sgd, self.schedule,
                            self.hparams.measure_memory, self.hparams.reversible_bits)
        if self.hparams.test_eval == "split_model":
            self._log_test_error(it, problem.error(res.z_final, h, self._data["test_x"], self._data["test_y"]))
        self._log("val/loss", res.val_loss)
        self._log("val/error", problem.error(res.z_final, h, problem.val_x, problem.val_y))
        self._log_cost("hypergrad", res)
        if "reversal_exact" in res.extra:
            self._log("hypergrad/reversal_exact", float(res.extra["reversal_exact"]))

        if self.hparams.compare_to_exact and self.hparams.method != "exact":
            ref = hypergradient("exact", problem, h, z0, self.sgd, measure_memory=self.hparams.measure_memory)
            self._log("hypergrad/cosine_to_exact", cosine(res.grad, ref.grad))
            self._log("hypergrad/sign_agreement", sign_agreement(res.grad, ref.grad))
            self._log_cost("exact", ref)

        opt = self.optimizers()
        self.hyper.grad = res.grad.to(self.hyper.dtype)
        opt.step()
        opt.zero_grad()

    def _log_test_error(self, it: int, err: float) -> None:
        self._log("test/error", err)  # initial / at-k / best / drop are run-level: see summary_metrics

    def _log_cost(self, prefix: str, res) -> None:
        self._log(f"time/{prefix}_s", res.total_s)
        self._log(f"time/{prefix}_reverse_s", res.reverse_s)
        self._log(f"mem/{prefix}_kept_mb", res.kept_bytes / MB)
        if res.peak_bytes is not None:
            self._log(f"mem/{prefix}_peak_mb", res.peak_bytes / MB)

    # ---- run-level figures ------------------------------------------------------------------------
    def summary_metrics(self) -> dict[str, float]:
        """Best / drop of the test-error curve, and exact-over-DrMAD ratios when both were measured."""
        out: dict[str, float] = {"meta/iterations": float(len(self.history.get("val/loss", [])))}
        errs = self.history.get("test/error", [])
        if errs:
            # k = compare_iteration (19: the last row of the published file), or the last one run
            k = min(self.hparams.compare_iteration, len(errs) - 1)
            out["test/error_initial"] = errs[0]
            out["test/error_at_k"] = errs[k]
            out["test/error_best"] = min(errs)
            out["test/error_drop"] = errs[0] - errs[k]
        if self.history.get("time/exact_s") and self.hparams.method != "exact":

            def ratio(num: str, den: str) -> float:
                a, b = statistics.median(self.history[num]), statistics.median(self.history[den])
                return a / b if b > 0 else math.inf

            out["time/exact_over_drmad"] = ratio("time/exact_s", "time/hypergrad_s")
            out["time/exact_over_drmad_reverse"] = ratio("time/exact_reverse_s", "time/hypergrad_reverse_s")
            out["mem/exact_over_drmad_kept"] = ratio("mem/exact_kept_mb", "mem/hypergrad_kept_mb")
            if self.history.get("mem/exact_peak_mb"):
                out["mem/exact_over_drmad_peak"] = ratio("mem/exact_peak_mb", "mem/hypergrad_peak_mb")
            out["hypergrad/cosine_to_exact_median"] = statistics.median(self.history["hypergrad/cosine_to_exact"])
        return out
