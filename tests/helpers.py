"""Run the real entry point in-process on a shrunken config (the compose API), outputs under tmp_path."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from reproduce import CONF_DIR, register_resolvers

FIXTURE_CONF = Path(__file__).resolve().parent / "fixtures" / "conf"


def compose_cfg(overrides: list[str], tmp_path: Path | None = None, tracking_uri: str | None = None,
                fixtures: bool = False) -> DictConfig:
    """The config `python -m reproduce <overrides>` would run, with every write redirected to tmp_path."""
    register_resolvers()
    extra = [f"hydra.searchpath=[file://{FIXTURE_CONF}]"] if fixtures else []
    if tmp_path is not None:
        extra += [f"paths.root_dir={tmp_path}", f"paths.data_dir={tmp_path}/data"]
    if tracking_uri is not None:
        extra += [f"tracking.uri='{tracking_uri}'", f"tracking.artifact_location={tmp_path}/artifacts"]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=extra + list(overrides), return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)  # what @hydra.main does, so runtime.choices etc. resolve
    with open_dict(cfg):
        del cfg["hydra"]  # @hydra.main hands the task a config without it
    return cfg


def run_entry(overrides: list[str], tmp_path: Path, tracking_uri: str | None = None, fixtures: bool = False) -> dict:
    """Run one job through reproduce.train.run (the same code path as the CLI) and return its metrics."""
    from reproduce.train import run

    cfg = compose_cfg(overrides, tmp_path, tracking_uri, fixtures)
    try:
        return run(cfg)
    finally:
        GlobalHydra.instance().clear()


def fast_dev_overrides() -> list[str]:
    """Shrink any run to a couple of batches: what every paper's smoke test uses."""
    return ["trainer.fast_dev_run=false", "trainer.max_epochs=1", "trainer.limit_train_batches=2",
            "trainer.limit_val_batches=1", "trainer.limit_test_batches=1"]
