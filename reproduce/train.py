"""The one entry point: compose the config, build data, model and trainer, run, track, compare.

    python -m reproduce experiment=bidirectional_bp/mnist_dfa seed=1
    python -m reproduce -m 'experiment=glob(bidirectional_bp/*)' seed=0,1,2 [hydra/launcher=joblib]

Everything is instantiated here from `_target_` entries; modules receive plain Python objects.
Heavy imports (torch, lightning, mlflow) happen inside functions so `--help` and config errors
answer fast.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from typing import Any

import hydra
from omegaconf import DictConfig

from reproduce import CONF_DIR, register_resolvers
from reproduce.errors import UserError

log = logging.getLogger("reproduce")
register_resolvers()

# Known-harmless notices from the pinned stack, silenced one by one (not wholesale): Lightning's
# internal pytree deprecation, and its advice to log more often on runs with few batches per epoch.
for _pattern in (r"`isinstance\(treespec, LeafSpec\)` is deprecated", r"The number of training batches .* logging interval"):
    warnings.filterwarnings("ignore", message=_pattern)


def check_choices(cfg: DictConfig) -> None:
    """paper and dataset are required; they default to null only so a sweep over experiments composes."""
    for group in ("paper", "dataset"):
        if cfg.get(group) is None:
            raise UserError(f"no {group} chosen: pass experiment=<paper>/<name> (one of conf/experiment/) "
                            f"or both paper=... and dataset=...")


def check_hardware(hardware: DictConfig) -> None:
    """Fail before anything is built when the config asks for a device this machine lacks."""
    if hardware.accelerator in ("gpu", "cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UserError(f"hardware={hardware.name} needs a CUDA GPU but none is visible: "
                            "run with hardware=cpu (or hardware=auto to use a GPU only when present)")


def _experiment_name(cfg: DictConfig) -> str:
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        choice = HydraConfig.get().runtime.choices.get("experiment")
        if choice and choice != "null":
            return str(choice)
    return f"{cfg.paper.name}/{cfg.method}-{cfg.dataset.name}"


def _sweep_id() -> str:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return str(HydraConfig.get().sweep.dir)
    return "single"


def _float_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in metrics.items():
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            continue
    return out


def compare_with_published(published, metrics: dict[str, float]) -> dict[str, float]:
    """published/<metric> and gap/<metric> (measured - published) for every published number."""
    out = {}
    for item in published or []:
        key = item["metric"]
        out[f"published/{key}"] = float(item["value"])
        if key in metrics:
            out[f"gap/{key}"] = metrics[key] - float(item["value"])
    return out


def build_trainer(cfg: DictConfig, logger):
    import lightning as L
    from omegaconf import OmegaConf

    hardware = {k: v for k, v in OmegaConf.to_container(cfg.hardware).items() if k != "name"}
    trainer_kwargs = {k: v for k, v in OmegaConf.to_container(cfg.trainer).items() if v is not None}
    return L.Trainer(**hardware, **trainer_kwargs, logger=logger if logger is not None else False,
                     # "warn": enforce deterministic kernels, but let a GPU op without one run (with a
                     # warning) rather than crash a long job; on CPU every op used here is deterministic.
                     deterministic="warn" if cfg.deterministic else None, default_root_dir=cfg.paths.output_dir)


def run(cfg: DictConfig) -> dict[str, float]:
    """One job. Returns its final metrics (also logged to MLflow with published/gap values)."""
    check_choices(cfg)
    check_hardware(cfg.hardware)
    import lightning as L
    import torch
    from hydra.utils import instantiate

    from reproduce.tracking import tracked_run

    if cfg.num_threads:
        torch.set_num_threads(int(cfg.num_threads))
    experiment = _experiment_name(cfg)
    with tracked_run(cfg, experiment, _sweep_id()) as handle:
        L.seed_everything(int(cfg.seed), workers=True, verbose=False)
        datamodule = instantiate(cfg.dataset, _convert_="all")
        model = instantiate(cfg.paper.module, _convert_="all")
        logger = None
        if handle is not None:
            from reproduce.loggers import ConfigLoggedMLFlowLogger

            logger = ConfigLoggedMLFlowLogger(tracking_uri=cfg.tracking.uri, run_id=handle.run_id)
        trainer = build_trainer(cfg, logger)
        start = time.perf_counter()
        trainer.fit(model, datamodule=datamodule)
        metrics = _float_metrics(trainer.callback_metrics)
        if cfg.test_after_fit and type(model).test_step is not L.LightningModule.test_step:
            trainer.test(model, datamodule=datamodule, verbose=False)
            metrics.update(_float_metrics(trainer.callback_metrics))
        # Run-level figures Lightning has not logged yet: the module's summary, wall time, and the
        # comparison with every published number.
        extra = _float_metrics(model.summary_metrics()) if hasattr(model, "summary_metrics") else {}
        extra["time/run_s"] = time.perf_counter() - start
        metrics.update(extra)
        extra.update(compare_with_published(cfg.published, metrics))
        metrics.update(extra)
        if handle is not None and trainer.is_global_zero:
            handle.log_metrics(extra, step=int(trainer.global_step))
        log.info("%s seed=%s: %s", experiment, cfg.seed,
                 ", ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items()) if "/" in k))
        return metrics


def run_job(cfg: DictConfig) -> dict[str, float] | dict[str, str]:
    """`run` with the suite's error policy: a user error is one line; in a sweep, a failed job is
    recorded (FAILED run in MLflow, error in the log) and the sweep goes on with the others."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        try:
            return run(cfg)
        except Exception as err:  # Hydra wraps errors raised in a module's __init__; unwrap the user's
            if isinstance(err.__cause__, UserError) and type(err).__name__ == "InstantiationException":
                raise err.__cause__ from None
            raise
    except UserError as err:
        if multirun:
            log.error("job failed: %s", err)
            return {"status": "failed", "error": str(err)}
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except Exception as err:
        if not multirun:
            raise
        log.exception("job failed: %s: %s", type(err).__name__, err)
        return {"status": "failed", "error": f"{type(err).__name__}: {err}"}


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def main(cfg: DictConfig) -> Any:
    return run_job(cfg)
