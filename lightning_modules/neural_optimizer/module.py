"""The LightningModule of paper 1: meta-training (phase=meta_train) and frozen evaluation (phase=evaluate).

Lightning provides the device, the MLflow logger and the run's lifecycle; the optimizee loop itself
is the paper's (an optimizer of optimizers is not a model trained by a torch optimizer), so the whole
phase runs inside the first training_step on the datamodule's resident tensors and the experiment
configs set `trainer.limit_train_batches: 1`.

Curves (`train/loss` = mean minibatch loss of each logging window, `test/acc` in %, `opt/*`, and
`meta/*` for meta-iterations) are logged with the optimizee step as their MLflow step, so the
latest value of `test/acc` is the one at the end of the longest horizon. Run-level numbers come back
through `summary_metrics` under names the curves never use.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import warnings
from pathlib import Path

import lightning as L
import torch

from lightning_modules.neural_optimizer.optimizee import MLPSpec, ResidentData
from lightning_modules.neural_optimizer.optimizers import FlatOptimizer
from lightning_modules.neural_optimizer.runner import Problem, train_optimizee
from reproduce.errors import UserError

PHASES = ("meta_train", "evaluate")

# Expected by design here (no validation loop, no torch optimizer for Lightning to drive): silenced
# one by one so that any other warning still shows.
for _pattern in (r"You passed in a `val_dataloader` but have no `validation_step`",
                 r"`LightningModule.configure_optimizers` returned `None`"):
    warnings.filterwarnings("ignore", message=_pattern)


class NeuralOptimizerModule(L.LightningModule):
    def __init__(self, optimizer: FlatOptimizer | None, phase: str = "evaluate", horizon: int = 1000,
                 horizon_multiples=(1, 10), log_every: int = 100, hidden=(20,), activation: str = "sigmoid",
                 batch_size: int = 128, standardize: bool = True, seed: int = 0, cache_dir: str | None = None,
                 checkpoint_dir: str | None = None, use_cache: bool = True):
        super().__init__()
        self.opt = optimizer
        self.phase = phase
        self.horizon = int(horizon)
        self.multiples = sorted({int(m) for m in horizon_multiples})
        self.log_every = int(log_every)
        self.hidden, self.activation = tuple(int(h) for h in hidden), activation
        self.batch_size, self.standardize = int(batch_size), bool(standardize)
        self.seed = int(seed)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.checkpoint_dir = checkpoint_dir
        self.use_cache = bool(use_cache)
        self.automatic_optimization = False
        self._summary: dict[str, float] = {}
        self._done = False
        # the learned optimizers' networks are registered so Lightning moves them with the module
        self.learned_net = getattr(optimizer, "controller", None) if isinstance(optimizer, FlatOptimizer) else None

    # -- data --------------------------------------------------------------------------------------
    def _resident(self, datamodule) -> ResidentData:
        x, y = datamodule.splits["train"]
        tx, ty = datamodule.splits["test"]
        return ResidentData({"train_x": x.to(self.device), "train_y": y.to(self.device),
                             "test_x": tx.to(self.device), "test_y": ty.to(self.device)}, self.standardize)

    def _problem(self, data: ResidentData) -> Problem:
        return Problem(MLPSpec(data.in_features, self.hidden, data.n_classes, self.activation), data,
                       self.batch_size)

    def _meta_problem(self) -> Problem:
        """The optimizee family the learned optimizer is meta-trained on (MNIST by default)."""
        dm = self.trainer.datamodule
        name = self.opt.meta.get("dataset") or "same"
        if name in ("same", dm.name):
            return self._problem(self._resident(dm))
        from lightning_modules.data.vision import VisionDataModule

        meta_dm = VisionDataModule(name=name, root=dm.root, mirror=dm.mirror, download=dm.download,
                                   val_size=dm.val_size, split_seed=dm.split_seed)
        meta_dm.setup("fit")
        return self._problem(self._resident(meta_dm))

    # -- learned optimizer: checkpoint, cache, meta-training ------------------------------------------
    def _meta_seed(self) -> int:
        seed = self.opt.meta.get("seed")
        return int(self.seed if seed is None else seed)

    def _fingerprint(self, meta_problem: Problem) -> dict:
        fp = self.opt.fingerprint_dict()
        fp["meta"] = {**fp["meta"], "seed": self._meta_seed()}  # meta.seed=null follows the run seed
        return {**fp, "optimizee": {"hidden": list(self.hidden), "activation": self.activation,
                "batch_size": self.batch_size, "standardize": self.standardize,
                "in_features": meta_problem.spec.in_features}}

    def _cache_path(self, fp: dict) -> Path | None:
        if self.cache_dir is None or not self.use_cache:
            return None
        digest = hashlib.sha256(json.dumps(fp, sort_keys=True, default=str).encode()).hexdigest()[:16]
        return self.cache_dir / f"{self.opt.name}-{digest}.pt"

    def _run_dir(self) -> Path:
        if self.checkpoint_dir:
            return Path(self.checkpoint_dir)
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            try:
                return Path(HydraConfig.get().runtime.output_dir) / "checkpoints"
            except Exception:  # compose-API runs have no runtime output dir
                pass
        run_id = getattr(self.logger, "run_id", None) or f"seed{self.seed}-{os.getpid()}"
        return Path(self.trainer.default_root_dir) / "neural_optimizer" / str(run_id)

    def _save(self, path: Path, fp: dict, meta_log: list[dict]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save({"state_dict": {k: v.cpu() for k, v in self.opt.controller.state_dict().items()},
                    "fingerprint": fp, "meta_log": meta_log}, tmp)
        os.replace(tmp, path)  # atomic: a parallel job never reads half a file

    def _load(self, path: Path, fp: dict | None) -> list[dict]:
        blob = torch.load(path, map_location="cpu", weights_only=False)
        if fp is not None:
            arch = {k: v for k, v in fp.items() if k not in ("meta", "optimizee")}
            saved = {k: v for k, v in blob["fingerprint"].items() if k not in ("meta", "optimizee")}
            if arch != saved:
                raise UserError(f"checkpoint {path} was trained for a different optimizer configuration "
                                f"({saved} vs {arch}): point optimizer.checkpoint at a matching file or set it to null")
        self.opt.controller.load_state_dict(blob["state_dict"])
        return blob.get("meta_log", [])

    def _meta_train(self) -> list[dict]:
        """Meta-train the learned optimizer on fresh optimizees from its own seeded generator."""
        problem = self._meta_problem()
        meta_seed = self._meta_seed()
        self.opt.init_controller(meta_seed)
        gen = torch.Generator(device="cpu").manual_seed(meta_seed)
        n = int(self.opt.meta.get("iterations", self.opt.meta.get("optimizees", 1)))
        log, start = [], time.perf_counter()
        for it in range(1, n + 1):
            t0 = time.perf_counter()
            row = self.opt.meta_train_iteration(problem, gen)
            row["meta/iteration_s"] = time.perf_counter() - t0
            log.append(row)
            self._log_curve(row, step=it)
        self._summary["time/meta_train_s"] = time.perf_counter() - start
        self._summary["time/meta_iteration_s"] = self._summary["time/meta_train_s"] / max(n, 1)
        return log

    def _ensure_trained(self) -> None:
        """Evaluation: load optimizer.checkpoint if given, else the cache entry for this exact configuration,
        else meta-train now. Meta-training phase: the cache entry if present, else meta-train. Either way
        the result is saved under the run's output dir and logged as an MLflow artifact."""
        if not self.opt.learned:
            return
        problem = self._meta_problem()
        fp = self._fingerprint(problem)
        cache = self._cache_path(fp)
        explicit = getattr(self.opt, "checkpoint", None)
        meta_log: list[dict] = []
        if explicit and self.phase == "evaluate":
            self._load(Path(explicit), fp)
            self._summary["meta/from_checkpoint"] = 1.0
        elif cache is not None and cache.is_file():
            meta_log = self._load(cache, fp)
            self._summary["meta/from_cache"] = 1.0
            for it, row in enumerate(meta_log, start=1):
                self._log_curve(row, step=it)
        else:
            meta_log = self._meta_train()
            if cache is not None:
                self._save(cache, fp, meta_log)
        out = self._run_dir() / f"{self.opt.name}.pt"
        self._save(out, fp, meta_log)
        self._artifact(out)
        if meta_log:
            self._summary["meta/final_train_loss"] = float(meta_log[-1]["meta/train_loss"])

    # -- logging -----------------------------------------------------------------------------------
    def _log_curve(self, row: dict, step: int) -> None:
        metrics = {k: float(v) for k, v in row.items() if k != "step" and isinstance(v, (int, float))}
        metrics = {k: (v if math.isfinite(v) else 1e30) for k, v in metrics.items()}
        if self.logger is not None and metrics:
            self.logger.log_metrics(metrics, step=int(step))

    def _artifact(self, path: Path) -> None:
        logger = self.logger
        if logger is not None and hasattr(logger, "experiment") and getattr(logger, "run_id", None):
            try:
                logger.experiment.log_artifact(logger.run_id, str(path), "checkpoints")
            except Exception as err:  # an artifact store problem must not lose the run's numbers
                self._summary["meta/artifact_failed"] = 1.0
                print(f"warning: could not log {path} as an MLflow artifact: {err}")

    # -- Lightning hooks ---------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        """Configuration errors, raised here rather than in __init__ (Hydra's instantiate would wrap them
        into a long traceback; from a hook they reach the entry point as one line)."""
        if self.phase not in PHASES:
            raise UserError(f"module.phase={self.phase!r} is not a phase: use one of {', '.join(PHASES)}")
        if self.opt is None or not isinstance(self.opt, FlatOptimizer):
            raise UserError("paper=neural_optimizer needs an optimizer from its own group: pass "
                            "optimizer=neural_optimizer/<adam|sgd|sgd_momentum|rmsprop|adam_hd|adam_hd_pw|l2l|neural>")
        if self.phase == "meta_train" and not self.opt.learned:
            raise UserError(f"phase=meta_train needs a learned optimizer (neural_optimizer/neural or "
                            f"neural_optimizer/l2l), not {self.opt.name}")
        explicit = getattr(self.opt, "checkpoint", None)
        if explicit and self.phase == "evaluate" and not Path(explicit).is_file():
            raise UserError(f"optimizer.checkpoint={explicit} does not exist: run the meta-training experiment "
                            "(experiment=neural_optimizer/meta_train_<neural|l2l>) or set optimizer.checkpoint=null")

    def configure_optimizers(self):
        return None

    def training_step(self, batch, batch_idx):
        if self._done:
            return None
        self._done = True
        self._ensure_trained()
        eval_problem = self._problem(self._resident(self.trainer.datamodule))
        multiples = self.multiples if self.phase == "evaluate" else self.multiples[:1]
        self._evaluate(eval_problem, multiples)
        self.trainer.should_stop = True
        return None

    def _evaluate(self, problem: Problem, multiples: list[int]) -> None:
        marks = tuple(m * self.horizon for m in multiples)
        gen = torch.Generator(device="cpu").manual_seed(self.seed)
        res = train_optimizee(problem, self.opt, marks[-1], gen, log_every=self.log_every, checkpoints=marks,
                              on_log=lambda row: self._log_curve(row, step=row["step"]))
        s = self._summary
        losses = [r["train/loss"] for r in res.curve]
        for m, step in zip(multiples, marks):
            mark = res.checkpoints[step]
            upto = [r["train/loss"] for r in res.curve if r["step"] <= step]
            s[f"test/acc_h{m}x"] = mark["test/acc"]
            s[f"train/loss_full_h{m}x"] = mark["train/loss_full"]
            s[f"train/loss_auc_h{m}x"] = sum(upto) / len(upto)
        # the longest horizon under names the claims use
        s["test/acc_final"] = res.checkpoints[marks[-1]]["test/acc"]
        s["train/loss_full_final"] = res.checkpoints[marks[-1]]["train/loss_full"]
        s["train/loss_auc"] = sum(losses) / len(losses)
        s["train/diverged"] = float(res.diverged)
        s["train/steps"] = float(res.steps_done)
        s["time/step_ms"] = 1e3 * res.seconds / max(res.steps_done, 1)
        s = {k: (v if math.isfinite(v) else 1e30) for k, v in s.items()}
        self._summary = s

    def summary_metrics(self) -> dict[str, float]:
        return dict(self._summary)
