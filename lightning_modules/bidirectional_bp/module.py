"""LightningModule for "Bidirectional Backpropagation" (Luo, Fu, Glass; arXiv 1702.07097).

Manual optimisation: every training step computes the forward weights' updates with the chosen rule
(`rules.deltas_for` + `rules.weight_grads`), hands them to the SGD optimizer from the config as .grad,
and, for BFA/BDFA, takes one ascent step on the feedback matrices (`rules.update_feedback`).
Map from the paper to the code: see `rules.py`'s docstring and README.md beside this file.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import lightning as L
import torch
from torch import Tensor

from . import rules
from .network import FeedbackNet, conv_specs, mlp_specs

ARCHITECTURES = ("auto", "mlp", "conv")
LR_DECAYS = ("none", "linear", "cosine")


def _user_error(message: str) -> Exception:
    try:
        from reproduce.errors import UserError
    except ImportError:  # the module stays usable outside the suite
        return ValueError(message)
    return UserError(message)


class BidirectionalBPModule(L.LightningModule):
    def __init__(
        self,
        optimizer: Callable | None,
        input_shape: Sequence[int],
        num_classes: int,
        method: str = "bp",
        lr: float | None = None,
        architecture: str = "auto",
        mlp_hidden: Sequence[int] = (800, 800),
        conv_channels: Sequence[int] = (96, 128, 256),
        conv_fc_hidden: Sequence[int] = (2048, 2048),
        activation: str = "tanh",
        loss: str = "bce",
        loss_reduction: str = "mean",
        zero_init_forward: bool | None = None,
        feedback_scale: float | None = None,
        feedback_lr: float = 5e-5,
        target_code_scale: float = 0.25,
        target_code_from: str = "prob",
        adversarial_eps: float = 0.0,
        lr_warmup_epochs: float = 0.0,
        lr_decay: str = "none",
        log_alignment: bool = True,
        test_every_epoch: bool = True,
    ):
        super().__init__()
        if method not in rules.METHODS:
            raise _user_error(f"method={method!r} is unknown: set method= one of {', '.join(rules.METHODS)} "
                              "or pick an experiment=bidirectional_bp/<dataset>_<method>")
        if architecture not in ARCHITECTURES:
            raise _user_error(f"architecture={architecture!r} is unknown: use one of {ARCHITECTURES}")
        if lr_decay not in LR_DECAYS:
            raise _user_error(f"lr_decay={lr_decay!r} is unknown: use one of {LR_DECAYS}")
        if target_code_from not in ("prob", "logits"):
            raise _user_error(f"target_code_from={target_code_from!r} is unknown: use prob or logits")
        if loss not in rules.LOSSES:
            raise _user_error(f"loss={loss!r} is unknown: use one of {rules.LOSSES}")
        self.save_hyperparameters(ignore=["optimizer"], logger=False)
        self.automatic_optimization = False
        self.optimizer_factory = optimizer
        self.method = method
        shape = tuple(int(v) for v in input_shape)
        if architecture == "auto":  # the paper's conv net for colour images, its MLP otherwise
            architecture = "conv" if shape[0] == 3 and len(shape) == 3 else "mlp"
        specs = (
            conv_specs(shape, num_classes, conv_channels, conv_fc_hidden)
            if architecture == "conv"
            else mlp_specs(shape, num_classes, mlp_hidden)
        )
        if zero_init_forward is None:
            # Authors' code: zero forward weights for the feedback-alignment family with tanh/sigmoid
            # units (a random B breaks the symmetry); BP needs a random start.
            zero_init_forward = method != "bp" and activation != "relu"
        self.net = FeedbackNet(specs, activation, rules.FEEDBACK_KIND[method], zero_init_forward, feedback_scale)
        self._epoch_t0 = 0.0
        self._epoch_t1 = 0.0
        self._epoch_samples = 0
        self._last_rate = float("nan")
        self.epoch_rates: list[float] = []  # training samples/s of every epoch (the benchmark reads it)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def configure_optimizers(self):
        # The budget's lr overrides the partial's own (the paper's rate differs per dataset and budget).
        factory = self.optimizer_factory or torch.optim.SGD
        kwargs = {} if self.hparams.lr is None else {"lr": self.hparams.lr}
        return factory(self.net.parameters(), **kwargs)

    # -- training ------------------------------------------------------------------------------
    @torch.no_grad()
    def training_step(self, batch, batch_idx):
        hp = self.hparams
        x, y = batch
        loss, cache, e, grads = rules.train_step(
            self.method, self.net, x, y, hp.loss, hp.loss_reduction, hp.feedback_lr,
            hp.target_code_scale, hp.adversarial_eps, hp.target_code_from,
        )
        if hp.log_alignment and batch_idx == 0:
            self._log_alignment(cache, e, grads)
        opt = self.optimizers()
        if hp.lr_warmup_epochs > 0 or hp.lr_decay != "none":
            self._schedule(opt)
        for (gw, gb), w, b in zip(grads, self.net.weights, self.net.biases):
            w.grad, b.grad = gw, gb
        opt.step()

        n = len(y)
        self._epoch_samples += n
        if batch_idx == self.trainer.num_training_batches - 1:
            self._sync()  # a GPU's queue must drain before the epoch's clock stops
        self._epoch_t1 = time.perf_counter()
        err = (cache.logits.argmax(1) != y).float().mean() * 100.0
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=n)
        self.log("train/error", err, on_step=False, on_epoch=True, batch_size=n)

    def _schedule(self, opt) -> None:
        """Step size of this step: a linear ramp over the first `lr_warmup_epochs`, times a linear or
        cosine decay to 0 at the end of the run (`lr_decay`), times the budget's lr."""
        per_epoch = max(1, self.trainer.num_training_batches)
        step = self.global_step + 1
        factor = 1.0
        if self.hparams.lr_warmup_epochs > 0:
            factor = min(1.0, step / (self.hparams.lr_warmup_epochs * per_epoch))
        if self.hparams.lr_decay != "none":
            total = self.trainer.max_steps if self.trainer.max_steps > 0 else self.trainer.max_epochs * per_epoch
            progress = min(1.0, (step - 1) / max(1, total))
            decay = 1.0 - progress if self.hparams.lr_decay == "linear" else 0.5 * (1 + math.cos(math.pi * progress))
            factor *= decay
        inner = getattr(opt, "optimizer", opt)
        base = self.hparams.lr if self.hparams.lr is not None else inner.defaults["lr"]
        for group in inner.param_groups:
            group["lr"] = base * factor

    def _log_alignment(self, cache, e, grads) -> None:
        """Angle between this rule's hidden-layer weight updates and BP's on the same batch."""
        bp = rules.weight_grads(self.net, cache, rules.deltas_for("bp", self.net, cache, e))
        for i in range(self.net.num_layers - 1):
            self.log(f"train/angle_bp_w{i}", rules.angle_deg(grads[i][0], bp[i][0]), on_step=False, on_epoch=True)

    def on_train_epoch_start(self) -> None:
        self._sync()
        self._epoch_t0 = self._epoch_t1 = time.perf_counter()
        self._epoch_samples = 0

    def on_train_epoch_end(self) -> None:
        # Validation runs between the last batch and this hook, so the clock stops at the last batch.
        elapsed = self._epoch_t1 - self._epoch_t0
        if elapsed > 0 and self._epoch_samples:
            self._last_rate = self._epoch_samples / elapsed
            self.epoch_rates.append(self._last_rate)
            self.log("train/samples_per_s", self._last_rate)
        if self.hparams.test_every_epoch:
            self._log_test_error()

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @torch.no_grad()
    def _log_test_error(self) -> None:
        """Test error after each epoch, for the per-epoch curves (the final figure comes from trainer.test)."""
        dm = getattr(self.trainer, "datamodule", None)
        if dm is None or not hasattr(dm, "test_dataloader") or self.trainer.sanity_checking:
            return
        limit = self.trainer.limit_test_batches
        wrong = total = 0
        for k, (x, y) in enumerate(dm.test_dataloader()):
            if isinstance(limit, int) and k >= limit:
                break
            x, y = x.to(self.device), y.to(self.device)
            wrong += int((self.net(x).argmax(1) != y).sum())
            total += len(y)
        if total:
            self.log("test/error", 100.0 * wrong / total)

    # -- evaluation ----------------------------------------------------------------------------
    def _eval_step(self, batch, stage: str) -> None:
        x, y = batch
        logits = self.net(x)
        loss, _, _ = rules.output_error(logits, y, self.hparams.loss, "mean")
        err = (logits.argmax(1) != y).float().mean() * 100.0
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, batch_size=len(y))
        self.log(f"{stage}/error", err, on_step=False, on_epoch=True, batch_size=len(y))

    def validation_step(self, batch, batch_idx):
        self._eval_step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._eval_step(batch, "test")

    def summary_metrics(self) -> dict[str, float]:
        return {"train/samples_per_s": self._last_rate} if self._last_rate == self._last_rate else {}
